"""Strict, total SIP parsing (issue 9, item 10): every malformed message is refused whole.

Each case is a hostile or broken variant of a valid INVITE. ``status`` is the error the
agent answers with (None: the datagram cannot be answered and is dropped). None of them may
raise anything but ``MalformedSipError``, and none may half-parse.
"""

from __future__ import annotations

import pytest

from ivr.pyvoip_adapter.addresses import AddressPolicy, AddressRefused, parse_networks, valid_host
from ivr.pyvoip_adapter.messages import MalformedSipError, parse_sip

SDP = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
HEADERS = {
    "Via": "SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKx1",
    "From": "<sip:caller@127.0.0.1>;tag=1",
    "To": "<sip:hq@127.0.0.1>",
    "Call-ID": "abc@127.0.0.1",
    "CSeq": "1 INVITE",
    "Contact": "<sip:caller@127.0.0.1:5999>",
    "Max-Forwards": "70",
    "Content-Type": "application/sdp",
}


def invite(request_line: str = "INVITE sip:hq@127.0.0.1:5060 SIP/2.0", body: str = SDP,
           content_length: str | None = None, extra: str = "", **changes: str | None) -> bytes:
    headers = {**HEADERS, **{name.replace("_", "-"): value for name, value in changes.items()}}
    lines = [request_line] + [f"{k}: {v}" for k, v in headers.items() if v is not None]
    if extra:
        lines.append(extra)
    lines.append(f"Content-Length: {len(body) if content_length is None else content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


REFUSED = {
    "lowercase method": (invite("invite sip:hq@127.0.0.1 SIP/2.0", CSeq="1 invite"), 400),
    "CSeq not a number": (invite(CSeq="abc INVITE"), None),
    "CSeq without method": (invite(CSeq="abc"), 400),
    "CSeq out of range": (invite(CSeq="99999999999 INVITE"), None),
    "CSeq method differs": (invite(CSeq="1 BYE"), 400),
    "negative Content-Length": (invite(content_length="-5"), 400),
    "oversized Content-Length": (invite(content_length="99999"), 400),
    "Content-Length not a number": (invite(content_length="12abc"), 400),
    "missing To": (invite(To=None), None),
    "missing Call-ID": (invite(Call_ID=None), None),
    "tel: Contact": (invite(Contact="<tel:+8613800000000>"), 416),
    "Contact port 99999": (invite(Contact="<sip:caller@127.0.0.1:99999>"), 400),
    "Contact port 0": (invite(Contact="<sip:caller@127.0.0.1:0>"), 400),
    "Contact star": (invite(Contact="*"), 400),
    "non-ASCII Contact host": (invite(Contact="<sip:caller@" + "主机" * 40 + ">"), 400),
    "two Contacts": (invite(Contact="<sip:a@127.0.0.1>, <sip:b@127.0.0.2>"), 400),
    "http Record-Route": (invite(extra="Record-Route: <http://x>"), 416),
    "Record-Route port overflow": (invite(extra="Record-Route: <sip:127.0.0.1:70000;lr>"), 400),
    "tel Request-URI": (invite("INVITE tel:+861 SIP/2.0"), 416),
    "From without tag": (invite(From="<sip:caller@127.0.0.1>"), 400),
    "Max-Forwards 0": (invite(Max_Forwards="0"), 483),
    "Max-Forwards not a number": (invite(Max_Forwards="lots"), 400),
    "NUL in a header": (invite(Subject="a\x00b"), None),
    "not SIP at all": (b"\x00\xffgarbage\r\n\r\n", None),
    "HTTP request": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", None),
    "status code out of range": (b"SIP/2.0 999 Odd\r\n" + invite().split(b"\r\n", 1)[1], None),
    "huge datagram": (invite(extra="X-Pad: " + "a" * 20000), None),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_malformed_message_is_refused_whole(case: str) -> None:
    data, status = REFUSED[case]
    with pytest.raises(MalformedSipError) as refused:
        parse_sip(data)
    answerable = refused.value.message is not None
    assert answerable == (status is not None), refused.value.reason
    if status is not None:
        assert refused.value.status == status, refused.value.reason


def test_a_well_formed_invite_still_parses() -> None:
    message = parse_sip(invite())
    assert message.method == "INVITE" and message.has_sdp and message.cseq_number == 1


def test_record_route_with_sip_uris_is_kept() -> None:
    message = parse_sip(invite(extra="Record-Route: <sip:127.0.0.1:5062;lr>, <sip:10.0.0.5;lr>"))
    assert message.record_routes == ["<sip:127.0.0.1:5062;lr>", "<sip:10.0.0.5;lr>"]


@pytest.mark.parametrize(("host", "ok"), [
    ("127.0.0.1", True), ("pbx.example.com", True), ("[::1]", True), ("300.1.1.1", False),
    ("主机", False), ("a..b", False), ("-x.com", False), ("a" * 300, False), ("1.2.3", False),
])
def test_valid_host(host: str, ok: bool) -> None:
    assert valid_host(host) is ok


@pytest.mark.parametrize(("ip", "port", "why"), [
    ("127.0.0.1", 5060, "own ports"),
    ("127.0.0.1", 0, "out of range"),
    ("127.0.0.1", 70000, "out of range"),
    ("0.0.0.0", 4000, "not a unicast"),
    ("224.0.0.1", 4000, "not a unicast"),
    ("255.255.255.255", 4000, "not a unicast"),
    ("example.com", 4000, "not an IPv4"),
    ("10.9.9.9", 4000, "outside the allowed networks"),
])
def test_address_policy_refuses(ip: str, port: int, why: str) -> None:
    policy = AddressPolicy("127.0.0.1", lambda: {5060, 30000}, parse_networks(["127.0.0.0/8"]))
    with pytest.raises(AddressRefused, match=why):
        policy.check(ip, port)


def test_address_policy_allows_peers() -> None:
    policy = AddressPolicy("127.0.0.1", lambda: {5060})
    assert policy.check("127.0.0.1", 5070) == ("127.0.0.1", 5070)
    assert policy.check("192.0.2.7", 4000) == ("192.0.2.7", 4000)
