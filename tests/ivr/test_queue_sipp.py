"""The line queue with real SIP peers on loopback: sipp callers, one sipp engineer phone."""

from __future__ import annotations

import dataclasses
import socket
import time

import pytest

from ivr.call_session import CallPhase
from ivr.contracts import QueuePolicy
from ivr.tone_prompts import TonePrompts

from .conftest import open_decision
from .peers import best_correlation, g711_roundtrip
from .test_call_flows_sipp import GREETING_S, caller, engineer, finish

pytestmark = pytest.mark.slow
PROMPTS = TonePrompts()


def wait_for(condition, timeout: float = 20.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def phases(hotline) -> list[CallPhase]:  # noqa: ANN001
    return [s.phase for s in list(hotline.sessions.values())]


def pause(seconds: float) -> str:
    return f'  <pause milliseconds="{int(seconds * 1000)}"/>'


def by_queue_outcome(observer) -> dict[str, tuple]:  # noqa: ANN001
    return {c[2].get("queue", {}).get("outcome", "none"): c for c in observer.ended_calls}


def test_second_caller_waits_and_is_bridged_third_hangs_up_in_the_queue(tmp_path, make_hotline, observer):
    phone, phone_rx, uri = engineer(tmp_path, "zhangwei", None, 200, calls=2)
    decision = dataclasses.replace(open_decision(("张伟", uri)), queue=QueuePolicy(announce_every_s=3.0))
    hotline = make_hotline(decision, observer)
    observer.expected_calls = 3
    first, first_rx = caller(tmp_path, hotline.agent.port, pause(GREETING_S + 9), name="first")
    wait_for(lambda: CallPhase.BRIDGED in phases(hotline))
    second, second_rx = caller(tmp_path, hotline.agent.port, pause(GREETING_S + 20), name="second")
    wait_for(lambda: CallPhase.QUEUED in phases(hotline))
    third, third_rx = caller(tmp_path, hotline.agent.port, pause(GREETING_S + 2.5), name="third")
    finish(first, second, third, phone, timeout=60)
    assert observer.ended.wait(15)
    for rx in (first_rx, second_rx, third_rx, phone_rx):
        rx.close()
    calls = by_queue_outcome(observer)
    assert set(calls) == {"none", "answered", "abandoned"}, [c[3] for c in observer.ended_calls]
    answered, abandoned = calls["answered"][2], calls["abandoned"][2]
    # The second caller waited until the first hung up (about 9 s after they were bridged).
    assert answered["queue"]["wait_s"] > 4, [(c[3], c[2]["phases"]) for c in observer.ended_calls]
    assert answered["queue_wait_s"] == answered["queue"]["wait_s"]
    assert [e["result"] for e in answered["engineers"]] == ["answered"]
    assert [p for _, p in answered["phases"]][-4:] == ["queued", "ringing_engineer", "bridged", "ended"]
    # The third gave up in the queue: abandoned, with how long they waited, nobody rung.
    assert calls["abandoned"][3] == "caller hung up in the queue"
    assert 0.5 < abandoned["queue_wait_s"] < 5
    assert abandoned["engineers"] == []
    assert abandoned["queue"]["position"] == 2
    # What the waiting caller heard: the position announcement ("you are next") and hold music.
    heard, _ = best_correlation(g711_roundtrip(PROMPTS.queue_position(0, 120, True)), second_rx.pcm())
    assert heard > 0.9, heard
    assert answered["queue"]["announcements"] >= 2
    heard, _ = best_correlation(g711_roundtrip(PROMPTS.hold_music(2.0)), second_rx.pcm())
    assert heard > 0.8, heard
    assert hotline.queues.line("hq").stats().waiting == 0


def send_digit(port: int, event: int) -> None:
    """One RFC 4733 telephone-event to the hotline's RTP port for a caller leg."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as keypad:
        for i in range(4):
            marker = 0x80 if i == 0 else 0
            header = bytes([0x80, marker | 101]) + (200 + i).to_bytes(2, "big")
            payload = bytes([event, 0x80 if i == 3 else 10]) + (160 * (i + 1)).to_bytes(2, "big")
            keypad.sendto(header + (16000).to_bytes(4, "big") + b"\0\0\0\x09" + payload, ("127.0.0.1", port))
            time.sleep(0.02)


def test_after_the_longest_wait_the_caller_chooses_a_callback(tmp_path, make_hotline, observer):
    """Nobody comes free within max_wait_s: the menu, DTMF 2, a callback promised (no voicemail)."""
    requested: list[tuple] = []
    observer.callback_requested = lambda *args: requested.append(args)
    decision = dataclasses.replace(open_decision(("张伟", "sip:zhangwei@127.0.0.1:9")),
                                   queue=QueuePolicy(max_wait_s=2.0, announce_every_s=30.0, staffed=1),
                                   owner="张伟")
    hotline = make_hotline(decision, observer)
    hotline.reservations.reserve("张伟")  # on another call all along
    run, rx = caller(tmp_path, hotline.agent.port, pause(GREETING_S + 10))
    wait_for(lambda: CallPhase.QUEUED in phases(hotline))
    session = next(iter(hotline.sessions.values()))
    wait_for(lambda: session.queue_record.get("wait_s") is not None)  # the menu is playing
    send_digit(session.caller.rtp.inPort, 2)
    assert observer.ended.wait(20)  # the hotline says goodbye and hangs up (the sipp caller
    run.kill()                      # expected to send the BYE itself: not checked)
    rx.close()
    _, _, timings, reason = observer.ended_calls[0]
    assert reason == "callback promised from the queue"
    assert timings["queue"]["outcome"] == "callback" and timings["queue"]["choice"] == "2"
    assert timings["queue_wait_s"] == pytest.approx(2.0, abs=0.3)
    assert requested == [(session.call_id, "hq", "13800138000", "张伟")]
    assert "voicemail" not in observer.names()
