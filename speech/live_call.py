"""Check a call while it runs: per-leg audio frames in, findings out the moment they are decided.

One call's pipeline, top to bottom:

    feed(leg, t, pcm)                 20 ms frames of each leg, on the recording's clock
      → the leg's VAD                 (``SpeechSegmenter``; shorter end-of-speech on the
                                        engineer leg, so a forbidden phrase is decided sooner)
      → the node's scheduler          closed segments, packed with other legs' and calls'
                                        into Whisper windows (``RecognitionScheduler``)
      → back in the leg's order       each leg's utterances reach the rules in the order said
      → the rules                     (``CallChecker`` on the recording's clock, its greeting
                                        window opening at ``engineer_joined_at``)
      → on_event                      ``UtteranceHeard`` / ``FindingDecided`` (speech.events)

The rules also hear the clock advance (the watermark: the time up to which both legs'
speech has been recognised), so a window that closes unmet (no greeting in the first
10 s) is reported when it closes, not at hang-up. A caller segment the scheduler had no
room for is kept and decoded after the call; ``finish`` waits for it, then returns the
full result for the scorecard. Vosk (a streaming engine) is fed frame by frame instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from models.records import Finding, Speaker, Utterance
from speech.activity import LegActivity, measure_leg_activity
from speech.audio import CallAudio
from speech.engines import create_recognizer
from speech.engines.base import RecognitionResult
from speech.events import FindingDecided, LiveEvent, PartialHeard, UtteranceHeard
from speech.qa.checker import CallChecker, CheckResult
from speech.qa.rulefile import RuleSet
from speech.recognition_scheduler import Priority, RecognitionScheduler, SchedulerSettings, SegmentJob
from speech.transcribe import LegTranscriber, TranscriptEvent
from speech.vad import SpeechSegment, SpeechSegmenter

log = logging.getLogger("deskline.live")

# A recogniser may decide a stretch of speech a little after our own VAD thinks it ended.
WATERMARK_MARGIN_S = 1.0
# End of speech on the engineer leg after this much non-speech (the VAD's default, 0.6 s,
# stays on the caller leg): a forbidden phrase goes to recognition ~0.25 s sooner.
# Measured on the call fixtures: no engineer sentence was split by it.
ENGINEER_HANGOVER_S = 0.35
# How long ``finish`` waits for the segments still being recognised (the after-call part).
FINISH_TIMEOUT_S = 900.0

EventSink = Callable[[LiveEvent], None]
LEGS: tuple[Speaker, ...] = ("caller", "engineer")


@dataclass
class _Leg:
    """One leg's place in the pipeline: its VAD and its segments still being recognised."""

    speaker: Speaker
    vad: SpeechSegmenter
    next_seq: int = 0
    next_to_deliver: int = 0
    pending: dict[int, float] = field(default_factory=dict)  # seq → segment start, in recognition
    ready: dict[int, RecognitionResult | None] = field(default_factory=dict)  # out of order
    deferred: dict[int, SegmentJob] = field(default_factory=dict)  # for after the call
    heard_until: float = 0.0  # end of the last frame fed

    def held_back_to(self) -> float:
        """Speech before this time has reached the rules (or is deferred to after the call)."""
        holds = [self.heard_until, *self.pending.values()]
        if self.vad.in_speech and self.vad.open_segment_start is not None:
            holds.append(self.vad.open_segment_start)
        return min(holds)


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
        engineer_joined_at: float = 0.0,
        sample_rate: int = 8000,
        model_path: str | None = None,
        roster_names: Sequence[str] = (),
        on_event: EventSink | None = None,
        scheduler: RecognitionScheduler | None = None,
    ) -> None:
        self.call_id = call_id
        self.engine = engine
        self.engineer_joined_at = engineer_joined_at
        self.sample_rate = sample_rate
        self._on_event = on_event or (lambda event: None)
        self._lock = threading.RLock()
        self._settled = threading.Condition(self._lock)
        self._checker = CallChecker(rules, engineer, started_at, roster_names=roster_names,
                                    engineer_joined_at=engineer_joined_at)
        self._legs = {
            leg: _Leg(leg, SpeechSegmenter(sample_rate, **(
                {"hangover_s": ENGINEER_HANGOVER_S} if leg == "engineer" else {})))
            for leg in LEGS
        }
        self._audio: dict[str, list[np.ndarray]] = {"caller": [], "engineer": []}
        self._audio_origin: float | None = None  # recording time of the first frame fed
        self._clock = 0.0
        self.utterances: list[Utterance] = []
        self._streaming: dict[str, LegTranscriber] = {}
        self._inline = scheduler is None
        self._finishing = False
        if engine == "whisper":
            if scheduler is None:
                # No node scheduler: each closed segment is decoded at once, in the feeding thread.
                from speech.engines.whisper_engine import WhisperWindowDecoder

                scheduler = RecognitionScheduler(WhisperWindowDecoder(model_path).decode,
                                                 SchedulerSettings(workers=0))
            self._scheduler: RecognitionScheduler | None = scheduler
        else:
            self._scheduler = None
            self._streaming = {leg: LegTranscriber(leg, create_recognizer(engine, sample_rate, model_path))
                               for leg in LEGS}

    # -- in: audio ----------------------------------------------------------------------
    def feed(self, leg: str, t: float, pcm: np.ndarray) -> None:
        """A frame of int16 audio of ``leg`` starting at call time ``t``; never waits for recognition."""
        state = self._legs[leg]
        if self._streaming:
            events = self._streaming[leg].feed(pcm, t)
            with self._lock:
                state.vad.feed(pcm, t)
                self._take_streamed(events)
        with self._lock:
            if self._audio_origin is None:
                self._audio_origin = t
            self._audio[leg].append(pcm)
            state.heard_until = t + len(pcm) / self.sample_rate
            jobs = [] if self._streaming else [self._job(state, seg, live=True)
                                               for seg in state.vad.feed(pcm, t)]
            self._advance_clock()
        self._submit(jobs)

    def _job(self, leg: _Leg, segment: SpeechSegment, *, live: bool) -> SegmentJob:
        seq = leg.next_seq
        leg.next_seq += 1
        leg.pending[seq] = segment.start
        if leg.speaker == "engineer":
            priority = Priority.ENGINEER
        else:
            priority = Priority.CALLER if live else Priority.AFTER_CALL
        return SegmentJob(self.call_id, leg.speaker, seq, segment, self.sample_rate, priority,
                          deliver=self._recognised,
                          defer=self._defer if priority == Priority.CALLER else None)

    def _submit(self, jobs: list[SegmentJob]) -> None:
        assert self._scheduler is not None or not jobs
        for job in jobs:
            self._scheduler.submit(job)  # type: ignore[union-attr]
        if jobs and self._inline:
            self._scheduler.drain()  # type: ignore[union-attr]

    # -- back from the scheduler --------------------------------------------------------
    def _defer(self, job: SegmentJob) -> None:
        again: SegmentJob | None = None
        with self._lock:
            leg = self._legs[job.leg]
            if self._finishing:
                # The call is over and ``finish`` waits for it: it is after the call now.
                again = self._after_call(job)
            else:
                leg.pending.pop(job.seq, None)
                leg.deferred[job.seq] = job
                self._release_in_order(leg)
                self._advance_clock()
            self._settled.notify_all()
        if again is not None:
            self._submit([again])

    def _after_call(self, job: SegmentJob) -> SegmentJob:
        return SegmentJob(self.call_id, job.leg, job.seq, job.segment, job.sample_rate,
                          Priority.AFTER_CALL, deliver=self._recognised)

    def _recognised(self, job: SegmentJob, result: RecognitionResult | None) -> None:
        with self._lock:
            leg = self._legs[job.leg]
            leg.pending.pop(job.seq, None)
            if job.seq < leg.next_to_deliver:  # a deferred segment, heard after the call
                self._hear(leg.speaker, result)
            else:
                leg.ready[job.seq] = result
                self._release_in_order(leg)
            self._advance_clock()
            self._settled.notify_all()

    def _release_in_order(self, leg: _Leg) -> None:
        while True:
            seq = leg.next_to_deliver
            if seq in leg.ready:
                self._hear(leg.speaker, leg.ready.pop(seq))
            elif seq not in leg.deferred:
                return
            leg.next_to_deliver += 1

    def _hear(self, speaker: Speaker, result: RecognitionResult | None) -> None:
        if result is None:
            return
        utt = Utterance(speaker=speaker, start=result.start, end=result.end, text=result.text,
                        words=list(result.words), confidence=result.confidence, engine=self.engine)
        self.utterances.append(utt)
        self._on_event(UtteranceHeard(self.call_id, utt))
        self._emit_findings(self._checker.on_utterance(utt))

    def _take_streamed(self, events: list[TranscriptEvent]) -> None:
        for event in events:
            if event.utterance is None:
                self._on_event(PartialHeard(self.call_id, event.speaker, event.text))
                continue
            self.utterances.append(event.utterance)
            self._on_event(UtteranceHeard(self.call_id, event.utterance))
            self._emit_findings(self._checker.on_utterance(event.utterance))

    def _emit_findings(self, findings: list[Finding]) -> None:
        for f in findings:
            self._on_event(FindingDecided(self.call_id, f))

    def _advance_clock(self) -> None:
        watermark = min(leg.held_back_to() for leg in self._legs.values()) - WATERMARK_MARGIN_S
        if watermark > self._clock:
            self._clock = watermark
            self._emit_findings(self._checker.on_time(watermark))

    # -- out: the whole call ------------------------------------------------------------
    @property
    def audio_end_s(self) -> float:
        """Recording time just after the last frame fed (the end of the conversation heard)."""
        with self._lock:
            return max(leg.heard_until for leg in self._legs.values())

    def _leg_pcm(self, leg: str) -> np.ndarray:
        """A leg as fed, preceded by silence back to the recording's start (same clock)."""
        lead = np.zeros(round((self._audio_origin or 0.0) * self.sample_rate), dtype=np.int16)
        return np.concatenate([lead, *self._audio[leg]])

    def call_audio(self) -> CallAudio:
        """Both legs as heard, on the recording's clock, for an after-call pass."""
        with self._lock:
            legs = {leg: self._leg_pcm(leg) for leg in self._audio}
        n = max(len(pcm) for pcm in legs.values())
        caller, engineer = (np.pad(legs[leg], (0, n - len(legs[leg]))) for leg in ("caller", "engineer"))
        return CallAudio(self.sample_rate, n / self.sample_rate, engineer=engineer, caller=caller)

    def finish(self, duration_s: float, ring_time_s: float | None = None) -> CheckResult:
        """Hang-up: recognise what is left (deferred caller speech included), then score."""
        if self._streaming:
            with self._lock:
                for transcriber in self._streaming.values():
                    self._take_streamed(transcriber.finish())
        else:
            with self._lock:
                self._finishing = True  # a caller segment deferred from now on is queued again at once
                jobs = []
                for leg in self._legs.values():
                    jobs += [self._job(leg, seg, live=False) for seg in leg.vad.flush()]
                    for seq, job in sorted(leg.deferred.items()):
                        leg.pending[seq] = job.segment.start
                        jobs.append(self._after_call(job))
                    leg.deferred.clear()
            self._submit(jobs)
            with self._settled:
                if not self._settled.wait_for(lambda: not any(leg.pending for leg in self._legs.values()),
                                              FINISH_TIMEOUT_S):
                    raise TimeoutError(f"call {self.call_id}: recognition did not finish in "
                                       f"{FINISH_TIMEOUT_S:.0f} s")
        with self._lock:
            self._emit_findings(self._checker.on_time(duration_s))
            activity: list[LegActivity] = []
            for leg in self._audio:
                activity.append(measure_leg_activity(self._leg_pcm(leg), self.sample_rate, leg))
            return self._checker.finish(duration_s, activity, ring_time_s=ring_time_s)
