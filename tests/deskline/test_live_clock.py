"""One clock: a live call's stored times and feedback are the recording's, as the engineer hears it.

The bad call fixture is fed to the hotline's observer as if the caller had spent 20 s in
the greeting prompt and the queue before the engineer answered. 这个问题我们不管 is said
8.4–10.0 s into the conversation, so 28.4–30.0 s into the recording: the stored finding
and the feedback line must say so (00:28), not the conversation's 00:08.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from deskline.config import load_config
from deskline.hotline_service import AnalysingObserver
from ivr.contracts import EngineerTarget
from models.store import Store
from routing.dispatch import DispatchState
from speech.audio import load_call_audio
from speech.qa.rulefile import load_rules

pytestmark = pytest.mark.slow
CALLS = Path(__file__).parents[1] / "fixtures" / "audio" / "calls"
JOINED_AT = 20.0


def test_live_findings_and_feedback_are_on_the_recordings_clock(tmp_path: Path) -> None:
    store = Store(tmp_path / "calls.db")
    events: list[dict] = []
    dispatch = DispatchState()
    observer = AnalysingObserver(load_config(), store, load_rules(), "whisper", dispatch, events.append)
    audio = load_call_audio(CALLS / "bad_zhangwei.wav")
    started = datetime(2026, 11, 24, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
    observer.call_started("c1", "hq", "13800138000", started)
    observer.engineer_answered("c1", EngineerTarget("张伟", "sip:zhangwei@127.0.0.1"), 12.0)
    try:
        for i in range(0, len(audio.engineer), 160):
            t = JOINED_AT + i / 8000
            observer.audio("c1", "engineer", t, audio.engineer[i:i + 160])
            observer.audio("c1", "caller", t, audio.caller[i:i + 160])
        observer.call_ended("c1", CALLS / "bad_zhangwei.wav", {}, "caller hung up")
        assert "张伟" not in dispatch.on_call
    finally:
        observer.stop()
    call = store.get_call("c1")
    refusal = next(f for f in call.findings if f.clause == "3.5(1)" and f.verdict == "fail")
    assert JOINED_AT + 8.0 <= refusal.start <= JOINED_AT + 10.5
    assert "00:28" in call.feedback or "00:29" in call.feedback
    # The greeting window opened when the engineer joined: the missing greeting is found
    # at the start of the conversation, not at the start of the recording.
    greeting = next(f for f in call.findings if f.clause == "3.4(a)")
    assert greeting.verdict == "fail" and greeting.start >= JOINED_AT
    live = [e["finding"] for e in events if e["type"] == "finding" and e["finding"]["clause"] == "3.5(1)"]
    assert live and live[0]["start"] == refusal.start  # published live with the same time
    assert all(u.start >= JOINED_AT for u in call.utterances)
