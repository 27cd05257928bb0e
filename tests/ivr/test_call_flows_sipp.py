"""The hotline's call flows against sipp callers and engineer phones on loopback."""

from __future__ import annotations

import socket
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import soundfile as sf

from ivr.call_session import CallPhase
from ivr.contracts import RouteDecision
from ivr.tone_prompts import TonePrompts

from .conftest import FixedRouter, open_decision
from .peers import (
    CALLER_CANCEL_SCENARIO,
    CALLER_SCENARIO,
    ENGINEER_NO_ANSWER_SCENARIO,
    ENGINEER_SCENARIO,
    RtpReceiver,
    best_correlation,
    free_udp_port,
    free_udp_ports,
    g711_roundtrip,
    start_sipp,
    stream_media,
)

pytestmark = pytest.mark.slow
PROMPTS = TonePrompts()
GREETING_S = len(PROMPTS.greeting("hq")) / 8000


def engineer(tmp_path: Path, name: str, speech_file: Path | None, ring_ms: int | None, calls: int = 1):
    rx = RtpReceiver()
    port, media = free_udp_port(), free_udp_ports(1)[0]
    if ring_ms is None:
        xml = ENGINEER_NO_ANSWER_SCENARIO.format(user=name)
    else:
        xml = ENGINEER_SCENARIO.format(
            user=name,
            ring_ms=ring_ms,
            rx_port=rx.port,
            pt=0,
            codec="PCMU",
            media=stream_media(speech_file, 0) if speech_file else "",
        )
    run = start_sipp(xml, tmp_path / name, name, target=None, sip_port=port, media_port=media, calls=calls)
    return run, rx, f"sip:{name}@127.0.0.1:{port}"


def caller(tmp_path: Path, port: int, middle: str, calls: int = 1, name: str = "caller"):
    rx = RtpReceiver()
    sip_port, media = free_udp_port(), free_udp_ports(1)[0]
    xml = CALLER_SCENARIO.format(
        called="hq", caller="13800138000", rx_port=rx.port, pt=0, codec="PCMU", middle=middle
    )
    run = start_sipp(
        xml,
        tmp_path / name,
        name,
        target=f"127.0.0.1:{port}",
        sip_port=sip_port,
        media_port=media,
        calls=calls,
    )
    return run, rx


def finish(*runs, timeout: float = 30) -> None:
    try:
        for run in runs:
            assert run.wait(timeout) == 0, run.output()
    finally:
        for run in runs:
            run.kill()


def test_no_answer_rings_the_next_engineer(tmp_path, make_hotline, observer, speech):
    first, first_rx, first_uri = engineer(tmp_path, "zhangwei", None, None)
    second, second_rx, second_uri = engineer(tmp_path, "lina", speech["e02.ulaw"], 500)
    hotline = make_hotline(
        open_decision(("张伟", first_uri), ("李娜", second_uri), ring_limit_s=1.5), observer
    )
    run, rx = caller(tmp_path, hotline.agent.port, '  <pause milliseconds="7000"/>')
    finish(run, first, second)
    assert observer.ended.wait(10)
    for r in (rx, first_rx, second_rx):
        r.close()
    names = observer.names()
    assert names[:5] == [
        "call_started",
        "engineer_ringing",
        "engineer_no_answer",
        "engineer_ringing",
        "engineer_answered",
    ]
    assert observer.events[2][2] == "张伟" and observer.events[2][3] == pytest.approx(1.5, abs=0.1)
    assert observer.events[4][2] == "李娜" and observer.events[4][3] == pytest.approx(0.5, abs=0.1)
    _, _, timings, reason = observer.ended_calls[0]
    assert [e["result"] for e in timings["engineers"]] == ["no answer", "answered"]
    assert timings["engineers"][0]["ended"] > timings["engineers"][0]["invite_sent"]
    score, _ = best_correlation(g711_roundtrip(PROMPTS.next_engineer()), rx.pcm())
    assert score > 0.9, score
    score, _ = best_correlation(g711_roundtrip(speech["e02"])[:16000], rx.pcm())
    assert score > 0.9, score


