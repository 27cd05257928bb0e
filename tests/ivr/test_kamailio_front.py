"""The shipped Kamailio front (docker/kamailio/kamailio.cfg) in front of two hotline nodes.

Callers dial one address; Kamailio spreads the calls over the nodes (round robin), keeps
in-dialog requests on itself (Record-Route, which the nodes and the callers honour), and
when a node is down fails the call over to the other one. Engineers' phones register at
the same Kamailio, and a node rings its engineer through it.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import RecordingObserver, open_decision
from .kamailio_front import ENGINEER_PASSWORDS, KamailioFront
from .peers import (
    ENGINEER_SCENARIO,
    PROXIED_CALLER_SCENARIO,
    RtpReceiver,
    best_correlation,
    free_udp_port,
    free_udp_ports,
    g711_roundtrip,
    start_sipp,
    stream_media,
)
from .sip_digest import Registration, register, status


@pytest.fixture
def front(tmp_path: Path) -> Iterator[KamailioFront]:
    """Kamailio with the shipped config; the test calls ``start`` with its nodes' ports."""
    front = KamailioFront(tmp_path)
    yield front
    front.stop()


def place_call(tmp_path: Path, name: str, kamailio_port: int, speech: dict) -> tuple[object, RtpReceiver]:
    rx = RtpReceiver()
    xml = PROXIED_CALLER_SCENARIO.format(
        called="hq", caller="13800138000", rx_port=rx.port, pt=0, codec="PCMU",
        middle=stream_media(speech["c01.ulaw"], 0, 2500, 1500))
    caller = start_sipp(xml, tmp_path / name, name, target=f"127.0.0.1:{kamailio_port}",
                        sip_port=free_udp_port(), media_port=free_udp_ports(1)[0])
    return caller, rx


def started_calls(observer: RecordingObserver) -> int:
    return observer.names().count("call_started")


def test_calls_spread_over_nodes_and_fail_over(tmp_path: Path, make_hotline, speech: dict,
                                               front: KamailioFront) -> None:
    engineer_rx = RtpReceiver()
    phone_port, phone_media = free_udp_port(), free_udp_ports(1)[0]
    phone = start_sipp(
        ENGINEER_SCENARIO.format(user="zhangwei", ring_ms=500, rx_port=engineer_rx.port, pt=0, codec="PCMU",
                                 media=stream_media(speech["e01.ulaw"], 0)),
        tmp_path / "phone", "phone", target=None, sip_port=phone_port, media_port=phone_media, calls=3)
    # Both nodes ring the engineer by user name through the front, where the phone registered.
    node_a, node_b = RecordingObserver(), RecordingObserver()
    hotline_a = make_hotline(open_decision(("张伟", f"sip:zhangwei@127.0.0.1:{front.port}")), node_a)
    hotline_b = make_hotline(open_decision(("张伟", f"sip:zhangwei@127.0.0.1:{front.port}")), node_b)
    front.start([hotline_a.agent.port, hotline_b.agent.port])
    # The phone registers with the engineer's credentials (digest, answering the 401).
    phone_binding = Registration(front.port, "zhangwei", f"<sip:zhangwei@127.0.0.1:{phone_port}>")
    registered = register(phone_binding, ENGINEER_PASSWORDS["zhangwei"])
    assert status(registered) == 200, registered
    try:
        first = None
        for i in range(2):
            caller, rx = place_call(tmp_path, f"caller{i}", front.port, speech)
            try:
                assert caller.wait(40) == 0, caller.output() + front.log_text()[-3000:]
            finally:
                caller.kill()
                rx.close()
            if first is None:
                first = (hotline_a, node_a) if started_calls(node_a) else (hotline_b, node_b)
        # Round robin: one call each, both ended by the caller's BYE routed through the front.
        assert (started_calls(node_a), started_calls(node_b)) == (1, 1)
        assert len([e for e in node_a.events + node_b.events if e[0] == "call_ended"]) == 2
        heard, _ = best_correlation(g711_roundtrip(speech["c01"])[:16000], engineer_rx.pcm())
        assert heard > 0.9, "the engineer must hear the caller through front and node"

        # Round robin's next pick goes down: the call must fail over to the other node.
        down, down_observer = first
        up_observer = node_b if down_observer is node_a else node_a
        down.stop()
        caller, rx = place_call(tmp_path, "caller-failover", front.port, speech)
        try:
            assert caller.wait(40) == 0, caller.output() + front.log_text()[-3000:]
        finally:
            caller.kill()
            rx.close()
        assert (started_calls(down_observer), started_calls(up_observer)) == (1, 2)
        assert f"hotline node sip:127.0.0.1:{down.agent.port} failed (408)" in front.log_text()
        assert phone.wait(15) == 0, phone.output()
    finally:
        phone.kill()
        engineer_rx.close()


def test_no_node_up_is_a_clear_503(tmp_path: Path, front: KamailioFront) -> None:
    front.start([free_udp_port()])  # a node address nobody listens on
    invite = (
        f"INVITE sip:hq@127.0.0.1:{front.port} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:LOCALPORT;branch=z9hG4bK" + uuid.uuid4().hex[:10] + ";rport\r\n"
        f"From: <sip:13800138000@127.0.0.1>;tag=abc\r\nTo: <sip:hq@127.0.0.1:{front.port}>\r\n"
        f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 INVITE\r\nContact: <sip:13800138000@127.0.0.1:LOCALPORT>\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(6)
        s.sendto(invite.replace(b"LOCALPORT", str(s.getsockname()[1]).encode()), ("127.0.0.1", front.port))
        final = b""
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            reply = s.recv(4096)
            if not reply.startswith(b"SIP/2.0 1"):
                final = reply
                break
    # The dead node times out (2 s), is marked inactive, and no other node is left.
    status = final.split(b"\r\n")[0]
    assert status in (b"SIP/2.0 408 Request Timeout", b"SIP/2.0 503 No Hotline Node Available"), final


def test_dialog_creating_responses_carry_the_record_route() -> None:
    from ivr.pyvoip_adapter.messages import build_response, parse_sip

    invite = parse_sip(
        b"INVITE sip:hq@127.0.0.1:5070 SIP/2.0\r\n"
        b"Record-Route: <sip:10.0.0.1;lr>, <sip:10.0.0.2;lr>\r\nRecord-Route: <sip:10.0.0.3;lr>\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb\r\n"
        b"From: <sip:13800138000@10.0.0.9>;tag=x\r\nTo: <sip:hq@127.0.0.1>\r\nCall-ID: c1\r\n"
        b"CSeq: 1 INVITE\r\nContact: <sip:13800138000@10.0.0.9>\r\nContent-Length: 0\r\n\r\n")
    routes = ["Record-Route: <sip:10.0.0.1;lr>", "Record-Route: <sip:10.0.0.2;lr>",
              "Record-Route: <sip:10.0.0.3;lr>"]
    for code, reason in ((180, "Ringing"), (200, "OK")):
        lines = build_response(invite, code, reason, to_tag="t").decode().split("\r\n")
        assert [line for line in lines if line.startswith("Record-Route")] == routes
    for code, reason in ((100, "Trying"), (486, "Busy Here")):
        assert b"Record-Route" not in build_response(invite, code, reason, to_tag="t")
