"""sipp peers for callbacks (issue 14): the customer reached through the outbound trunk.

The trunk is one sipp UAS on loopback standing for the gateway and the customer's phone:
it answers (and later hangs up itself, as a customer does), rings until cancelled, or is
busy. The engineer's phone is ``ENGINEER_SCENARIO`` (it waits for the node's BYE).
"""

from __future__ import annotations

from pathlib import Path

from .peers import (
    ENGINEER_NO_ANSWER_SCENARIO,
    ENGINEER_SCENARIO,
    RtpReceiver,
    SippRun,
    free_udp_port,
    free_udp_ports,
    start_sipp,
    stream_media,
)

# Answers after {ring_ms}, streams {media}, then hangs up: the BYE goes to the node's Contact
# with the node's From (kept from the INVITE) as To.
CUSTOMER_ANSWERS_AND_HANGS_UP = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="customer on the trunk who answers and hangs up">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="node_from"/>
      <ereg regexp="sip:[^>]*" search_in="hdr" header="Contact:" assign_to="node_contact"/>
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:{user}@[local_ip]:[local_port]>
Content-Length: 0
]]></send>
  <pause milliseconds="{ring_ms}"/>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:{user}@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=customer 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio {rx_port} RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
]]></send>
  <recv request="ACK" crlf="true"/>
{media}
  <send retrans="500"><![CDATA[
BYE [$node_contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
To:[$node_from]
Call-ID: [call_id]
CSeq: 1 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>
</scenario>
"""

CUSTOMER_BUSY = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="customer on the trunk who is busy">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <recv request="ACK"/>
</scenario>
"""


def engineer_phone(work: Path, speech_file: Path, rx: RtpReceiver, ring_ms: int = 300,
                   user: str = "zhangwei") -> tuple[SippRun, str]:
    """The engineer's phone: answers after ``ring_ms``, speaks ``speech_file``, waits for BYE."""
    port, media = free_udp_port(), free_udp_ports(1)[0]
    xml = ENGINEER_SCENARIO.format(user=user, ring_ms=ring_ms, rx_port=rx.port, pt=0, codec="PCMU",
                                   media=stream_media(speech_file, 0))
    return start_sipp(xml, work / user, user, target=None, sip_port=port, media_port=media), \
        f"sip:{user}@127.0.0.1:{port}"


def engineer_not_answering(work: Path, user: str = "zhangwei") -> tuple[SippRun, str]:
    port, media = free_udp_port(), free_udp_ports(1)[0]
    xml = ENGINEER_NO_ANSWER_SCENARIO.format(user=user)
    return start_sipp(xml, work / user, user, target=None, sip_port=port, media_port=media), \
        f"sip:{user}@127.0.0.1:{port}"


def trunk(work: Path, behaviour: str, *, speech_file: Path | None = None, rx: RtpReceiver | None = None,
          ring_ms: int = 500, talk_ms: int = 6000) -> tuple[SippRun, str]:
    """The trunk as a sipp UAS: ``behaviour`` is "answers", "no_answer" or "busy";
    returns the run and the ``[outbound] trunk`` value (host:port)."""
    port, media = free_udp_port(), free_udp_ports(1)[0]
    if behaviour == "answers":
        assert speech_file is not None and rx is not None
        xml = CUSTOMER_ANSWERS_AND_HANGS_UP.format(
            user="customer", ring_ms=ring_ms, rx_port=rx.port,
            media=stream_media(speech_file, 0, pause_after_ms=talk_ms))
    elif behaviour == "no_answer":
        xml = ENGINEER_NO_ANSWER_SCENARIO.format(user="customer")
    else:
        xml = CUSTOMER_BUSY
    run = start_sipp(xml, work / "trunk", "trunk", target=None, sip_port=port, media_port=media)
    return run, f"127.0.0.1:{port}"
