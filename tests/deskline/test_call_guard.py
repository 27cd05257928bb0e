"""Whatever raises in a call's thread, the call is ended properly (issue 9, item 2): both phones
get a BYE, ``call_ended`` runs, the stored call is closed (not left "live") and the engineer is
free for the next call. Real sipp caller and engineer, the node's observer and store; the
recogniser is a stand-in (the real one is exercised in tests/e2e).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from deskline import hotline_service
from deskline.config import DEFAULT_CONFIG, load_config
from deskline.hotline_service import AnalysingObserver
from ivr import bridge
from ivr.call_session import SessionSettings
from ivr.contracts import EngineerTarget, RouteDecision
from ivr.hotline import Hotline
from ivr.pyvoip_adapter import SipUserAgent
from ivr.tone_prompts import TonePrompts, tone
from models.store import Store
from routing.dispatch import DispatchState
from speech.qa.rulefile import load_rules
from tests.ivr.peers import (
    CALLER_AWAITING_BYE,
    ENGINEER_SCENARIO,
    RtpReceiver,
    free_udp_port,
    free_udp_ports,
    start_sipp,
    stream_media,
    write_g711,
)

pytestmark = pytest.mark.slow


class QuietAnalyzer:
    """Hears the call and finds nothing; enough to store a finished call."""

    def __init__(self, call_id: str, engineer_joined_at: float = 0.0, **_: Any) -> None:
        self.utterances: list = []
        self.engineer_joined_at = engineer_joined_at
        self.audio_end_s = engineer_joined_at

    def feed(self, leg: str, t: float, pcm: np.ndarray) -> None:
        self.audio_end_s = t + len(pcm) / 8000

    def finish(self, duration_s: float, ring_time_s: float | None = None) -> Any:
        return SimpleNamespace(findings=[], promises=[], scorecard=None, feedback="")


class OneEngineer:
    def __init__(self, uri: str) -> None:
        self.uri = uri

    def route(self, line_number: str, caller: str, now: datetime) -> RouteDecision:
        return RouteDecision("hq", True, None, "", [EngineerTarget("张伟", self.uri)], 10.0)


def fail_when_bridged(monkeypatch: pytest.MonkeyPatch) -> None:
    """The media loop raises one second into the conversation."""
    tick = bridge.MediaPump.tick

    def failing_tick(self: bridge.MediaPump) -> None:
        if self.bridged:
            self.bridged_frames = getattr(self, "bridged_frames", 0) + 1
            if self.bridged_frames > 50:
                raise RuntimeError("injected failure")
        tick(self)

    monkeypatch.setattr(bridge.MediaPump, "tick", failing_tick)


def fail_storing(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    """The media loop raises, and storing the finished call fails too."""
    fail_when_bridged(monkeypatch)

    def broken(call: Any) -> None:
        raise OSError("disk I/O error")

    monkeypatch.setattr(store, "finish_call", broken)


@pytest.mark.parametrize("injected", ["media loop", "media loop and store"])
def test_a_failing_call_thread_still_ends_the_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   injected: str) -> None:
    monkeypatch.setattr(hotline_service, "LiveCallAnalyzer", QuietAnalyzer)
    store = Store(tmp_path / "calls.db")
    if injected == "media loop":
        fail_when_bridged(monkeypatch)
    else:
        fail_storing(monkeypatch, store)
    dispatch = DispatchState()
    done: list[str] = []
    observer = AnalysingObserver(load_config(DEFAULT_CONFIG), store, load_rules(), "whisper", dispatch,
                                 on_call_done=done.append)
    speech = write_g711(tone(440, 4.0), tmp_path / "engineer.ulaw")
    engineer_rx, caller_rx = RtpReceiver(), RtpReceiver()
    engineer_port = free_udp_port()
    engineer = start_sipp(
        ENGINEER_SCENARIO.format(user="zhangwei", ring_ms=300, rx_port=engineer_rx.port, pt=0, codec="PCMU",
                                 media=stream_media(speech, 0)),
        tmp_path / "engineer", "engineer", target=None, sip_port=engineer_port,
        media_port=free_udp_ports(1)[0])
    agent = SipUserAgent("127.0.0.1", 0, max_latency_s=1.0)
    hotline = Hotline(agent, OneEngineer(f"sip:zhangwei@127.0.0.1:{engineer_port}"), observer, TonePrompts(),
                      SessionSettings(tmp_path / "recordings"), reservations=dispatch)
    hotline.start()
    caller = start_sipp(
        CALLER_AWAITING_BYE.format(called="hq", caller="13800138000", rx_port=caller_rx.port, pt=0,
                                   codec="PCMU", middle=stream_media(speech, 0)),
        tmp_path / "caller", "caller", target=f"127.0.0.1:{agent.port}", sip_port=free_udp_port(),
        media_port=free_udp_ports(1)[0])
    try:
        assert caller.wait(40) == 0, caller.output()  # the caller got a BYE
        assert engineer.wait(20) == 0, engineer.output()  # and so did the engineer
        deadline = time.monotonic() + 20
        while not done and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        caller.kill()
        engineer.kill()
        hotline.stop()
        caller_rx.close()
        engineer_rx.close()
    assert len(done) == 1, "call_ended ran and the call was handed on"
    assert store.count_calls(status="live") == 0
    call = store.get_call(done[0])
    assert call is not None and call.engineer == "张伟"
    assert call.sip_timings["end_reason"] == "internal error in bridged: RuntimeError: injected failure"
    assert call.status == ("done" if injected == "media loop" else "failed")
    assert dispatch.snapshot()[0] == set()  # free for the next call
    assert hotline.active_calls == 0