def test_caller_hangs_up_while_the_engineer_rings(tmp_path, make_hotline, observer):
    ringing, ringing_rx, uri = engineer(tmp_path, "zhangwei", None, None)
    hotline = make_hotline(open_decision(("张伟", uri), ring_limit_s=10), observer)
    run, rx = caller(
        tmp_path, hotline.agent.port, f'  <pause milliseconds="{int((GREETING_S + 1.0) * 1000)}"/>'
    )
    finish(run, ringing)  # the engineer's phone saw CANCEL, answered 487, got its ACK
    assert observer.ended.wait(10)
    rx.close()
    ringing_rx.close()
    assert observer.ended_calls[0][3] == "caller hung up while the engineer rang"
    assert "engineer_answered" not in observer.names()
    assert observer.ended_calls[0][2]["engineers"][0]["result"] == "caller hung up"


def test_caller_hangs_up_mid_greeting(tmp_path, make_hotline, observer):
    unused, unused_rx, uri = engineer(tmp_path, "zhangwei", None, None)
    hotline = make_hotline(open_decision(("张伟", uri)), observer)
    run, rx = caller(tmp_path, hotline.agent.port, '  <pause milliseconds="500"/>')
    try:
        finish(run)
        assert observer.ended.wait(10)
        assert observer.ended_calls[0][3] == "caller hung up during the greeting"
        assert "engineer_ringing" not in observer.names()
        _, recording, _, _ = observer.ended_calls[0]
        assert sf.info(str(recording)).duration < GREETING_S
    finally:
        unused.kill()
        rx.close()
        unused_rx.close()


def test_cancel_before_answer_gets_487_and_no_late_200(tmp_path, make_hotline, observer):
    class SlowRouter(FixedRouter):
        def route(self, line_number, caller, now):  # noqa: ANN001, ANN201
            time.sleep(1.5)  # routing outlasts the caller's patience
            return super().route(line_number, caller, now)

    hotline = make_hotline(open_decision(), observer)
    hotline.router = SlowRouter(open_decision())
    rx = RtpReceiver()
    sip_port, media = free_udp_port(), free_udp_ports(1)[0]
    xml = CALLER_CANCEL_SCENARIO.format(
        called="hq", caller="13800138000", rx_port=rx.port, cancel_after_ms=300, linger_ms=2500
    )
    run = start_sipp(
        xml,
        tmp_path / "c",
        "cancel",
        target=f"127.0.0.1:{hotline.agent.port}",
        sip_port=sip_port,
        media_port=media,
    )
    finish(run)  # sipp fails the call on a late 200 (unexpected message) or a missing 487
    rx.close()
    assert observer.ended.wait(5)
    assert observer.ended_calls[0][3] == "caller hung up before answer"
    assert not rx.packets


def test_three_simultaneous_calls(tmp_path, make_hotline, observer, speech):
    observer.expected_calls = 3
    phones, phones_rx, uri = engineer(tmp_path, "zhangwei", speech["e01.ulaw"], 300, calls=3)
    # Three engineers (one sipp answers for all three phones): an engineer takes one call at a time.
    hotline = make_hotline(open_decision(("张伟", uri), ("李娜", uri), ("王芳", uri)), observer)
    speak_ms = int((GREETING_S + 1.0) * 1000)
    run, rx = caller(
        tmp_path, hotline.agent.port, stream_media(speech["c01.ulaw"], 0, speak_ms, 4000), calls=3
    )
    finish(run, phones, timeout=40)
    assert observer.ended.wait(10)
    rx.close()
    phones_rx.close()
    assert len(observer.ended_calls) == 3 and len({c[0] for c in observer.ended_calls}) == 3
    for _, recording, timings, reason in observer.ended_calls:
        assert reason == "caller hung up"
        audio, _ = sf.read(str(recording), dtype="int16")
        left, _ = best_correlation(g711_roundtrip(speech["c01"])[:16000], audio[:, 0])
        right, _ = best_correlation(g711_roundtrip(speech["e01"])[:16000], audio[:, 1])
        assert left > 0.9 and right > 0.9, (recording, left, right)
        assert timings["ring_time_s"] == pytest.approx(0.3, abs=0.1)
    assert len(rx.sources()) == 3  # each caller got exactly one stream


