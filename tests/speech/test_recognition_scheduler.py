"""The recognition scheduler's choices, on a fake clock and a fake decoder (no model).

Packing (which segments share a window), priorities (engineer first), deferral of caller
segments (past their budget, or over the backlog bound), that nothing submitted is lost,
and the live call's pipeline putting each leg's results back in the order they were said.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from speech.engines.base import RecognitionResult
from speech.events import FindingDecided, LiveEvent, UtteranceHeard
from speech.live_call import LiveCallAnalyzer
from speech.qa.rulefile import load_rules
from speech.recognition_scheduler import (
    Priority,
    RecognitionScheduler,
    SchedulerSettings,
    SegmentJob,
    pick_window,
)
from speech.segment_packing import Slot, TimedWord, count_that_fit, lay_out, split_pieces, split_words
from speech.vad import SpeechSegment

RATE = 8000


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def segment(start: float, seconds: float, rate: int = RATE) -> SpeechSegment:
    pcm = np.zeros(round(seconds * rate), dtype=np.int16)
    return SpeechSegment(start, start + seconds, pcm, start + 0.1, start + seconds - 0.1)


class Recorder:
    """Collects deliveries and deferrals of jobs."""

    def __init__(self) -> None:
        self.delivered: list[tuple[SegmentJob, RecognitionResult | None]] = []
        self.deferred: list[SegmentJob] = []

    def deliver(self, job: SegmentJob, result: RecognitionResult | None) -> None:
        self.delivered.append((job, result))

    def defer(self, job: SegmentJob) -> None:
        self.deferred.append(job)


def job(rec: Recorder, leg: str, seq: int, seconds: float, *, call: str = "c1", rate: int = RATE,
        priority: Priority | None = None) -> SegmentJob:
    prio = priority if priority is not None else (Priority.ENGINEER if leg == "engineer" else Priority.CALLER)
    return SegmentJob(call, leg, seq, segment(seq * 10.0, seconds, rate), rate, prio, rec.deliver,
                      defer=rec.defer if prio == Priority.CALLER else None)


def text_by_start(segments: Sequence[SpeechSegment], rate: int) -> list[RecognitionResult | None]:
    return [RecognitionResult(f"t{s.start:g}", True, s.speech_start, s.speech_end) for s in segments]


# -- packing -----------------------------------------------------------------------------

def test_segments_fit_a_window_with_gaps_between_them() -> None:
    assert count_that_fit([5, 5, 5, 5], fill_s=28, gap_s=2) == 4  # 5+2+5+2+5+2+5 = 26
    assert count_that_fit([5, 5, 5, 5, 5], fill_s=28, gap_s=2) == 4
    assert count_that_fit([27.0, 1.0], fill_s=28, gap_s=2) == 1
    assert count_that_fit([40.0, 1.0], fill_s=28, gap_s=2) == 1  # too long still goes, alone
    assert lay_out([2.0, 3.0, 1.0], gap_s=1.5) == [Slot(0.0, 2.0), Slot(3.5, 3.0), Slot(8.0, 1.0)]


@pytest.mark.parametrize(("start", "end", "slot"), [
    (0.2, 0.6, 0), (3.6, 4.0, 1), (1.9, 2.3, 0),  # midpoint 2.1 in the gap, nearer slot 0's end
    (2.9, 3.3, 1), (9.5, 9.9, 2),  # after the last slot: the last one
])
def test_each_word_goes_to_the_slot_of_its_midpoint(start: float, end: float, slot: int) -> None:
    slots = lay_out([2.0, 3.0, 1.0], gap_s=1.5)
    word = TimedWord("字", start, end, 0.9)
    split = split_words([word], slots)
    assert [i for i, words in enumerate(split) if words] == [slot]


def words_at(*spans: tuple[float, float]) -> list[TimedWord]:
    return [TimedWord("字", a, b, 0.9) for a, b in spans]


def test_a_piece_goes_whole_to_its_slot_even_when_its_first_word_drifted_into_the_gap() -> None:
    # Measured (five copies of 这个问题我们不管): the fifth piece's first word timed at
    # 11.08–11.64 s, in the gap after slot 4 (ends 11.16 s), the rest inside slot 5.
    slots = [Slot(9.57, 1.59), Slot(12.76, 1.59)]
    fourth = words_at((9.3, 9.7), (9.7, 10.12), (10.12, 10.42), (10.42, 11.08))
    fifth = words_at((11.08, 11.64), (11.64, 13.24), (13.24, 13.62), (13.62, 14.1))
    assert split_pieces([fourth, fifth], slots) == [fourth, fifth]
    assert split_words(fourth + fifth, slots) != [fourth, fifth]  # word by word gets it wrong


def test_a_piece_that_runs_several_slots_together_is_split_word_by_word() -> None:
    slots = lay_out([2.0, 2.0, 2.0], gap_s=1.0)  # 0–2, 3–5, 6–8
    merged = words_at((0.1, 0.9), (1.0, 1.9), (3.1, 4.0), (4.1, 4.9), (6.2, 7.8))
    assert [len(ws) for ws in split_pieces([merged], slots)] == [2, 2, 1]


def test_engineer_segments_go_first_in_windows_of_their_own() -> None:
    rec, clock = Recorder(), FakeClock()
    old_caller = job(rec, "caller", 0, 6.0)
    old_caller.submitted_at = 1.0
    engineers = [job(rec, "engineer", i, 8.0) for i in range(1, 4)]
    for i, e in enumerate(engineers):
        e.submitted_at = 2.0 + i
    small_caller = job(rec, "caller", 5, 1.0)
    small_caller.submitted_at = 1.5
    del clock
    window = pick_window([old_caller, *engineers, small_caller], fill_s=28.0, gap_s=1.6)
    # 8 + 1.6 + 8 + 1.6 + 8 = 27.2: three engineer segments fit, and no caller one.
    assert window == engineers
    window = pick_window([old_caller, engineers[0], small_caller], fill_s=28.0, gap_s=1.6)
    assert window == [engineers[0]]  # caller speech would only slow the engineer's result down
    window = pick_window([old_caller, small_caller], fill_s=28.0, gap_s=1.6)
    assert window == [old_caller, small_caller]  # caller ones by age


def test_only_one_sample_rate_per_window() -> None:
    rec = Recorder()
    a, b = job(rec, "engineer", 0, 2.0, rate=8000), job(rec, "engineer", 1, 2.0, rate=16000)
    a.submitted_at, b.submitted_at = 1.0, 2.0
    assert pick_window([a, b], 28.0, 1.6) == [a]


# -- deferral and the bounded queue ---------------------------------------------------------

def test_a_caller_segment_past_its_budget_is_handed_back_not_decoded() -> None:
    rec, clock = Recorder(), FakeClock()
    decoded: list[int] = []

    def decode(segments: Sequence[SpeechSegment], rate: int) -> list[RecognitionResult | None]:
        decoded.append(len(segments))
        return text_by_start(segments, rate)

    sched = RecognitionScheduler(decode, SchedulerSettings(workers=0, caller_budget_s=5.0), clock=clock)
    caller = job(rec, "caller", 0, 2.0)
    sched.submit(caller)
    clock.now += 5.5
    engineer = job(rec, "engineer", 1, 2.0)
    sched.submit(engineer)
    sched.drain()
    assert rec.deferred == [caller]
    assert [j for j, _ in rec.delivered] == [engineer]
    assert sched.stats().deferred_total == 1 and sched.stats().queued_segments == 0


def test_over_the_backlog_bound_caller_segments_are_deferred_and_engineer_ones_still_queue() -> None:
    rec, clock = Recorder(), FakeClock()
    sched = RecognitionScheduler(text_by_start, SchedulerSettings(workers=0, max_backlog_s=10.0), clock=clock)
    for i in range(4):
        sched.submit(job(rec, "engineer", i, 3.0))  # 12 s queued: over the bound
    late_caller = job(rec, "caller", 9, 1.0)
    sched.submit(late_caller)
    extra_engineer = job(rec, "engineer", 10, 3.0)
    sched.submit(extra_engineer)
    assert rec.deferred == [late_caller]
    stats = sched.stats()
    assert stats.queued_segments == 5 and stats.queued_audio_s == 15.0
    sched.drain()
    assert len(rec.delivered) == 5 and all(r is not None for _, r in rec.delivered)


def test_after_call_segments_wait_for_live_ones_but_are_never_dropped() -> None:
    rec, clock = Recorder(), FakeClock()
    sched = RecognitionScheduler(text_by_start, SchedulerSettings(workers=0, caller_budget_s=1.0,
                                                                  fill_s=10.0), clock=clock)
    after = job(rec, "caller", 0, 6.0, priority=Priority.AFTER_CALL)
    sched.submit(after)
    clock.now += 100  # far past any budget: after-call segments have none
    live = job(rec, "engineer", 1, 6.0)
    sched.submit(live)
    first = sched.take_window()
    assert first == [live]
    sched.run_window(first)
    sched.drain()
    assert [j for j, _ in rec.delivered] == [live, after] and not rec.deferred


def test_a_failing_decoder_delivers_nothing_heard_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()

    def broken(segments: Sequence[SpeechSegment], rate: int) -> list[RecognitionResult | None]:
        raise RuntimeError("model fell over")

    sched = RecognitionScheduler(broken, SchedulerSettings(workers=0))
    sched.submit(job(rec, "engineer", 0, 1.0))
    with caplog.at_level(logging.ERROR, "deskline.recognition"):
        sched.drain()
    assert [r for _, r in rec.delivered] == [None]
    assert "recognition failed on a window" in caplog.text


def test_engineer_segments_over_budget_are_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    rec, clock = Recorder(), FakeClock()
    sched = RecognitionScheduler(text_by_start, SchedulerSettings(workers=0, engineer_budget_s=2.0,
                                                                  fill_s=3.0), clock=clock)
    sched.submit(job(rec, "engineer", 0, 2.0))
    sched.submit(job(rec, "engineer", 1, 2.0))
    clock.now += 3.0
    with caplog.at_level(logging.WARNING, "deskline.recognition"):
        sched.drain()
    assert sched.stats().late_total == 2
    assert "recognition backlog: 1 segments" in caplog.text


def test_worker_threads_decode_every_segment_of_many_calls() -> None:
    rec = Recorder()
    lock = threading.Lock()
    windows: list[set[str]] = []
    done = threading.Event()
    total = 60

    def decode(segments: Sequence[SpeechSegment], rate: int) -> list[RecognitionResult | None]:
        return text_by_start(segments, rate)

    def deliver(j: SegmentJob, r: RecognitionResult | None) -> None:
        with lock:
            rec.delivered.append((j, r))
            if len(rec.delivered) == total:
                done.set()

    sched = RecognitionScheduler(decode, SchedulerSettings(workers=2))
    try:
        for i in range(total):
            leg = "engineer" if i % 2 else "caller"
            j = SegmentJob(f"call{i % 6}", leg, i, segment(i, 1.0), RATE,
                           Priority.ENGINEER if leg == "engineer" else Priority.AFTER_CALL, deliver)
            sched.submit(j)
        assert done.wait(30)
    finally:
        sched.stop()
    del windows
    assert sorted(j.seq for j, _ in rec.delivered) == list(range(total))
    assert sched.stats().windows_total < total  # several segments per window


# -- the call's pipeline ---------------------------------------------------------------------

def tone_frames(spans: list[tuple[float, float]], seconds: float) -> np.ndarray:
    """Loud noise bursts (voiced to webrtcvad) at ``spans``, silence elsewhere."""
    rng = np.random.default_rng(7)
    pcm = np.zeros(round(seconds * RATE), dtype=np.int16)
    t = np.arange(len(pcm)) / RATE
    for a, b in spans:
        n = round((b - a) * RATE)
        i = round(a * RATE)
        voice = 6000 * np.sin(2 * np.pi * 180 * t[i:i + n]) * (1 + 0.5 * np.sin(2 * np.pi * 4 * t[i:i + n]))
        pcm[i:i + n] = (voice + rng.normal(0, 800, n)).astype(np.int16)
    return pcm


class HeldDecoder:
    """Answers each window only when the test releases it; words say which segment they are."""

    def __init__(self, say: dict[float, str]) -> None:
        self.say = say
        self.release = threading.Semaphore(0)

    def __call__(self, segments: Sequence[SpeechSegment], rate: int) -> list[RecognitionResult | None]:
        self.release.acquire()
        out: list[RecognitionResult | None] = []
        for s in segments:
            text = next(v for k, v in self.say.items() if s.start <= k <= s.end)
            out.append(RecognitionResult(text, True, s.speech_start, s.speech_end))
        return out


def test_live_call_hears_a_forbidden_phrase_through_the_scheduler_and_defers_nothing_it_needs() -> None:
    # Engineer bursts at 1–2.5 s and 4–5.5 s; a caller burst at 2–3.5 s.
    engineer = tone_frames([(1.0, 2.5), (4.0, 5.5)], 8.0)
    caller = tone_frames([(2.0, 3.5)], 8.0)
    decoder = HeldDecoder({1.5: "你好，我是桌面工程师张伟", 4.5: "这个问题我们不管", 2.5: "打印机连不上"})
    sched = RecognitionScheduler(decoder, SchedulerSettings(workers=1, caller_budget_s=1000))
    events: list[LiveEvent] = []
    analyzer = LiveCallAnalyzer("c1", engineer="张伟", rules=load_rules(), engine="whisper",
                                started_at=datetime(2026, 11, 24, 10, tzinfo=ZoneInfo("Asia/Shanghai")),
                                engineer_joined_at=0.5, scheduler=sched, on_event=events.append)
    try:
        for i in range(0, len(engineer), 160):
            analyzer.feed("engineer", 0.5 + i / RATE, engineer[i:i + 160])
            analyzer.feed("caller", 0.5 + i / RATE, caller[i:i + 160])
        # Feeding never waited for recognition: nothing decoded yet.
        assert not [e for e in events if isinstance(e, UtteranceHeard)]
        for _ in range(10):
            decoder.release.release()
        result = analyzer.finish(8.5)
    finally:
        sched.stop()
    heard = [(e.utterance.speaker, e.utterance.text) for e in events if isinstance(e, UtteranceHeard)]
    engineer_said = [t for s, t in heard if s == "engineer"]
    assert engineer_said == ["你好，我是桌面工程师张伟", "这个问题我们不管"]  # in the order said
    assert ("caller", "打印机连不上") in heard
    refusals = [e.finding for e in events if isinstance(e, FindingDecided) and e.finding.clause == "3.5(1)"]
    assert refusals and refusals[0].start >= 4.5  # on the recording's clock (joined at 0.5 s)
    assert {f.clause for f in result.findings} >= {"3.5(1)", "3.4(a)"}


def test_a_deferred_caller_segment_is_heard_after_the_call_and_scored() -> None:
    engineer = tone_frames([(1.0, 2.5)], 6.0)
    caller = tone_frames([(3.0, 4.5)], 6.0)
    decoder = HeldDecoder({1.5: "你好，我是桌面工程师张伟", 3.5: "我要投诉，你们的服务太慢了"})
    clock = FakeClock()
    sched = RecognitionScheduler(decoder, SchedulerSettings(workers=0, caller_budget_s=2.0), clock=clock)
    events: list[LiveEvent] = []
    analyzer = LiveCallAnalyzer("c1", engineer="张伟", rules=load_rules(), engine="whisper",
                                started_at=datetime(2026, 11, 24, 10, tzinfo=ZoneInfo("Asia/Shanghai")),
                                scheduler=sched, on_event=events.append)
    for i in range(0, len(engineer), 160):
        analyzer.feed("engineer", i / RATE, engineer[i:i + 160])
        analyzer.feed("caller", i / RATE, caller[i:i + 160])
    clock.now += 3.0  # the caller segment has waited past its budget
    for _ in range(10):
        decoder.release.release()
    sched.drain()
    assert sched.stats().deferred_total == 1
    assert [e.utterance.speaker for e in events if isinstance(e, UtteranceHeard)] == ["engineer"]

    finishing = threading.Thread(target=lambda: results.append(analyzer.finish(6.0)))
    results: list = []
    finishing.start()
    deadline = 100
    while finishing.is_alive() and deadline:  # finish queued it after the call: decode it here
        sched.drain()
        finishing.join(0.05)
        deadline -= 1
    assert results, "finish returned once the deferred segment was heard"
    assert ("caller", "我要投诉，你们的服务太慢了") in [
        (e.utterance.speaker, e.utterance.text) for e in events if isinstance(e, UtteranceHeard)]
    assert any(f.clause == "3.3(6)" for f in results[0].findings)  # the complaint was scored


def test_with_two_workers_one_is_kept_for_engineer_speech() -> None:
    started: list[str] = []
    gate = threading.Semaphore(0)
    seen = threading.Condition()

    def decode(segments: Sequence[SpeechSegment], rate: int) -> list[RecognitionResult | None]:
        with seen:
            started.append(f"{len(segments)}@{segments[0].start:g}")
            seen.notify_all()
        gate.acquire()
        return text_by_start(segments, rate)

    rec = Recorder()
    sched = RecognitionScheduler(decode, SchedulerSettings(workers=2, fill_s=3.0, caller_budget_s=1000))
    try:
        sched.submit(job(rec, "caller", 0, 2.0))  # segment starts at 0 s
        with seen:
            assert seen.wait_for(lambda: len(started) == 1, 10)
        sched.submit(job(rec, "caller", 1, 2.0))  # at 10 s: must wait, the other worker is kept
        sched.submit(job(rec, "engineer", 2, 2.0))  # at 20 s: takes the kept worker at once
        with seen:
            assert seen.wait_for(lambda: len(started) == 2, 10)
        assert started == ["1@0", "1@20"]
        for _ in range(3):
            gate.release()
        with seen:
            assert seen.wait_for(lambda: len(started) == 3, 10)
        assert started[2] == "1@10"  # the second caller segment, once a caller window ended
        gate.release()
    finally:
        for _ in range(3):
            gate.release()
        sched.stop()
    assert sorted(j.seq for j, _ in rec.delivered) == [0, 1, 2]


def test_a_caller_segment_that_expires_while_the_call_finishes_is_still_heard() -> None:
    engineer = tone_frames([(1.0, 2.5)], 6.0)
    caller = tone_frames([(3.0, 4.5)], 6.0)
    decoder = HeldDecoder({1.5: "你好，我是桌面工程师张伟", 3.5: "我要投诉，你们的服务太慢了"})
    clock = FakeClock()
    sched = RecognitionScheduler(decoder, SchedulerSettings(workers=0, caller_budget_s=2.0), clock=clock)
    events: list[LiveEvent] = []
    analyzer = LiveCallAnalyzer("c1", engineer="张伟", rules=load_rules(), engine="whisper",
                                started_at=datetime(2026, 11, 24, 10, tzinfo=ZoneInfo("Asia/Shanghai")),
                                scheduler=sched, on_event=events.append)
    for i in range(0, len(engineer), 160):
        analyzer.feed("engineer", i / RATE, engineer[i:i + 160])
        analyzer.feed("caller", i / RATE, caller[i:i + 160])
    results: list = []
    finishing = threading.Thread(target=lambda: results.append(analyzer.finish(6.0)))
    finishing.start()  # the caller segment is still queued, live, when the call ends
    finishing.join(0.2)
    clock.now += 3.0  # ...and only now passes its budget
    for _ in range(10):
        decoder.release.release()
    for _ in range(100):
        sched.drain()
        finishing.join(0.05)
        if not finishing.is_alive():
            break
    assert results, "finish returned (it used to wait for a segment deferred after it had looked)"
    assert ("caller", "我要投诉，你们的服务太慢了") in [
        (e.utterance.speaker, e.utterance.text) for e in events if isinstance(e, UtteranceHeard)]
