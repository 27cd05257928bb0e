"""Check a call while it runs: per-leg audio frames in, findings out the moment they are decided.

The phone side calls ``feed(leg, t, pcm)`` with 20 ms frames of each leg on the call
clock; each leg has its own VAD + recogniser (``LegTranscriber``), every final utterance
goes to the rules (``CallChecker``), and the rules also hear the clock advance so a
window that closes unmet (no greeting in the first 10 s) is reported when it closes,
not at hang-up. ``finish`` returns the full result for the scorecard.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from models.records import Finding, Utterance
from speech.activity import LegActivity, measure_leg_activity
from speech.audio import CallAudio
from speech.engines import create_recognizer
from speech.qa.checker import CallChecker, CheckResult
from speech.qa.rulefile import RuleSet
from speech.transcribe import LegTranscriber
from speech.vad import SpeechSegmenter

# A recogniser may decide a stretch of speech a little after our own VAD thinks it ended.
WATERMARK_MARGIN_S = 1.0


@dataclass
class LiveEvent:
    kind: str  # "partial" | "utterance" | "finding"
    call_id: str
    payload: dict[str, Any]


EventSink = Callable[[LiveEvent], None]


class LiveCallAnalyzer:
    """One per call. Thread-safe: legs may be fed from different threads."""

    def __init__(
        self,
        call_id: str,
        *,
        engineer: str,
        rules: RuleSet,
        engine: str,
        started_at: datetime,
        sample_rate: int = 8000,
        model_path: str | None = None,
        roster_names: Sequence[str] = (),
        on_event: EventSink | None = None,
    ) -> None:
        self.call_id = call_id
        self.sample_rate = sample_rate
        self._on_event = on_event or (lambda event: None)
        self._lock = threading.Lock()
        self._checker = CallChecker(rules, engineer, started_at, roster_names=roster_names)
        self._transcribers = {
            leg: LegTranscriber(leg, create_recognizer(engine, sample_rate, model_path))
            for leg in ("caller", "engineer")
        }
        self._audio: dict[str, list[np.ndarray]] = {"caller": [], "engineer": []}
        # Rules hear the clock only up to the point both legs have been transcribed
        # (the watermark): speech still being recognised holds it back.
        self._vad = {leg: SpeechSegmenter(sample_rate) for leg in ("caller", "engineer")}
        self._leg_clock = {"caller": 0.0, "engineer": 0.0}
        self._clock = 0.0
        self.utterances: list[Utterance] = []

    def _emit_findings(self, findings: list[Finding]) -> None:
        for f in findings:
            self._on_event(LiveEvent("finding", self.call_id, f.to_dict()))

    def _take_events(self, events: list[Any]) -> None:
        for event in events:
            utt = getattr(event, "utterance", None)
            if utt is None:
                self._on_event(LiveEvent("partial", self.call_id, {
                    "speaker": getattr(event, "speaker", ""), "text": getattr(event, "text", "")}))
                continue
            self.utterances.append(utt)
            self._on_event(LiveEvent("utterance", self.call_id, utt.to_dict()))
            self._emit_findings(self._checker.on_utterance(utt))

    def feed(self, leg: str, t: float, pcm: np.ndarray) -> None:
        """A frame of int16 audio of ``leg`` starting at call time ``t``."""
        events = self._transcribers[leg].feed(pcm, t)
        vad = self._vad[leg]
        vad.feed(pcm, t)
        with self._lock:
            self._audio[leg].append(pcm)
            self._take_events(events)
            end = t + len(pcm) / self.sample_rate
            self._leg_clock[leg] = vad.open_segment_start if vad.in_speech else end
            watermark = min(self._leg_clock.values()) - WATERMARK_MARGIN_S
            if watermark > self._clock:
                self._clock = watermark
                self._emit_findings(self._checker.on_time(watermark))

    def call_audio(self) -> CallAudio:
        """Both legs as heard so far, on the conversation clock, for an after-call pass."""
        with self._lock:
            legs = {leg: np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)
                    for leg, frames in self._audio.items()}
        n = max(len(pcm) for pcm in legs.values())
        caller, engineer = (np.pad(legs[leg], (0, n - len(legs[leg]))) for leg in ("caller", "engineer"))
        return CallAudio(self.sample_rate, n / self.sample_rate, engineer=engineer, caller=caller)

    def finish(self, duration_s: float, ring_time_s: float | None = None) -> CheckResult:
        with self._lock:
            for transcriber in self._transcribers.values():
                self._take_events(transcriber.finish())
            self._emit_findings(self._checker.on_time(duration_s))
            activity: list[LegActivity] = []
            for leg, frames in self._audio.items():
                pcm = np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)
                activity.append(measure_leg_activity(pcm, self.sample_rate, leg))
            return self._checker.finish(duration_s, activity, ring_time_s=ring_time_s)