def test_malformed_sip_during_a_call_leaves_it_undisturbed(tmp_path, make_hotline, observer, speech):
    phone, phone_rx, uri = engineer(tmp_path, "zhangwei", speech["e01.ulaw"], 300)
    hotline = make_hotline(open_decision(("张伟", uri)), observer)
    speak_ms = int((GREETING_S + 0.8) * 1000)
    run, rx = caller(tmp_path, hotline.agent.port, stream_media(speech["c01.ulaw"], 0, speak_ms, 4000))
    junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    junk.bind(("127.0.0.1", 0))
    junk.settimeout(2)
    time.sleep(GREETING_S + 1.5)  # bridged and talking
    target = ("127.0.0.1", hotline.agent.port)
    no_contact = (
        f"INVITE sip:hq@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{junk.getsockname()[1]};"
        "branch=z9hG4bKjunk1\r\nFrom: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:hq@127.0.0.1>\r\n"
        "Call-ID: junk-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    junk.sendto(no_contact.encode(), target)
    reply = junk.recv(4096)
    junk.sendto(b"\x00\xffgarbage\r\n\r\n\x13\x37" * 10, target)
    junk.sendto(
        b"INVITE sip:hq@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n\r\n", target
    )
    junk.sendto(b"INVITE sip:hq@127.0.0.1 SIP/2.0\r\n" + b"X-Padding: " + b"a" * 60000 + b"\r\n\r\n", target)
    junk.close()
    finish(run, phone)
    assert observer.ended.wait(10)
    rx.close()
    phone_rx.close()
    assert reply.startswith(b"SIP/2.0 400 ") and b"Contact" in reply
    assert hotline.agent.stats["malformed"] == 4 and hotline.agent.stats["bad_request_sent"] == 1
    assert observer.ended_calls[0][3] == "caller hung up"
    score, _ = best_correlation(g711_roundtrip(speech["c01"])[:16000], phone_rx.pcm())
    assert score > 0.9
    # Media kept its pace right through the junk.
    packets = [p.arrival for p in rx.audio_packets()]
    assert max(np.diff(packets)) < 0.1


def test_after_hours_prompt_then_voicemail(tmp_path, make_hotline, observer, speech):
    opening = datetime(2026, 1, 5, 8, 30)
    closed = RouteDecision("hq", False, opening, "https://desk.example.com", [], 15)
    hotline = make_hotline(closed, observer)
    after_hours = PROMPTS.after_hours("hq", opening, "")
    speak_ms = int((len(after_hours) + len(PROMPTS.beep())) / 8000 * 1000) + 300
    run, rx = caller(tmp_path, hotline.agent.port, stream_media(speech["c02.ulaw"], 0, speak_ms, 3000))
    finish(run)
    assert observer.ended.wait(10)
    rx.close()
    assert observer.names() == ["call_started", "voicemail", "call_ended"]
    _, _, line_id, caller_id, wav = observer.events[1]
    assert (line_id, caller_id) == ("hq", "13800138000")
    voicemail, rate = sf.read(str(wav), dtype="int16")
    assert rate == 8000 and voicemail.ndim == 1
    score, _ = best_correlation(g711_roundtrip(speech["c02"])[:12000], voicemail)
    assert score > 0.9
    heard, _ = best_correlation(g711_roundtrip(after_hours), rx.pcm())
    assert heard > 0.9
    assert hotline.router.calls[0][:2] == ("hq", "13800138000")


def test_slow_observer_drops_frames_but_not_the_call(tmp_path, make_hotline, observer, speech):
    observer.audio_delay_s = 0.05  # 2.5x slower than real time
    phone, phone_rx, uri = engineer(tmp_path, "zhangwei", speech["e01.ulaw"], 200)
    hotline = make_hotline(open_decision(("张伟", uri)), observer)
    hotline.settings.observer_queue_frames = 20
    run, rx = caller(tmp_path, hotline.agent.port, '  <pause milliseconds="4000"/>')
    finish(run, phone)
    assert observer.ended.wait(15)
    rx.close()
    phone_rx.close()
    timings = observer.ended_calls[0][2]
    assert timings["audio_frames_dropped"] > 0
    packets = [p.arrival for p in rx.audio_packets()]
    assert 40 < len(packets) / (packets[-1] - packets[0]) < 60


def test_dtmf_is_passed_through(tmp_path, make_hotline, observer, speech):
    """Digits the caller sends (RFC 4733 events on the caller leg) reach the engineer's phone."""
    phone, phone_rx, uri = engineer(tmp_path, "zhangwei", None, 200)
    hotline = make_hotline(open_decision(("张伟", uri)), observer)
    run, rx = caller(
        tmp_path, hotline.agent.port, f'  <pause milliseconds="{int((GREETING_S + 2.5) * 1000)}"/>'
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
        s.phase == CallPhase.BRIDGED for s in list(hotline.sessions.values())
    ):
        time.sleep(0.05)
    session = next(iter(hotline.sessions.values()))
    assert session.phase == CallPhase.BRIDGED
    caller_leg_rtp = ("127.0.0.1", session.caller.rtp.inPort)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as keypad:
        for seq, event in enumerate((5, 11)):  # "5" then "#"
            for i in range(4):
                marker = 0x80 if i == 0 else 0
                header = bytes([0x80, marker | 101]) + (100 + seq * 4 + i).to_bytes(2, "big")
                payload = bytes([event, 0x80 if i == 3 else 10]) + (160 * (i + 1)).to_bytes(2, "big")
                keypad.sendto(
                    header + (8000 * (seq + 1)).to_bytes(4, "big") + b"\0\0\0\x07" + payload, caller_leg_rtp
                )
                time.sleep(0.02)
    finish(run, phone)
    rx.close()
    phone_rx.close()
    events = [p for p in phone_rx.packets if p.payload_type == 101]
    digits = [p.payload[0] for p in events if p.marker]
    assert digits == [5, 11]


def test_closed_line_tells_the_caller_when_it_opens(tmp_path, make_hotline, observer, speech):
    """The recorded after-hours prompt, as the caller's phone received it, says when the line
    opens and points to the web service (3.1): checked by the real recogniser."""
    from ivr.recorded_prompts import RecordedPrompts
    from speech.transcribe import transcribe_leg

    zone = ZoneInfo("Asia/Shanghai")
    now = datetime(2026, 11, 25, 19, 5, tzinfo=zone)  # a Wednesday evening
    opening = datetime(2026, 11, 26, 9, 0, tzinfo=zone)
    prompts = RecordedPrompts()
    closed = RouteDecision("regional", False, opening, "https://desk.example.com", [], 15)
    hotline = make_hotline(closed, observer, prompts=prompts, now=lambda: now)
    after_hours = prompts.after_hours("regional", opening, "", now)
    speak_ms = int((len(after_hours) + len(prompts.beep())) / 8000 * 1000) + 300
    run, rx = caller(tmp_path, hotline.agent.port, stream_media(speech["c02.ulaw"], 0, speak_ms, 3000))
    finish(run, timeout=60)
    assert observer.ended.wait(10)
    rx.close()
    assert observer.names() == ["call_started", "voicemail", "call_ended"]
    heard_pcm = rx.pcm()
    heard, _ = best_correlation(g711_roundtrip(after_hours), heard_pcm)
    assert heard > 0.9
    heard_prompt = heard_pcm[: len(after_hours) + 8000]
    text = "".join(u.text for u in transcribe_leg(heard_prompt, 8000, "caller", "whisper"))
    compact = text.replace(",", "").replace("、", "").replace(" ", "")
    assert "非工作时间" in compact
    assert "明天上午9点" in compact, text
    assert "服务网站" in compact and "留言" in compact, text
