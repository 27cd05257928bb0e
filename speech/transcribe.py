"""One leg's audio to utterances: the step between a recogniser and the rules.

``LegTranscriber`` wraps a recogniser for one speaker and turns its results into
events: partial text while speech goes on, and a final ``Utterance`` (speaker, leg
times, text, words, confidence, engine) for each decided stretch. The live phone path
feeds it 20 ms frames; ``transcribe_leg`` feeds a whole file leg through the same class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.records import Speaker, Utterance
from speech.engines import create_recognizer
from speech.engines.base import RecognitionResult, Recognizer

# progress(seconds_done, seconds_total)
LegProgress = Callable[[float, float], None]
FILE_CHUNK_S = 0.5  # chunk size for files: within the 20 ms–1 s a live leg would see


@dataclass
class TranscriptEvent:
    speaker: Speaker
    text: str
    is_final: bool
    start: float
    end: float
    utterance: Utterance | None = None  # set on finals only


class LegTranscriber:
    def __init__(self, speaker: Speaker, recognizer: Recognizer) -> None:
        if speaker not in ("caller", "engineer"):
            raise ValueError(f"speaker must be 'caller' or 'engineer', got {speaker!r}")
        self.speaker = speaker
        self.recognizer = recognizer

    def feed(self, pcm: np.ndarray, t: float) -> list[TranscriptEvent]:
        """int16 samples of this leg starting at leg time ``t``."""
        return [self._event(r) for r in self.recognizer.accept(pcm, t)]

    def finish(self) -> list[TranscriptEvent]:
        return [self._event(r) for r in self.recognizer.finish()]

    def _event(self, result: RecognitionResult) -> TranscriptEvent:
        utterance = None
        if result.is_final:
            utterance = Utterance(
                speaker=self.speaker,
                start=result.start,
                end=result.end,
                text=result.text,
                words=list(result.words),
                confidence=result.confidence,
                engine=self.recognizer.name,
            )
        return TranscriptEvent(self.speaker, result.text, result.is_final, result.start, result.end,
                               utterance)


def transcribe_leg(
    pcm: np.ndarray,
    sample_rate: int,
    speaker: Speaker,
    engine: str,
    model_path: str | None = None,
    progress: LegProgress | None = None,
    chunk_s: float = FILE_CHUNK_S,
) -> list[Utterance]:
    """A whole leg to its final utterances, fed in chunks as a live leg would be."""
    if not 0.02 <= chunk_s <= 1.0:
        raise ValueError(f"chunk_s must be between 0.02 and 1 s, got {chunk_s}")
    pcm = np.asarray(pcm, dtype=np.int16)
    transcriber = LegTranscriber(speaker, create_recognizer(engine, sample_rate, model_path))
    total = len(pcm) / sample_rate
    step = max(1, int(chunk_s * sample_rate))
    events: list[TranscriptEvent] = []
    for offset in range(0, len(pcm), step):
        events += transcriber.feed(pcm[offset:offset + step], offset / sample_rate)
        if progress:
            progress(min(offset + step, len(pcm)) / sample_rate, total)
    events += transcriber.finish()
    if progress:
        progress(total, total)
    return [e.utterance for e in events if e.utterance is not None]
