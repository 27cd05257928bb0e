"""The hotline's observer when analysis breaks at hang-up: the call is kept as failed with its
recording and everything analysed live. (The engineer is reserved and released by the call
itself, before this analysis finishes: tests/deskline/test_call_guard.py.)

The recogniser is replaced by a stand-in that reports one utterance and one finding live and
then fails at hang-up; the real pipeline is exercised in tests/e2e and tests/web.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from deskline import hotline_service
from deskline.config import DEFAULT_CONFIG, load_config
from deskline.hotline_service import AnalysingObserver
from ivr.contracts import EngineerTarget
from models.records import Finding, Utterance
from models.store import Store
from routing.dispatch import DispatchState
from speech.events import FindingDecided, UtteranceHeard
from speech.qa.rulefile import load_rules


class BrokenAtHangUp:
    """Reports what a live analysis would (on the recording's clock), then fails in finish()."""

    def __init__(self, call_id: str, *, on_event: Any, **_: Any) -> None:
        self.call_id, self.on_event, self.fed = call_id, on_event, 0
        self.utterances: list[Utterance] = []

    def feed(self, leg: str, t: float, pcm: np.ndarray) -> None:
        self.fed += 1
        if self.fed == 1:
            utt = Utterance("engineer", 7.5, 9.1, "这个问题我们不管", confidence=0.9)
            self.on_event(UtteranceHeard(self.call_id, utt))
            finding = Finding("3.5(1)", "forbidden.not_our_job", "must_not_say", "fail", 7.5, 9.1,
                              heard="我们不管")
            self.on_event(FindingDecided(self.call_id, finding))

    def finish(self, duration_s: float, ring_time_s: float | None = None) -> Any:
        raise RuntimeError("recogniser crashed")


def test_failed_analysis_keeps_live_findings_and_recording(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hotline_service, "LiveCallAnalyzer", BrokenAtHangUp)
    store = Store(tmp_path / "calls.db")
    dispatch = DispatchState()
    events: list[dict] = []
    done: list[str] = []
    observer = AnalysingObserver(load_config(DEFAULT_CONFIG), store, load_rules(), "whisper", dispatch,
                                 events.append, on_call_done=done.append)
    started = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    observer.call_started("c1", "hq", "13800138000", started)
    observer.engineer_answered("c1", EngineerTarget("张伟", "sip:zhangwei@127.0.0.1"), 4.2)
    assert dispatch.reserve("张伟")  # the observer never holds the engineer: the call does
    dispatch.release("张伟", started, talked=False)
    observer.audio("c1", "engineer", 7.0, np.zeros(160, dtype=np.int16))
    recording = tmp_path / "c1.wav"
    recording.write_bytes(b"RIFF")
    observer.call_ended("c1", recording, {"invite_to_200_s": 4.2}, "caller hung up")

    call = store.get_call("c1")
    assert call.status == "failed" and call.audio_path == str(recording)
    assert call.engineer == "张伟" and call.ring_time_s == 4.2
    assert [(f.clause, f.heard, f.start) for f in call.findings] == [("3.5(1)", "我们不管", 7.5)]
    assert [u.text for u in call.utterances] == ["这个问题我们不管"]
    assert call.sip_timings["end_reason"] == "caller hung up"
    assert "张伟" not in dispatch.on_call
    assert done == ["c1"] and events[-1]["type"] == "call_ended"
