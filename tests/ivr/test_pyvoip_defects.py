"""One regression test per pyVoIP 1.6.8 defect (notes/pyvoip.md), each run both ways.

``*_unpatched`` tests drive plain pyVoIP and assert the defect is really there: if a
pyVoIP upgrade fixes one, its test fails and tells us the workaround can go. The paired
test runs the same scenario against our adapter and asserts the defect is gone.
"""

from __future__ import annotations

import audioop
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from ivr.pyvoip_adapter import InboundLeg, LegStateError, SipUserAgent
from ivr.pyvoip_adapter._pyvoip import RTP, SIP, VoIP
from ivr.pyvoip_adapter.media import PacedRTPClient, StreamBuffer
from ivr.pyvoip_adapter.messages import parse_sip

from .peers import LOOPBACK, RtpReceiver
from .raw_sip import RawSipPeer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def peer() -> Iterator[RawSipPeer]:
    p = RawSipPeer()
    yield p
    p.close()


def start_unpatched(
    server_port: int, callback: Callable | None, register: bool = False, register_timeout: float = 0.3
) -> tuple[VoIP.VoIPPhone, int]:
    phone = VoIP.VoIPPhone(
        LOOPBACK, server_port, "hotline", "", myIP=LOOPBACK, callCallback=callback, sipPort=0
    )
    phone.sip.register_timeout = register_timeout
    if not register:
        phone.sip.register = lambda: True  # isolate the defect under test from defect 1
    phone.start()
    return phone, phone.sip.s.getsockname()[1]


@pytest.fixture
def agent() -> Iterator[SipUserAgent]:
    ua = SipUserAgent(LOOPBACK, 0)
    ua.start()
    yield ua
    ua.stop()


def answer_and_hold(
    legs: list[InboundLeg], hold: threading.Event | None = None
) -> Callable[[InboundLeg], None]:
    def handler(leg: InboundLeg) -> None:
        legs.append(leg)
        leg.answer()
        leg.ended.wait(10)

    return handler


def establish(peer: RawSipPeer, port: int) -> str:
    """INVITE, wait for 200, ACK; returns the callee's To tag."""
    peer.invite(port)
    ok = peer.wait_for("200", "INVITE")
    assert ok is not None, [m.first_line for m in peer.messages]
    tag = peer.to_tag_of(ok)
    peer.send(peer.request("ACK", port, 1, to_tag=tag), port)
    return tag


# -- 1: start() without a registrar ---------------------------------------------------------
def test_defect1_unpatched_start_registers_and_gives_up(peer: RawSipPeer) -> None:
    phone, port = start_unpatched(peer.port, callback=lambda call: None, register=True)
    try:
        assert peer.wait_for("REGISTER") is not None  # it insists on a registrar
        deadline = time.monotonic() + 5
        while phone.get_status() != VoIP.PhoneStatus.FAILED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert phone.get_status() == VoIP.PhoneStatus.FAILED  # ...and stops itself without one
        peer.invite(port)
        assert peer.wait_for("180", timeout=1.5) is None  # an INVITE now goes unanswered
    finally:
        phone.stop()


def test_defect1_agent_without_registrar_answers_at_once(peer: RawSipPeer, agent: SipUserAgent) -> None:
    agent.on_incoming_call(lambda leg: leg.ended.wait(5))
    peer.invite(agent.port)
    assert peer.wait_for("180") is not None
    assert peer.count("REGISTER") == 0


# -- 2: replies go to the request's source ------------------------------------------------
def test_defect2_unpatched_replies_to_the_configured_server(peer: RawSipPeer) -> None:
    server = RawSipPeer()  # the "server" pyVoIP was configured with; the caller is someone else
    phone, port = start_unpatched(server.port, callback=lambda call: None)
    try:
        peer.invite(port)
        assert server.wait_for("180") is not None
        assert peer.wait_for("180", timeout=1.0) is None
    finally:
        phone.stop()
        server.close()


def test_defect2_agent_replies_to_each_caller(agent: SipUserAgent) -> None:
    agent.on_incoming_call(lambda leg: (leg.answer(), leg.ended.wait(5)))
    callers = [RawSipPeer() for _ in range(3)]
    try:
        for caller in callers:
            caller.invite(agent.port)
        for caller in callers:
            assert caller.wait_for("200", "INVITE") is not None
    finally:
        for caller in callers:
            caller.close()


