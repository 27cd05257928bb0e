"""End to end with sipp on loopback: a caller phones the hotline and is bridged to an engineer's phone.

sipp plays both humans, streaming real Mandarin speech (c01 caller, e01 engineer); each
sipp's SDP points at an RtpReceiver so the test hears exactly what that person heard.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ivr.tone_prompts import TonePrompts

from .conftest import open_decision
from .peers import (
    CALLER_SCENARIO,
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
RING_S = 1.0


def engineer_phone(
    tmp_path: Path, name: str, speech_file: Path, rx: RtpReceiver, ring_ms: int, codec: str = "PCMU"
):
    pt = 0 if codec == "PCMU" else 8
    port, media = free_udp_port(), free_udp_ports(1)[0]
    xml = ENGINEER_SCENARIO.format(
        user=name, ring_ms=ring_ms, rx_port=rx.port, pt=pt, codec=codec, media=stream_media(speech_file, pt)
    )
    run = start_sipp(xml, tmp_path / name, name, target=None, sip_port=port, media_port=media)
    return run, f"sip:{name}@127.0.0.1:{port}"


def caller_phone(
    tmp_path: Path,
    hotline_port: int,
    speech_file: Path,
    rx: RtpReceiver,
    speak_after_ms: int,
    stay_ms: int,
    codec: str = "PCMU",
    name: str = "caller",
):
    pt = 0 if codec == "PCMU" else 8
    port, media = free_udp_port(), free_udp_ports(1)[0]
    xml = CALLER_SCENARIO.format(
        called="hq",
        caller="13800138000",
        rx_port=rx.port,
        pt=pt,
        codec=codec,
        middle=stream_media(speech_file, pt, speak_after_ms, stay_ms),
    )
    return start_sipp(
        xml, tmp_path / name, name, target=f"127.0.0.1:{hotline_port}", sip_port=port, media_port=media
    )


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_caller_is_greeted_rung_through_and_bridged(tmp_path, make_hotline, observer, speech, codec):
    ext = "ulaw" if codec == "PCMU" else "alaw"
    caller_rx, engineer_rx = RtpReceiver(), RtpReceiver()
    engineer, uri = engineer_phone(
        tmp_path, "zhangwei", speech[f"e01.{ext}"], engineer_rx, int(RING_S * 1000), codec
    )
    hotline = make_hotline(open_decision(("张伟", uri)), observer)
    greeting = TonePrompts().greeting("hq")
    speak_after_ms = int((len(greeting) / 8000 + RING_S + 0.8) * 1000)
    caller = caller_phone(
        tmp_path, hotline.agent.port, speech[f"c01.{ext}"], caller_rx, speak_after_ms, 4800, codec
    )
    try:
        assert caller.wait(30) == 0, caller.output()
        assert engineer.wait(10) == 0, engineer.output()
        assert observer.ended.wait(10)
    finally:
        caller.kill()
        engineer.kill()
        caller_rx.close()
        engineer_rx.close()

    assert observer.names()[:3] == ["call_started", "engineer_ringing", "engineer_answered"]
    call_id, recording, timings, reason = observer.ended_calls[0]
    assert reason == "caller hung up"
    # Ring time: INVITE sent -> 200 OK, against the engineer phone's 1 s pause before 200.
    ring_time = observer.events[2][3]
    assert abs(ring_time - RING_S) < 0.1, ring_time
    assert timings["ring_time_s"] == pytest.approx(ring_time, abs=0.001)
    assert timings["caller"]["codec"] == codec and timings["engineers"][0]["codec"] == codec

    heard_by_caller = caller_rx.pcm()
    greeting_score, _ = best_correlation(g711_roundtrip(greeting, codec), heard_by_caller)
    assert greeting_score > 0.9, greeting_score
    engineer_score, _ = best_correlation(g711_roundtrip(speech["e01"], codec)[:16000], heard_by_caller)
    assert engineer_score > 0.9, engineer_score
    caller_score, _ = best_correlation(g711_roundtrip(speech["c01"], codec)[:16000], engineer_rx.pcm())
    assert caller_score > 0.9, caller_score
    assert len(caller_rx.sources()) == 1 and len(engineer_rx.sources()) == 1  # one sender per leg

    # The stereo recording: caller left, engineer right, on the call clock.
    audio, rate = sf.read(str(recording), dtype="int16")
    assert rate == 8000 and audio.shape[1] == 2
    left_score, left_lag = best_correlation(g711_roundtrip(speech["c01"], codec)[:16000], audio[:, 0])
    right_score, right_lag = best_correlation(g711_roundtrip(speech["e01"], codec)[:16000], audio[:, 1])
    assert left_score > 0.9 and right_score > 0.9, (left_score, right_score)
    assert abs(left_lag / 8000 - speak_after_ms / 1000) < 0.3, left_lag / 8000
    answered_t = dict((p, t) for t, p in timings["phases"])["bridged"]
    assert abs(right_lag / 8000 - answered_t) < 0.3, (right_lag / 8000, answered_t)
    # Crosstalk check: the engineer's speech is not on the caller's channel.
    wrong_score, _ = best_correlation(g711_roundtrip(speech["e01"], codec)[:16000], audio[:, 0])
    assert wrong_score < 0.3

    # The observer's audio is the same as the recording, frame for frame, stamped on the call clock.
    caller_frames = observer.audio_frames["caller"]
    assert [round(t, 2) for t, _ in caller_frames[:3]] == [0.0, 0.02, 0.04]
    assert np.array_equal(observer.leg_audio("caller"), audio[: len(observer.leg_audio("caller")), 0])
