"""Score a recorded call: the file path through the same chain a live call takes.

audio file → legs → VAD per leg → recognition → utterances in time order → rules
(``CallChecker``) → findings, promises, scorecard, feedback → a ``CallRecord``.

With Whisper, every closed segment of both legs goes through the same scheduler as a
live call's (``RecognitionScheduler``, here without threads), so a file costs a few
packed encoder windows rather than one window per segment. Times are the recording's;
the greeting window opens at ``engineer_joined_at`` (0 for a file that starts at the
answer, the ring time plus the greeting for a hotline recording).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from models.records import CallRecord, Utterance
from speech.activity import LegActivity, measure_leg_activity
from speech.audio import CallAudio
from speech.engines.base import RecognitionResult
from speech.qa.checker import CallChecker
from speech.qa.rulefile import RuleSet
from speech.recognition_scheduler import Priority, RecognitionScheduler, SchedulerSettings, SegmentJob
from speech.transcribe import transcribe_leg
from speech.vad import find_speech

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
    legs = _legs(audio)
    if engine == "whisper":
        return _transcribe_packed(audio, legs, model_path, progress)
    utterances: list[Utterance] = []
    activity: list[LegActivity] = []
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


def _transcribe_packed(
    audio: CallAudio,
    legs: list[tuple[str, object]],
    model_path: str | None,
    progress: ProgressCallback | None,
) -> tuple[list[Utterance], list[LegActivity]]:
    from speech.engines.whisper_engine import WhisperWindowDecoder

    decoder = WhisperWindowDecoder(model_path)
    settings = SchedulerSettings(workers=0, engineer_windows_alone=False)
    scheduler = RecognitionScheduler(decoder.decode, settings)
    heard: list[tuple[int, Utterance]] = []
    activity: list[LegActivity] = []
    order = 0
    total_s = 0.0
    for speaker, pcm in legs:
        leg_activity = measure_leg_activity(pcm, audio.sample_rate, speaker)  # type: ignore[arg-type]
        activity.append(leg_activity)
        for segment in find_speech(pcm, audio.sample_rate):  # type: ignore[arg-type]
            total_s += len(segment.pcm) / audio.sample_rate

            def deliver(job: SegmentJob, result: RecognitionResult | None, _n: int = order) -> None:
                if result is not None:
                    heard.append((_n, Utterance(job.leg, result.start, result.end, result.text,  # type: ignore[arg-type]
                                                list(result.words), result.confidence, "whisper")))

            priority = Priority.ENGINEER if speaker == "engineer" else Priority.CALLER
            scheduler.submit(SegmentJob("file", speaker, order, segment, audio.sample_rate, priority,
                                        deliver))
            order += 1
    done_s = 0.0
    while window := scheduler.take_window():
        scheduler.run_window(window)
        done_s += sum(j.duration_s for j in window)
        if progress:
            progress("transcribe", done_s, total_s)
    utterances = [u for _, u in sorted(heard, key=lambda item: item[0])]
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
    engineer_joined_at: float = 0.0,
) -> CallChecker:
    """Run the rules over a finished transcript exactly as the live path would."""
    checker = CallChecker(rules, engineer, started_at, roster_names=roster_names,
                          engineer_joined_at=engineer_joined_at)
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
    engineer_joined_at: float = 0.0,
) -> CallRecord:
    utterances, activity = transcribe_call(audio, engine, model_path, progress)
    checker = score_utterances(
        utterances, activity, rules, engineer, started_at, audio.duration_s, roster_names,
        engineer_joined_at=engineer_joined_at,
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
