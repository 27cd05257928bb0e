"""Calls that would hold an engineer or a line forever are ended by the hotline (issue 9, item 4):
a caller who ACKs and sends no RTP, a call past the maximum length, and concurrent calls that
all want the one engineer (only one of them rings the phone). Real sipp peers on loopback.
"""

from __future__ import annotations

import time

import pytest

from ivr.call_session import CallPhase
from ivr.tone_prompts import TonePrompts

from .conftest import open_decision
from .peers import (
    CALLER_AWAITING_BYE,
    ENGINEER_SCENARIO,
    RtpReceiver,
    free_udp_port,
    free_udp_ports,
    start_sipp,
    stream_media,
)
from .raw_sip import RawSipPeer

pytestmark = pytest.mark.slow
GREETING_S = len(TonePrompts().greeting("hq")) / 8000

def caller_awaiting_bye(tmp_path, hotline_port: int, middle: str, calls: int = 1):  # noqa: ANN001, ANN201
    rx = RtpReceiver()
    xml = CALLER_AWAITING_BYE.format(called="hq", caller="13800138000", rx_port=rx.port, pt=0, codec="PCMU",
                                     middle=middle)
    run = start_sipp(xml, tmp_path / "caller", "caller", target=f"127.0.0.1:{hotline_port}",
                     sip_port=free_udp_port(), media_port=free_udp_ports(1)[0], calls=calls)
    return run, rx


def engineer_phone(tmp_path, speech_file, ring_ms: int = 300):  # noqa: ANN001, ANN201
    rx = RtpReceiver()
    port = free_udp_port()
    xml = ENGINEER_SCENARIO.format(user="zhangwei", ring_ms=ring_ms, rx_port=rx.port, pt=0, codec="PCMU",
                                   media=stream_media(speech_file, 0))
    run = start_sipp(xml, tmp_path / "engineer", "engineer", target=None, sip_port=port,
                     media_port=free_udp_ports(1)[0])
    return run, rx, f"sip:zhangwei@127.0.0.1:{port}"


