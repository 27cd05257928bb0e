"""One recognition scheduler per node: closed speech segments of every live leg, a few workers.

Every leg's VAD hands its closed segments here (``submit`` never blocks and never drops
audio). A worker takes a *window* of segments at a time, packed so that one Whisper
encoder pass carries several of them (``speech.segment_packing``), from one leg or from
many calls:

- engineer segments first (forbidden phrases and the greeting are decided on them),
  oldest first, in windows of their own: a window's decoding time grows with the speech
  in it, so caller speech packed alongside would delay the engineer's alert (measured:
  a 4-segment window of 12 s took 1.4× the time of a 1-segment window of 4 s);
- caller segments when no engineer segment waits, packed with each other; with more
  than one worker, one is always kept for engineer speech (caller windows run on the
  others only);
- a caller segment that has waited longer than its budget (``caller_budget_s``), or that
  arrives while the queue already holds more than ``max_backlog_s`` of audio, is handed
  back to its call (``SegmentJob.defer``) and decoded after the call, at the lowest
  priority (``Priority.AFTER_CALL``);
- after-call segments go when nothing live is waiting, or fill a live window's room.

``stats()`` is the backlog (the node's metric); a warning is logged, at most every
``LOG_EVERY_S``, while engineer segments wait longer than ``engineer_budget_s``.
With ``workers=0`` nothing runs on its own: ``drain()`` decodes what is queued in the
calling thread (the file path and tests use that).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from speech.engines.base import RecognitionResult
from speech.segment_packing import GAP_S, WINDOW_FILL_S
from speech.vad import SpeechSegment

log = logging.getLogger("deskline.recognition")
LOG_EVERY_S = 10.0

# segments (all at one sample rate) → one result or None per segment, in order
DecodeWindow = Callable[[Sequence[SpeechSegment], int], list[RecognitionResult | None]]


class Priority(IntEnum):
    ENGINEER = 0
    CALLER = 1
    AFTER_CALL = 2


@dataclass(eq=False)
class SegmentJob:
    call_id: str
    leg: str
    seq: int  # order of the segment on its leg
    segment: SpeechSegment
    sample_rate: int
    priority: Priority
    deliver: Callable[[SegmentJob, RecognitionResult | None], None]
    # Hands a caller segment back to its call for the after-call pass; None = cannot wait.
    defer: Callable[[SegmentJob], None] | None = None
    submitted_at: float = 0.0

    @property
    def duration_s(self) -> float:
        return len(self.segment.pcm) / self.sample_rate


@dataclass(frozen=True)
class SchedulerSettings:
    workers: int = 1
    engineer_budget_s: float = 2.0  # wait beyond which an engineer segment counts as late
    caller_budget_s: float = 6.0  # wait beyond which a caller segment is deferred
    max_backlog_s: float = 60.0  # queued audio beyond which new caller segments are deferred
    fill_s: float = WINDOW_FILL_S
    gap_s: float = GAP_S
    # Live: engineer speech in windows of its own (latency). A file has no latency to
    # keep: both legs share windows there (fewer windows).
    engineer_windows_alone: bool = True

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ValueError(f"workers must be 0 or more, got {self.workers}")
        for name in ("engineer_budget_s", "caller_budget_s", "max_backlog_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


@dataclass(frozen=True)
class Backlog:
    queued_segments: int
    queued_audio_s: float
    oldest_wait_s: float
    decoding_segments: int
    deferred_total: int  # caller segments handed back to their calls so far
    late_total: int  # engineer segments that waited beyond their budget
    windows_total: int
    segments_total: int
    waits_s: list[float] = field(default_factory=list)  # queue wait of the last windows' segments


def pick_window(queue: Sequence[SegmentJob], fill_s: float, gap_s: float,
                engineer_alone: bool = True) -> list[SegmentJob]:
    """The segments for the next window: by priority then age, first fit, one sample rate.

    With ``engineer_alone``, engineer segments share a window only with each other, and
    caller and after-call ones with each other.
    """
    order = sorted(queue, key=lambda j: (j.priority, j.submitted_at, j.seq))
    if not order:
        return []
    rate = order[0].sample_rate
    engineer_window = order[0].priority == Priority.ENGINEER
    chosen, used = [order[0]], order[0].duration_s
    for job in order[1:]:
        if engineer_alone and (job.priority == Priority.ENGINEER) != engineer_window:
            continue
        if job.sample_rate == rate and used + gap_s + job.duration_s <= fill_s:
            chosen.append(job)
            used += gap_s + job.duration_s
    return chosen


class RecognitionScheduler:
    def __init__(self, decode: DecodeWindow, settings: SchedulerSettings | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.decode = decode
        self.settings = settings or SchedulerSettings()
        self.clock = clock
        self._queue: list[SegmentJob] = []
        self._cond = threading.Condition()
        self._stopped = False
        self._decoding = 0
        self._caller_windows = 0  # caller/after-call windows being decoded
        self._deferred = 0
        self._late = 0
        self._windows = 0
        self._segments = 0
        self._waits: list[float] = []
        self._last_log = float("-inf")
        self._workers = [threading.Thread(target=self._work, name=f"recognition-{i}", daemon=True)
                         for i in range(self.settings.workers)]
        for worker in self._workers:
            worker.start()

    # -- feeding ----------------------------------------------------------------------
    def submit(self, job: SegmentJob) -> None:
        """Queue a closed segment; never blocks. A caller segment may come back deferred."""
        with self._cond:
            job.submitted_at = self.clock()
            queued = sum(j.duration_s for j in self._queue)
            over = queued + job.duration_s > self.settings.max_backlog_s
            deferred = job.priority == Priority.CALLER and job.defer is not None and over
            if deferred:
                self._deferred += 1
            else:
                self._queue.append(job)
                self._cond.notify()
        if deferred and job.defer is not None:
            job.defer(job)

    # -- choosing ---------------------------------------------------------------------
    def take_window(self) -> list[SegmentJob]:
        """Remove and return the next window's segments ([] when none may start now).

        Caller segments past their budget are handed back to their calls first.
        """
        with self._cond:
            window, expired = self._take_locked()
        self._hand_back(expired)
        self._maybe_log()
        return window

    def _take_locked(self) -> tuple[list[SegmentJob], list[SegmentJob]]:
        expired = self._expire_callers()
        window = pick_window(self._queue, self.settings.fill_s, self.settings.gap_s,
                             self.settings.engineer_windows_alone)
        caller_window = bool(window) and window[0].priority != Priority.ENGINEER
        if caller_window and 1 < self.settings.workers <= self._caller_windows + 1:
            # Keep one worker for engineer speech: a caller window running there would make
            # the next forbidden phrase wait for it.
            return [], expired
        now = self.clock()
        for job in window:
            self._queue.remove(job)
            wait = now - job.submitted_at
            self._waits = (self._waits + [round(wait, 3)])[-200:]
            if job.priority == Priority.ENGINEER and wait > self.settings.engineer_budget_s:
                self._late += 1
        self._decoding += len(window)
        self._caller_windows += caller_window
        return window, expired

    def _hand_back(self, expired: list[SegmentJob]) -> None:
        for job in expired:
            assert job.defer is not None
            job.defer(job)

    def _expire_callers(self) -> list[SegmentJob]:
        now = self.clock()
        expired = [j for j in self._queue if j.priority == Priority.CALLER and j.defer is not None
                   and now - j.submitted_at > self.settings.caller_budget_s]
        for job in expired:
            self._queue.remove(job)
        self._deferred += len(expired)
        return expired

    # -- decoding ---------------------------------------------------------------------
    def run_window(self, window: list[SegmentJob]) -> None:
        """Decode one window and hand each segment's result to its call."""
        if not window:
            return
        started = self.clock()
        try:
            results = self.decode([j.segment for j in window], window[0].sample_rate)
        except Exception:
            log.exception("recognition failed on a window of %d segments", len(window))
            results = [None] * len(window)
        log.debug("decoded a window of %d segments (%.1f s of speech) in %.2f s", len(window),
                  sum(j.duration_s for j in window), self.clock() - started)
        with self._cond:
            self._decoding -= len(window)
            self._windows += 1
            self._segments += len(window)
            self._caller_windows -= window[0].priority != Priority.ENGINEER
            self._cond.notify_all()
        for job, result in zip(window, results, strict=True):
            try:
                job.deliver(job, result)
            except Exception:
                log.exception("call %s: handling a recognised segment failed", job.call_id)

    def drain(self) -> None:
        """Decode everything queued, in the calling thread (``workers=0``)."""
        while window := self.take_window():
            self.run_window(window)

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopped and not self._queue:
                        return
                    window, expired = self._take_locked()
                    if window or expired:
                        break
                    # Woken by a new segment or a finished window; the timeout lets
                    # waiting caller segments reach their budget.
                    self._cond.wait(timeout=0.5)
            self._hand_back(expired)
            self._maybe_log()
            self.run_window(window)

    def stop(self, timeout_s: float = 30.0) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for worker in self._workers:
            worker.join(timeout=timeout_s)

    # -- the backlog ------------------------------------------------------------------
    def stats(self) -> Backlog:
        with self._cond:
            now = self.clock()
            return Backlog(
                queued_segments=len(self._queue),
                queued_audio_s=round(sum(j.duration_s for j in self._queue), 2),
                oldest_wait_s=round(max((now - j.submitted_at for j in self._queue), default=0.0), 3),
                decoding_segments=self._decoding,
                deferred_total=self._deferred,
                late_total=self._late,
                windows_total=self._windows,
                segments_total=self._segments,
                waits_s=list(self._waits),
            )

    def _maybe_log(self) -> None:
        now = self.clock()
        with self._cond:
            engineer_waits = [now - j.submitted_at for j in self._queue if j.priority == Priority.ENGINEER]
            if not engineer_waits or max(engineer_waits) <= self.settings.engineer_budget_s:
                return
            if now - self._last_log < LOG_EVERY_S:
                return
            self._last_log = now
            queued, audio_s = len(self._queue), sum(j.duration_s for j in self._queue)
            deferred = self._deferred
        log.warning("recognition backlog: %d segments (%.1f s of audio) queued, oldest engineer "
                    "segment waiting %.1f s (budget %.1f s), %d caller segments deferred so far",
                    queued, audio_s, max(engineer_waits), self.settings.engineer_budget_s, deferred)