# -- 3: header parsing -----------------------------------------------------------------------
ODD_INVITES = {
    "empty header": ("Max-Forwards: 70", "Supported:"),
    "no space after colon": ("Max-Forwards: 70", "Max-Forwards:70"),
    "compact headers": ("Call-ID: ", "i: "),
}


@pytest.mark.parametrize("case", sorted(ODD_INVITES))
def test_defect3_unpatched_parser_loses_the_invite(peer: RawSipPeer, case: str) -> None:
    old, new = ODD_INVITES[case]
    raw = peer.request("INVITE", 5060, 1, body=peer.sdp()).replace(old, new, 1).encode()
    try:
        message = SIP.SIPMessage(raw)
    except Exception:
        return  # dropped whole, as measured
    assert "Call-ID" not in message.headers  # or parsed without the headers a call needs


@pytest.mark.parametrize("case", sorted(ODD_INVITES))
def test_defect3_tolerant_parser_reads_the_invite(peer: RawSipPeer, case: str, agent: SipUserAgent) -> None:
    old, new = ODD_INVITES[case]
    raw = peer.request("INVITE", agent.port, 1, body=peer.sdp()).replace(old, new, 1)
    message = parse_sip(raw.encode())
    assert message.method == "INVITE" and message.headers["Call-ID"] == peer.call_id
    assert message.body["m"][0]["port"] == peer.media.port
    agent.on_incoming_call(lambda leg: leg.ended.wait(5))
    peer.send(raw, agent.port)
    assert peer.wait_for("180") is not None


def test_defect3_compact_and_folded_headers_everywhere() -> None:
    raw = (
        b"INVITE sip:hq@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa,"
        b" SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKb\r\nf: <sip:a@127.0.0.1>;tag=1\r\n"
        b"t: <sip:hq@127.0.0.1>\r\n"
        b"CALL-ID: x@y\r\ncseq: 7\r\n INVITE\r\nm: <sip:a@127.0.0.1:5070>\r\nl: 0\r\n\r\n"
    )
    message = parse_sip(raw)
    assert [v["address"] for v in message.headers["Via"]] == [("127.0.0.1", "5070"), ("127.0.0.1", "5071")]
    assert (
        message.headers["Call-ID"] == "x@y" and message.cseq_number == 7 and message.cseq_method == "INVITE"
    )


# -- 4: CANCEL ---------------------------------------------------------------------------------
def test_defect4_unpatched_cancel_gets_no_487_and_a_late_200(peer: RawSipPeer) -> None:
    cancelled = threading.Event()
    answered: list[bool] = []

    def late_answer(call: VoIP.VoIPCall) -> None:
        cancelled.wait(5)
        call.answer()  # pyVoIP lets this through after the caller gave up
        answered.append(True)

    phone, port = start_unpatched(peer.port, late_answer)
    try:
        peer.invite(port)
        assert peer.wait_for("180") is not None
        peer.send(peer.request("CANCEL", port, 1), port)
        assert peer.wait_for("200", "CANCEL") is not None
        cancelled.set()
        assert peer.wait_for("200", "INVITE", timeout=3) is not None  # the late 200
        assert peer.count("487") == 0
    finally:
        phone.stop()


def test_defect4_agent_cancel_ends_with_487_and_never_answers(peer: RawSipPeer, agent: SipUserAgent) -> None:
    cancelled = threading.Event()
    outcome: list[str] = []

    def late_answer(leg: InboundLeg) -> None:
        cancelled.wait(5)
        try:
            leg.answer()
            outcome.append("answered")
        except LegStateError:
            outcome.append("refused")

    agent.on_incoming_call(late_answer)
    peer.invite(agent.port)
    assert peer.wait_for("180") is not None
    peer.send(peer.request("CANCEL", agent.port, 1), agent.port)
    assert peer.wait_for("200", "CANCEL") is not None
    assert peer.wait_for("487", "INVITE") is not None
    cancelled.set()
    time.sleep(1.0)
    assert outcome == ["refused"]
    assert peer.count("200", "INVITE") == 0


# -- 5: PCMA -----------------------------------------------------------------------------------
def test_defect5_unpatched_pcma_is_encoded_as_ulaw() -> None:
    client = RTP.RTPClient({8: RTP.PayloadType.PCMA}, LOOPBACK, 0, LOOPBACK, 9, RTP.TransmitType.SENDRECV)
    audio_u8 = audioop.bias(audioop.lin2lin(_tone().tobytes(), 2, 1), 1, 128)
    encoded = client.encode_packet(audio_u8)
    assert encoded == audioop.lin2ulaw(audioop.bias(audio_u8, 1, -128), 1)
    assert encoded != audioop.lin2alaw(audioop.bias(audio_u8, 1, -128), 1)