def wait_until(condition, timeout: float = 15.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def phase_times(timings: dict) -> dict[str, float]:
    return {phase: t for t, phase in timings["phases"]}


def test_silent_caller_is_hung_up_and_frees_the_engineer(tmp_path, make_hotline, observer, speech):
    timeout_s = 5.0
    engineer, engineer_rx, uri = engineer_phone(tmp_path, speech["e01.ulaw"])
    hotline = make_hotline(open_decision(("张伟", uri)), observer, settings={"rtp_timeout_s": timeout_s})
    held_at_hang_up: list[set[str]] = []
    report_end = observer.call_ended

    def call_ended(*args):  # noqa: ANN002, ANN202 - the analysis would start here
        held_at_hang_up.append(set(hotline.reservations.held))
        report_end(*args)

    observer.call_ended = call_ended
    caller, caller_rx = caller_awaiting_bye(tmp_path, hotline.agent.port, middle="")  # ACKs, sends nothing
    try:
        assert caller.wait(40) == 0, caller.output()  # it got the hotline's BYE and answered it
        assert engineer.wait(20) == 0, engineer.output()  # so did the engineer's phone
        assert observer.ended.wait(10)
    finally:
        caller.kill()
        engineer.kill()
        caller_rx.close()
        engineer_rx.close()
    _, _, timings, reason = observer.ended_calls[0]
    assert reason == "no audio from the caller for 5 s"
    assert "engineer_answered" in observer.names()  # it was bridged, and still ended
    phases = phase_times(timings)
    assert phases[CallPhase.ENDED.value] == pytest.approx(timeout_s, abs=0.2)  # on the call clock
    assert caller_rx.packets, "the caller heard the greeting before the hang-up"
    assert held_at_hang_up == [set()]  # released before the analysis of the call even starts
    assert wait_until(lambda: hotline.active_calls == 0)
    assert hotline.reservations.held == set()  # the engineer can be rung again


def test_call_is_ended_at_the_maximum_length(tmp_path, make_hotline, observer, speech):
    max_s = 4.0
    engineer, engineer_rx, uri = engineer_phone(tmp_path, speech["e01.ulaw"])
    hotline = make_hotline(open_decision(("张伟", uri)), observer,
                           settings={"rtp_timeout_s": None, "max_call_s": max_s})
    caller, caller_rx = caller_awaiting_bye(tmp_path, hotline.agent.port,
                                            middle=stream_media(speech["c01.ulaw"], 0))
    try:
        assert caller.wait(40) == 0, caller.output()
        assert engineer.wait(20) == 0, engineer.output()
        assert observer.ended.wait(10)
    finally:
        caller.kill()
        engineer.kill()
        caller_rx.close()
        engineer_rx.close()
    _, _, timings, reason = observer.ended_calls[0]
    assert reason == "maximum call length (4 s)"
    assert phase_times(timings)[CallPhase.ENDED.value] == pytest.approx(max_s, abs=0.1)
    assert timings["talk_s"] > 0
    assert wait_until(lambda: hotline.active_calls == 0) and hotline.reservations.held == set()


def test_concurrent_calls_ring_one_engineer_only_once(tmp_path, make_hotline, observer):
    """Three callers at once, one engineer on the roster: exactly one call rings the phone;
    the others are told nobody is free (and leave a voicemail) instead of ringing it too."""
    observer.expected_calls = 3
    phone = RawSipPeer()  # the engineer's phone: rings (never answers) and counts the INVITEs
    uri = f"sip:zhangwei@127.0.0.1:{phone.port}"
    hotline = make_hotline(open_decision(("张伟", uri), ring_limit_s=3.0), observer,
                           settings={"voicemail_max_s": 2.0})
    caller, caller_rx = caller_awaiting_bye(tmp_path, hotline.agent.port, middle="", calls=3)
    try:
        assert caller.wait(60) == 0, caller.output()
        assert observer.ended.wait(15)
    finally:
        caller.kill()
        caller_rx.close()
        phone.close()
    invites = {m.header("Call-ID") for m in phone.messages if m.first_line.startswith("INVITE")}
    assert len(invites) == 1, invites
    assert observer.names().count("engineer_ringing") == 1
    assert [reason for *_, reason in observer.ended_calls] == ["no engineer answered"] * 3
    started = [t for t in observer.ended_calls if t[2]["rings"] == 1]
    assert len(started) == 1
    assert wait_until(lambda: hotline.active_calls == 0) and hotline.reservations.held == set()


def test_silent_engineer_phone_ends_the_call_too(tmp_path, make_hotline, observer):
    """An engineer leg that sends no RTP (a dead phone, a hostile answer) does not keep the
    caller on a silent line: its own timer starts when it is bridged."""
    from ivr.tone_prompts import tone

    from .peers import write_g711

    rx = RtpReceiver()
    port = free_udp_port()
    engineer = start_sipp(
        ENGINEER_SCENARIO.format(user="zhangwei", ring_ms=300, rx_port=rx.port, pt=0, codec="PCMU", media=""),
        tmp_path / "engineer", "engineer", target=None, sip_port=port, media_port=free_udp_ports(1)[0])
    hotline = make_hotline(open_decision(("张伟", f"sip:zhangwei@127.0.0.1:{port}")), observer,
                           settings={"rtp_timeout_s": 4.0})
    speech = write_g711(tone(440, 20.0), tmp_path / "caller.ulaw")  # talks all the time
    caller, caller_rx = caller_awaiting_bye(tmp_path, hotline.agent.port, middle=stream_media(speech, 0))
    try:
        assert caller.wait(40) == 0, caller.output()
        assert engineer.wait(20) == 0, engineer.output()
        assert observer.ended.wait(10)
    finally:
        caller.kill()
        engineer.kill()
        caller_rx.close()
        rx.close()
    _, _, timings, reason = observer.ended_calls[0]
    assert reason == "no audio from the engineer for 4 s"
    phases = phase_times(timings)
    ended_after_bridge = phases[CallPhase.ENDED.value] - phases[CallPhase.BRIDGED.value]
    assert ended_after_bridge == pytest.approx(4.0, abs=0.2)
    assert wait_until(lambda: hotline.active_calls == 0) and hotline.reservations.held == set()
