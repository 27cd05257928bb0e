"""Score a recorded call: the file path through the same chain a live call takes.

audio file → legs → (VAD + recogniser per leg) → utterances in time order → rules
(``CallChecker``) → findings, promises, scorecard, feedback → a ``CallRecord``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from models.records import CallRecord, Utterance
from speech.activity import LegActivity, measure_leg_activity
from speech.audio import CallAudio
from speech.qa.checker import CallChecker
from speech.qa.rulefile import RuleSet
from speech.transcribe import transcribe_leg

# progress(stage, seconds_done, seconds_total)
ProgressCallback = Callable[[str, float, float], None]


def _legs(audio: CallAudio) -> list[tuple[str, object]]:
    legs: list[tuple[str, object]] = []
    if audio.caller is not None:
        legs.append(("caller", audio.caller))
    legs.append(("engineer", audio.engineer))
    return legs


def transcribe_call(
    audio: CallAudio,
    engine: str,
    model_path: str | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[list[Utterance], list[LegActivity]]:
    """Both legs to text; utterances merged in time order."""
    utterances: list[Utterance] = []
    activity: list[LegActivity] = []
    legs = _legs(audio)
    total = audio.duration_s * len(legs)
    for index, (speaker, pcm) in enumerate(legs):
        done_before = audio.duration_s * index

        def leg_progress(done: float, _total: float, _before: float = done_before) -> None:
            if progress:
                progress("transcribe", _before + done, total)

        utterances += transcribe_leg(
            pcm, audio.sample_rate, speaker, engine, model_path=model_path, progress=leg_progress
        )
        activity.append(measure_leg_activity(pcm, audio.sample_rate, speaker))
    if progress:
        progress("transcribe", total, total)
    utterances.sort(key=lambda u: (u.start, u.end))
    return utterances, activity


def score_utterances(
    utterances: Sequence[Utterance],
    activity: Sequence[LegActivity],
    rules: RuleSet,
    engineer: str,
    started_at: datetime,
    duration_s: float,
    roster_names: Sequence[str] = (),
    ring_time_s: float | None = None,
) -> CallChecker:
    """Run the rules over a finished transcript exactly as the live path would."""
    checker = CallChecker(rules, engineer, started_at, roster_names=roster_names)
    for utt in utterances:
        checker.on_time(utt.start)
        checker.on_utterance(utt)
    checker.on_time(duration_s)
    return checker


def analyze_call(
    audio: CallAudio,
    *,
    engineer: str,
    rules: RuleSet,
    engine: str,
    started_at: datetime,
    line: str = "hq",
    model_path: str | None = None,
    roster_names: Sequence[str] = (),
    progress: ProgressCallback | None = None,
    call_id: str | None = None,
    ring_time_s: float | None = None,
) -> CallRecord:
    utterances, activity = transcribe_call(audio, engine, model_path, progress)
    checker = score_utterances(
        utterances, activity, rules, engineer, started_at, audio.duration_s, roster_names
    )
    result = checker.finish(audio.duration_s, activity, ring_time_s=ring_time_s)
    return CallRecord(
        id=call_id or uuid.uuid4().hex[:12],
        started_at=started_at.isoformat(),
        line=line,
        engineer=engineer,
        duration_s=round(audio.duration_s, 3),
        audio_path=str(Path(audio.path).resolve()) if audio.path else "",
        engine=engine,
        status="done",
        utterances=list(utterances),
        findings=result.findings,
        promises=result.promises,
        scorecard=result.scorecard,
        feedback=result.feedback,
    )