def test_defect5_pcma_is_alaw() -> None:
    client = PacedRTPClient({8: RTP.PayloadType.PCMA}, LOOPBACK, LOOPBACK, 9)
    try:
        assert client.encode_packet(_tone().tobytes()) == audioop.lin2alaw(_tone().tobytes(), 2)
    finally:
        client.stop()


# -- 6: re-INVITE / retransmitted INVITE on an answered call -------------------------------------
def _reinvite_rates(peer: RawSipPeer, port: int, tag: str) -> tuple[float, float]:
    time.sleep(0.6)
    t0 = time.monotonic()
    time.sleep(1.0)
    before = peer.media.packets_per_second(t0, time.monotonic())
    peer.send(peer.request("INVITE", port, 2, body=peer.sdp(), to_tag=tag), port)  # re-INVITE
    peer.invite(port)  # and a retransmission of the first INVITE
    time.sleep(0.5)
    t0 = time.monotonic()
    time.sleep(1.0)
    return before, peer.media.packets_per_second(t0, time.monotonic())


def test_defect6_unpatched_reinvite_doubles_the_packet_rate(peer: RawSipPeer) -> None:
    def answer(call: VoIP.VoIPCall) -> None:
        call.answer()
        while call.state == VoIP.CallState.ANSWERED:
            time.sleep(0.1)

    phone, port = start_unpatched(peer.port, answer)
    try:
        before, after = _reinvite_rates(peer, port, establish(peer, port))
        assert 40 < before < 60
        assert after > 80
    finally:
        phone.stop()


def test_defect6_agent_reinvite_keeps_one_sender(peer: RawSipPeer, agent: SipUserAgent) -> None:
    legs: list[InboundLeg] = []
    agent.on_incoming_call(answer_and_hold(legs))
    before, after = _reinvite_rates(peer, agent.port, establish(peer, agent.port))
    assert 40 < before < 60 and 40 < after < 60, (before, after)
    assert len(peer.media.sources()) == 1
    assert peer.count("200", "INVITE") >= 2  # the re-INVITE was answered


# -- 7: gaps ------------------------------------------------------------------------------------
def _rtp(seq: int, ts: int, payload: bytes, pt: int = 0) -> bytes:
    return (
        bytes([0x80, pt])
        + seq.to_bytes(2, "big")
        + ts.to_bytes(4, "big")
        + (1234).to_bytes(4, "big")
        + payload
    )


def test_defect7_unpatched_gap_is_full_scale_negative() -> None:
    client = RTP.RTPClient({0: RTP.PayloadType.PCMU}, LOOPBACK, 0, LOOPBACK, 9, RTP.TransmitType.SENDRECV)
    silence_ulaw = b"\xff" * 160
    client.parse_packet(_rtp(1, 1000, silence_ulaw))
    client.parse_packet(_rtp(3, 1320, silence_ulaw))  # packet 2 lost
    audio = client.read(480, blocking=False)
    assert audio[160:320] == b"\x00" * 160  # 0x00 is -128 in pyVoIP's unsigned 8-bit: a click


def test_defect7_gap_is_silence() -> None:
    client = PacedRTPClient({0: RTP.PayloadType.PCMU}, LOOPBACK, LOOPBACK, 9)
    try:
        client.parse_packet(_rtp(1, 1000, b"\xff" * 160))
        client.parse_packet(_rtp(3, 1320, b"\xff" * 160))
        audio = np.frombuffer(client.read(960), dtype=np.int16)
        assert np.all(audio == 0)
    finally:
        client.stop()
    buffer = StreamBuffer(silence=b"\x80")  # the same fix in pyVoIP's own 8-bit terms
    buffer.write(0, b"\x90" * 160)
    buffer.write(320, b"\x90" * 160)
    assert buffer.read(480)[160:320] == b"\x80" * 160


# -- 8: receive buffer growth --------------------------------------------------------------------
def test_defect8_unpatched_buffer_keeps_everything() -> None:
    manager = RTP.RTPPacketManager()
    for i in range(3000):  # one minute of audio, all of it read
        manager.write(i * 160, b"\x80" * 160)
        manager.read(160)
    assert manager.buffer.getbuffer().nbytes == 3000 * 160 and len(manager.log) == 3000


