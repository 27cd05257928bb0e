"""speech.transcribe: recogniser results become speaker-tagged events and utterances at leg times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from models.records import Word
from speech.engines import create_recognizer
from speech.engines.base import RecognitionResult, Recognizer
from speech.text import normalize_transcript
from speech.transcribe import LegTranscriber, transcribe_leg


class ScriptedRecognizer(Recognizer):
    """Unit-test double: answers each accept() with the next scripted batch of results."""

    name = "scripted"

    def __init__(self, batches: list[list[RecognitionResult]]) -> None:
        super().__init__(8000)
        self.batches = batches
        self.fed: list[tuple[int, float]] = []

    def accept(self, pcm: np.ndarray, t: float) -> list[RecognitionResult]:
        self.fed.append((len(pcm), t))
        return self.batches.pop(0) if self.batches else []

    def finish(self) -> list[RecognitionResult]:
        return [RecognitionResult("再见", True, 3.0, 3.5, [Word("再见", 3.0, 3.5, 0.8)], 0.8)]


def test_partials_are_events_and_finals_carry_an_utterance() -> None:
    rec = ScriptedRecognizer([
        [RecognitionResult("你好", False, 0.5, 0.9)],
        [RecognitionResult("你好我是张伟", True, 0.5, 1.6, [Word("你好", 0.5, 0.9, 0.9)], 0.9)],
    ])
    leg = LegTranscriber("engineer", rec)
    partial = leg.feed(np.zeros(160, np.int16), 0.0)
    final = leg.feed(np.zeros(160, np.int16), 0.02)
    end = leg.finish()
    assert [(e.is_final, e.utterance) for e in partial] == [(False, None)]
    assert partial[0].speaker == "engineer" and partial[0].text == "你好"
    utt = final[0].utterance
    assert utt is not None
    assert (utt.speaker, utt.start, utt.end, utt.text, utt.confidence, utt.engine) == (
        "engineer", 0.5, 1.6, "你好我是张伟", 0.9, "scripted")
    assert utt.words == [Word("你好", 0.5, 0.9, 0.9)]
    assert end[0].utterance is not None and end[0].utterance.text == "再见"
    assert rec.fed == [(160, 0.0), (160, 0.02)]


def test_speaker_must_be_a_leg() -> None:
    with pytest.raises(ValueError, match="speaker must be 'caller' or 'engineer', got 'agent'"):
        LegTranscriber("agent", ScriptedRecognizer([]))  # type: ignore[arg-type]


def test_transcribe_leg_checks_chunk_size() -> None:
    with pytest.raises(ValueError, match="chunk_s must be between 0.02 and 1 s"):
        transcribe_leg(np.zeros(8000, np.int16), 8000, "caller", "whisper", chunk_s=5.0)


@pytest.mark.slow
@pytest.mark.parametrize("chunk_s", [0.02, 1.0])
def test_whisper_utterance_is_where_the_speech_is(audio_dir: Path, chunk_s: float) -> None:
    speech, sr = sf.read(audio_dir / "tts" / "e13.wav", dtype="int16")
    silence = np.zeros(2 * sr, np.int16)
    pcm = np.concatenate([silence, speech, silence])
    seen: list[tuple[float, float]] = []
    utts = transcribe_leg(pcm, sr, "engineer", "whisper", progress=lambda d, t: seen.append((d, t)),
                          chunk_s=chunk_s)
    assert len(utts) == 1
    utt = utts[0]
    assert (utt.speaker, utt.engine) == ("engineer", "whisper")
    assert "三点" in normalize_transcript(utt.text)
    # The speech starts 2 s in (the clip itself starts with ~0.05 s of lead-in).
    assert utt.start == pytest.approx(2.0, abs=0.3)
    assert utt.end == pytest.approx(2.0 + len(speech) / sr, abs=0.4)
    assert all(2.0 - 0.3 <= w.start <= w.end <= 2.0 + len(speech) / sr + 0.3 for w in utt.words)
    total = len(pcm) / sr
    assert seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.slow
def test_live_style_20ms_frames_on_the_call_clock(audio_dir: Path) -> None:
    speech, sr = sf.read(audio_dir / "tts" / "e06.wav", dtype="int16")
    leg = LegTranscriber("engineer", create_recognizer("whisper", sr))
    events = []
    t0 = 30.0  # the engineer's leg joined the call 30 s in
    pcm = np.concatenate([speech, np.zeros(sr, np.int16)])
    for i in range(0, len(pcm), 160):
        events += leg.feed(pcm[i:i + 160], t0 + i / sr)
    # The final arrives during the trailing silence (VAD hangover), not only at finish().
    assert [e.is_final for e in events] == [True]
    assert leg.finish() == []
    utt = events[0].utterance
    assert utt is not None and "不清楚" in normalize_transcript(utt.text)
    assert utt.start == pytest.approx(t0, abs=0.3)
