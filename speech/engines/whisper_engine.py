"""The accurate engine: faster-whisper (CTranslate2, int8, CPU) on one speech segment at a time.

Whisper is not a streaming model, so the leg goes through the VAD segmenter and each
closed segment is decoded on its own: a final result per stretch of speech, no
partials. Audio is resampled to 16 kHz (Whisper's rate). Output is made simplified
Chinese (Whisper mixes in traditional characters); punctuation stays in ``text`` for
people to read, and the rules normalise it away. One model per process, shared.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from models.records import Word
from speech.audio import resample
from speech.engines.base import EngineUnavailableError, RecognitionResult, Recognizer
from speech.engines.model_locator import find_whisper_model
from speech.text import to_simplified
from speech.vad import SpeechSegment, SpeechSegmenter

try:
    from faster_whisper import WhisperModel
except ImportError:  # pragma: no cover - depends on the installation
    WhisperModel = None

WHISPER_RATE = 16000
LANGUAGE = "zh"
BEAM_SIZE = 5
# No initial_prompt by default: measured on the tts hotline utterances, a prompt of hotline
# vocabulary (桌面工程师，电脑，打印机，…) added invented trailing words (e01 "…我认识你了",
# e04 "…暗示") and made decoding ~10× slower; without it the CER over all 21 is 0.112.
# Whisper's own rule for "this was not speech" (no_speech_prob high and the text unlikely):
# on noise it otherwise invents subtitles credits and the like.
NO_SPEECH_PROB = 0.6
LOW_AVG_LOGPROB = -1.0

_models: dict[tuple[str, int], object] = {}
_models_lock = threading.Lock()


def default_cpu_threads() -> int:
    # Two legs of a call and the SIP side share the machine: leave a core free where possible.
    cores = os.cpu_count() or 1
    return max(1, min(4, cores - 1)) if cores > 2 else cores


def load_whisper_model(model_dir: Path, cpu_threads: int) -> object:
    """The process-wide ``WhisperModel`` for a directory (loaded on first use)."""
    if WhisperModel is None:
        raise EngineUnavailableError(
            "the Whisper engine needs the 'faster-whisper' package: pip install faster-whisper"
        )
    key = (str(model_dir.resolve()), cpu_threads)
    with _models_lock:
        if key not in _models:
            _models[key] = WhisperModel(
                key[0], device="cpu", compute_type="int8", cpu_threads=cpu_threads
            )
        return _models[key]


class WhisperRecognizer(Recognizer):
    name = "whisper"

    def __init__(
        self,
        sample_rate: int,
        model_path: str | Path | None = None,
        *,
        cpu_threads: int | None = None,
        initial_prompt: str | None = None,
    ) -> None:
        super().__init__(sample_rate)
        self.model_dir = find_whisper_model(model_path)
        self._model = load_whisper_model(self.model_dir, cpu_threads or default_cpu_threads())
        self._segmenter = SpeechSegmenter(sample_rate)
        self.initial_prompt = initial_prompt

    def accept(self, pcm: np.ndarray, t: float) -> list[RecognitionResult]:
        pcm = np.asarray(pcm)
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(f"Whisper needs 1-D int16 samples, got {pcm.dtype} with shape {pcm.shape}")
        return [r for seg in self._segmenter.feed(pcm, t) for r in self.decode_segment(seg)]

    def finish(self) -> list[RecognitionResult]:
        return [r for seg in self._segmenter.flush() for r in self.decode_segment(seg)]

    def decode_segment(self, segment: SpeechSegment) -> list[RecognitionResult]:
        """One VAD segment to at most one final result, times in leg time."""
        audio = resample(segment.pcm, self.sample_rate, WHISPER_RATE).astype(np.float32) / 32768.0
        pieces, _info = self._model.transcribe(
            audio,
            language=LANGUAGE,
            beam_size=BEAM_SIZE,
            word_timestamps=True,
            vad_filter=False,  # our VAD already cut the speech out
            condition_on_previous_text=False,
            initial_prompt=self.initial_prompt,
        )
        texts: list[str] = []
        words: list[Word] = []
        logprobs: list[float] = []
        # Whisper pins the first word to the start of what it was given (our pre-roll) and
        # may let the last one run into the tail: keep word times inside the voiced part.
        lo, hi = segment.speech_start, segment.speech_end
        for piece in pieces:
            if piece.no_speech_prob > NO_SPEECH_PROB and piece.avg_logprob < LOW_AVG_LOGPROB:
                continue
            texts.append(to_simplified(piece.text.strip()))
            logprobs.append(float(piece.avg_logprob))
            for w in piece.words or []:
                text = to_simplified(w.word.strip())
                if not text:
                    continue
                start = float(min(max(segment.start + w.start, lo), hi))
                end = float(min(max(segment.start + w.end, lo), hi))
                words.append(Word(text=text, start=round(start, 3), end=round(max(end, start), 3),
                                  confidence=round(float(w.probability), 3)))
        text = "".join(texts).strip()
        if not text:
            return []
        if words:
            confidence = float(np.mean([w.confidence for w in words]))
            start, end = words[0].start, words[-1].end
        else:
            confidence = float(np.exp(np.mean(logprobs)))
            start, end = round(segment.speech_start, 3), round(segment.speech_end, 3)
        return [RecognitionResult(text=text, is_final=True, start=start, end=end, words=words,
                                  confidence=round(confidence, 3))]