def test_defect8_buffer_forgets_what_was_read() -> None:
    buffer = StreamBuffer()
    for i in range(3000):
        buffer.write(i * 320, b"\x01\x00" * 160)
        assert buffer.read(320) == b"\x01\x00" * 160
    assert buffer.retained_bytes() <= 17 * 320 and len(buffer.log) == 0


# -- 9: flushing queued output (barge-in) ----------------------------------------------------------
def test_defect9_unpatched_has_no_way_to_drop_queued_audio() -> None:
    names = ("flush", "flush_output", "discard_pending", "clear", "stop_audio")
    assert not any(
        hasattr(cls, n) for cls in (RTP.RTPClient, RTP.RTPPacketManager, VoIP.VoIPCall) for n in names
    )


def test_defect9_flush_output_stops_a_prompt(peer: RawSipPeer, agent: SipUserAgent) -> None:
    legs: list[InboundLeg] = []
    flushed: list[float] = []

    def play_then_barge_in(leg: InboundLeg) -> None:
        legs.append(leg)
        leg.answer()
        leg.write(_tone(seconds=5.0))
        time.sleep(1.0)
        flushed.append(leg.flush_output())
        leg.ended.wait(10)

    agent.on_incoming_call(play_then_barge_in)
    establish(peer, agent.port)
    time.sleep(2.5)
    assert flushed and 3.0 < flushed[0] < 4.5
    pcm = peer.media.pcm()
    loud = np.abs(pcm.reshape(-1, 160).astype(np.int32)).max(axis=1) > 1000
    assert 0.8 < loud.sum() * 0.02 < 1.4  # about one second of tone, then silence
    assert not loud[-30:].any()


# -- 10: 200 OK retransmission, our own Via on BYE ---------------------------------------------------
def test_defect10_unpatched_200_sent_once_and_bye_borrows_the_callers_via(peer: RawSipPeer) -> None:
    calls: list[VoIP.VoIPCall] = []

    def answer(call: VoIP.VoIPCall) -> None:
        calls.append(call)
        call.answer()

    phone, port = start_unpatched(peer.port, answer)
    try:
        peer.invite(port)
        assert peer.wait_for("200", "INVITE") is not None
        time.sleep(2.0)  # no ACK sent
        assert peer.count("200", "INVITE") == 1
        calls[0].hangup()
        bye = peer.wait_for("BYE")
        assert bye is not None and f"{LOOPBACK}:{peer.port}" in bye.header("Via")
    finally:
        phone.stop()


def test_defect10_agent_retransmits_200_until_ack_and_byes_with_its_own_via(
    peer: RawSipPeer, agent: SipUserAgent
) -> None:
    legs: list[InboundLeg] = []
    agent.on_incoming_call(answer_and_hold(legs))
    peer.invite(agent.port)
    first = peer.wait_for("200", "INVITE")
    assert first is not None
    time.sleep(2.0)  # Timer G: 0.5 s, 1 s, ...
    assert peer.count("200", "INVITE") >= 3
    peer.send(peer.request("ACK", agent.port, 1, to_tag=peer.to_tag_of(first)), agent.port)
    time.sleep(0.2)
    after_ack = peer.count("200", "INVITE")
    time.sleep(2.5)
    assert peer.count("200", "INVITE") == after_ack
    legs[0].hangup()
    bye = peer.wait_for("BYE")
    assert bye is not None
    assert f"{LOOPBACK}:{agent.port}" in bye.header("Via") and f":{peer.port}" not in bye.header("Via")


def _tone(seconds: float = 0.02, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * 8000)) / 8000
    return (np.sin(2 * np.pi * freq * t) * 12000).astype(np.int16)


def test_rtp_receiver_helper_sees_one_stream() -> None:
    """The helper the rate tests rely on counts packets per source correctly."""
    rx = RtpReceiver()
    try:
        sender = PacedRTPClient({0: RTP.PayloadType.PCMU}, LOOPBACK, LOOPBACK, rx.port)
        sender.start()
        time.sleep(1.2)
        sender.stop()
        assert 40 < rx.packets_per_second(rx.packets[0].arrival, rx.packets[0].arrival + 1.0) < 60
        assert len(rx.sources()) == 1
    finally:
        rx.close()
