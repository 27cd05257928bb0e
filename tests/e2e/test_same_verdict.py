"""Same audio, same verdict: a call replayed gives the same findings, offline and live.

Decoding is beam search at temperature 0 with no sampling fallback
(``WhisperWindowDecoder``), so nothing random is left between the audio and the rules.
The live replay goes through the node's threaded scheduler fed at full speed, so its
segments are packed into windows as they queue up, and which segments share a window
depends on how busy the machine is. Whisper's punctuation and its word timings shift a
little with a segment's window-mates, so live replays must agree on every verdict (clause,
rule, pass/fail) and on the times to within a packing's timing shift; the words quoted as
evidence may differ by a character (为/喂, a trailing 了). The file path, whose windows depend
only on the audio, must agree exactly, words included.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from speech.audio import load_call_audio
from speech.call_analysis import analyze_call
from speech.engines.whisper_engine import WhisperWindowDecoder
from speech.live_call import LiveCallAnalyzer
from speech.qa.rulefile import load_rules
from speech.recognition_scheduler import RecognitionScheduler, SchedulerSettings

pytestmark = pytest.mark.slow
CALLS = Path(__file__).parents[1] / "fixtures" / "audio" / "calls"
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def verdicts(findings: list) -> list[tuple]:
    return [(f.clause, f.rule_id, f.verdict, f.start, f.end, f.heard) for f in findings]


def live_verdicts(findings: list) -> list[tuple]:
    return [(f.clause, f.rule_id, f.verdict) for f in findings]


def live_times(findings: list) -> list[tuple[float, float]]:
    return [(f.start, f.end) for f in findings]


def test_analyzing_a_recording_twice_gives_identical_findings() -> None:
    audio = load_call_audio(CALLS / "bad_zhangwei.wav")
    runs = [analyze_call(audio, engineer="张伟", rules=load_rules(), engine="whisper", started_at=T0)
            for _ in range(2)]
    assert verdicts(runs[0].findings) == verdicts(runs[1].findings)
    assert [f.clause for f in runs[0].findings if f.verdict == "fail"]  # it is a bad call
    assert [u.text for u in runs[0].utterances] == [u.text for u in runs[1].utterances]


def test_replaying_a_live_call_twice_gives_identical_findings() -> None:
    audio = load_call_audio(CALLS / "bad_zhangwei.wav")
    scheduler = RecognitionScheduler(WhisperWindowDecoder().decode, SchedulerSettings(workers=1))
    results = []
    try:
        for run in range(2):
            analyzer = LiveCallAnalyzer(f"replay{run}", engineer="张伟", rules=load_rules(), engine="whisper",
                                        started_at=T0, engineer_joined_at=0.0, scheduler=scheduler)
            for i in range(0, len(audio.engineer), 160):
                analyzer.feed("caller", i / 8000, audio.caller[i:i + 160])
                analyzer.feed("engineer", i / 8000, audio.engineer[i:i + 160])
            results.append(analyzer.finish(audio.duration_s))
    finally:
        scheduler.stop()
    assert live_verdicts(results[0].findings) == live_verdicts(results[1].findings)
    first, second = (live_times(result.findings) for result in results)
    for (start0, end0), (start1, end1) in zip(first, second, strict=True):
        assert abs(start0 - start1) <= 0.3 and abs(end0 - end1) <= 0.3
    assert {"3.5(1)", "3.5(2)"} <= {f.clause for f in results[0].findings if f.verdict == "fail"}
