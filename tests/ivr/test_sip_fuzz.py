"""Fuzzing a running hotline (issue 9): 2 400 mutated datagrams, then everything is back to normal.

The datagrams are every hostile case the issue lists plus seeded random mutations of real
messages (byte flips, truncation, dropped/duplicated headers, hostile header values, case
changes, line-ending changes). Afterwards the node's threads, sockets and live calls must
return to their baseline and a normal sipp call must be greeted, rung through and bridged.
"""

from __future__ import annotations

import random
import socket
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from ivr.pyvoip_adapter.media_engine import MediaEngine
from ivr.recorder import DiskQueue

from .conftest import FixedRouter, open_decision
from .peers import LOOPBACK, RtpReceiver, socket_count
from .test_hotline_sipp import caller_phone, engineer_phone

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

RANDOM_MUTATIONS = 2000
SEED = 20261201


def sdp(port: int, address: str = LOOPBACK) -> str:
    return (f"v=0\r\no=f 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")


def message(first: str, headers: dict[str, str], body: str = "") -> bytes:
    lines = [first, *(f"{k}: {v}" for k, v in headers.items())]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def headers_of(method: str, port: int, cseq: int = 1, to_tag: str = "") -> dict[str, str]:
    return {
        "Via": f"SIP/2.0/UDP {LOOPBACK}:{port};branch=z9hG4bK{uuid.uuid4().hex[:10]}",
        "From": f"<sip:13800138000@{LOOPBACK}>;tag={uuid.uuid4().hex[:6]}",
        "To": f"<sip:hq@{LOOPBACK}>" + (f";tag={to_tag}" if to_tag else ""),
        "Call-ID": f"{uuid.uuid4().hex}@fuzz",
        "CSeq": f"{cseq} {method}",
        "Contact": f"<sip:13800138000@{LOOPBACK}:{port}>",
        "Max-Forwards": "70",
    }


INVITE_LINE = "INVITE sip:hq@127.0.0.1 SIP/2.0"


def hostile_cases(node_port: int, port: int) -> list[bytes]:
    """The issue's list, each as one datagram."""
    invite = headers_of("INVITE", port)
    cases = [
        message(INVITE_LINE, {**headers_of("INVITE", port), "Contact": contact}, sdp(4000))
        for contact in ("<tel:+8613800000000>", f"<sip:x@{LOOPBACK}:99999>", "*",
                        "<sip:x@" + "主机" * 60 + ">", "<sip:x@[::1]:5060>")
    ]
    cases += [
        message(INVITE_LINE, {**invite, "Record-Route": "<http://x>"}, sdp(4000)),
        message(INVITE_LINE.lower().replace("sip/2.0", "SIP/2.0"),
                {**headers_of("INVITE", port), "CSeq": "1 invite"}, sdp(4000)),
        message(INVITE_LINE, {**headers_of("INVITE", port), "CSeq": "abc"}, sdp(4000)),
        message(INVITE_LINE, {k: v for k, v in headers_of("INVITE", port).items()
                                                    if k != "To"}, sdp(4000)),
        message(INVITE_LINE, headers_of("INVITE", port), sdp(node_port)),  # media to our SIP port
        message(INVITE_LINE, headers_of("INVITE", port), sdp(0)),
        message(INVITE_LINE, headers_of("INVITE", port), sdp(4000, "224.0.0.1")),
        message(INVITE_LINE, headers_of("INVITE", port), sdp(4000, "0.0.0.0")),
        message(INVITE_LINE,
                {**headers_of("INVITE", port), "Session-Expires": "1", "Supported": "timer"}, sdp(4000)),
        message(INVITE_LINE,
                {**headers_of("INVITE", port), "Session-Expires": "abc"}, sdp(4000)),
        message("SIP/2.0 200 OK", headers_of("REGISTER", port, to_tag="x")),
        message("BYE sip:hq@127.0.0.1 SIP/2.0", headers_of("BYE", port, 2, to_tag="nobody")),
        message(INVITE_LINE, {**headers_of("INVITE", port, to_tag="x"),
                                                    "Route": "<sip:gateway.example;lr>"}, sdp(4000)),
    ]
    for length in ("-5", "99999", "1e9", ""):
        raw = message(INVITE_LINE, headers_of("INVITE", port), sdp(4000))
        declared = f"Content-Length: {len(sdp(4000))}".encode()
        cases.append(raw.replace(declared, f"Content-Length: {length}".encode()))
    cases += [b"", b"\r\n\r\n", b"\x00" * 100, b"\xff" * 3000, b"SIP/2.0\r\n\r\n", b"A" * 70000]
    return cases


HOSTILE_VALUES = ["", "*", "<tel:+861>", "<http://x>", "abc", "-1", "99999999999999", "\x00", "%00",
                  "主机" * 20, "<sip:a@1.2.3.4:0>", "<sip:a@127.0.0.1:65536>", "0.0.0.0", ";;;;",
                  "SIP/2.0/UDP", "<sip:@>", "1 INVITE", "4294967296 INVITE"]


def mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(8)
        lines = bytes(data).split(b"\r\n")
        if kind == 0 and data:  # flip bytes
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 1 and data:  # truncate
            data = data[: rng.randrange(len(data))]
        elif kind == 2 and len(lines) > 2:  # drop a header line
            del lines[rng.randrange(1, len(lines) - 1)]
            data = bytearray(b"\r\n".join(lines))
        elif kind == 3 and len(lines) > 2:  # duplicate a header line
            i = rng.randrange(1, len(lines) - 1)
            lines.insert(i, lines[i])
            data = bytearray(b"\r\n".join(lines))
        elif kind == 4 and len(lines) > 2:  # a hostile value for a header
            i = rng.randrange(1, len(lines) - 1)
            name = lines[i].split(b":", 1)[0]
            lines[i] = name + b": " + rng.choice(HOSTILE_VALUES).encode()
            data = bytearray(b"\r\n".join(lines))
        elif kind == 5:  # case changes
            data = bytearray(bytes(data).lower() if rng.random() < 0.5 else bytes(data).swapcase())
        elif kind == 6:  # bare LF line ends
            data = bytearray(bytes(data).replace(b"\r\n", b"\n"))
        else:  # insert random bytes
            at = rng.randrange(len(data) + 1)
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
    return bytes(data)


def seeds(port: int) -> list[bytes]:
    return [
        message(INVITE_LINE, headers_of("INVITE", port), sdp(4000)),
        message("ACK sip:hq@127.0.0.1 SIP/2.0", headers_of("ACK", port, to_tag="t")),
        message("BYE sip:hq@127.0.0.1 SIP/2.0", headers_of("BYE", port, 2, to_tag="t")),
        message("CANCEL sip:hq@127.0.0.1 SIP/2.0", headers_of("CANCEL", port)),
        message("OPTIONS sip:hq@127.0.0.1 SIP/2.0", headers_of("OPTIONS", port)),
        message("UPDATE sip:hq@127.0.0.1 SIP/2.0", headers_of("UPDATE", port, 2, to_tag="t")),
        message("SIP/2.0 200 OK", headers_of("INVITE", port, to_tag="t"), sdp(4000)),
        message("SIP/2.0 180 Ringing", headers_of("INVITE", port, to_tag="t")),
    ]




def test_fuzzed_datagrams_leave_the_node_as_it_was(tmp_path: Path, make_hotline, observer, speech) -> None:
    closed = replace(open_decision(), is_open=False)  # fuzzed calls that parse get the after-hours path
    hotline = make_hotline(closed, observer)
    router: FixedRouter = hotline.router  # type: ignore[assignment]
    # The node-lifetime threads (media engine, recording writer) start with the first call:
    # start them now, so the baseline is the node's, not a node that never had a call.
    MediaEngine.shared()
    DiskQueue.shared()
    threading.Event().wait(0.2)
    threads, sockets = threading.active_count(), socket_count()

    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
    rng = random.Random(SEED)
    sent = 0
    try:
        for s in senders:
            s.bind((LOOPBACK, 0))
        port = senders[0].getsockname()[1]
        datagrams = hostile_cases(hotline.agent.port, port)
        datagrams += [mutate(rng, rng.choice(seeds(port))) for _ in range(RANDOM_MUTATIONS)]
        datagrams += hostile_cases(hotline.agent.port, port) * 10
        assert len(datagrams) >= 2000
        for i, datagram in enumerate(datagrams):
            try:
                senders[i % len(senders)].sendto(datagram, (LOOPBACK, hotline.agent.port))
                sent += 1
            except OSError:  # e.g. the 70 000-byte datagram: too long for UDP, never sent
                continue
            if i % 200 == 0:
                threading.Event().wait(0.05)  # 2 400 datagrams in a few seconds, not one burst
    finally:
        for s in senders:
            s.close()
    assert sent >= 2000
    stats = hotline.agent.stats
    assert stats["malformed"] > 500 and stats["bad_request_sent"] > 50, stats
    assert stats["calls_in"] > 0 and stats["refused_address"] > 0, stats  # calls were set up, too
    assert all(t.is_alive() for t in hotline.agent.sip._threads)

    def back_to_baseline() -> bool:
        return (hotline.active_calls == 0 and hotline.agent.live_inbound() == 0
                and threading.active_count() <= threads and socket_count() <= sockets)

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not back_to_baseline():
        threading.Event().wait(0.5)
    assert back_to_baseline(), (hotline.active_calls, hotline.agent.live_inbound(),
                                threading.active_count(), threads, socket_count(), sockets)
    assert stats["loop_restarts"] == 0, stats

    # And a real call still goes through, greeted, rung and bridged.
    observer.events.clear()
    observer.ended_calls.clear()
    observer.ended.clear()
    caller_rx, engineer_rx = RtpReceiver(), RtpReceiver()
    engineer, uri = engineer_phone(tmp_path, "zhangwei", speech["e01.ulaw"], engineer_rx, 500)
    router.decision = open_decision(("张伟", uri))
    caller = caller_phone(tmp_path, hotline.agent.port, speech["c01.ulaw"], caller_rx, 2500, 3000)
    try:
        assert caller.wait(40) == 0, caller.output()
        assert engineer.wait(10) == 0, engineer.output()
        assert observer.ended.wait(10)
    finally:
        caller.kill()
        engineer.kill()
        caller_rx.close()
        engineer_rx.close()
    assert "engineer_answered" in observer.names()
