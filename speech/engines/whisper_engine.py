"""The accurate engine: faster-whisper (CTranslate2, int8, CPU) on closed speech segments.

Whisper is not a streaming model, so a leg goes through the VAD segmenter and closed
segments are decoded: a final result per stretch of speech, no partials.
``WhisperWindowDecoder`` packs several segments into one encoder window
(``speech.segment_packing``); ``WhisperRecognizer`` is the one-leg ``Recognizer`` over it.
Audio is resampled to 16 kHz (Whisper's rate). Output is made simplified
Chinese (Whisper mixes in traditional characters); punctuation stays in ``text`` for
people to read, and the rules normalise it away. One model per process, shared.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.records import Word
from speech.audio import resample
from speech.engines.base import EngineUnavailableError, RecognitionResult, Recognizer
from speech.engines.model_locator import find_whisper_model
from speech.segment_packing import GAP_S, Slot, TimedWord, count_that_fit, lay_out, split_pieces
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
# Whisper's own threshold for "this text repeats itself" (gzip compression ratio).
MAX_COMPRESSION_RATIO = 2.4
REPEAT_PENALTY = 1.3
NO_REPEAT_NGRAM = 3

_models: dict[tuple[str, int, int], object] = {}
_models_lock = threading.Lock()


def default_cpu_threads() -> int:
    # Two legs of a call and the SIP side share the machine: leave a core free where possible.
    cores = os.cpu_count() or 1
    return max(1, min(4, cores - 1)) if cores > 2 else cores


def load_whisper_model(model_dir: Path, cpu_threads: int, workers: int = 1) -> object:
    """The process-wide ``WhisperModel`` for a directory (loaded on first use).

    ``workers`` > 1 lets that many threads decode at once (CTranslate2 otherwise runs
    concurrent calls one after another).
    """
    if WhisperModel is None:
        raise EngineUnavailableError(
            "the Whisper engine needs the 'faster-whisper' package: pip install faster-whisper"
        )
    key = (str(model_dir.resolve()), cpu_threads, workers)
    with _models_lock:
        if key not in _models:
            _models[key] = WhisperModel(
                key[0], device="cpu", compute_type="int8", cpu_threads=cpu_threads, num_workers=workers
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
        self.decoder = WhisperWindowDecoder(model_path, cpu_threads=cpu_threads,
                                            initial_prompt=initial_prompt)
        self.model_dir = self.decoder.model_dir
        self._segmenter = SpeechSegmenter(sample_rate)

    def accept(self, pcm: np.ndarray, t: float) -> list[RecognitionResult]:
        pcm = np.asarray(pcm)
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(f"Whisper needs 1-D int16 samples, got {pcm.dtype} with shape {pcm.shape}")
        return [r for seg in self._segmenter.feed(pcm, t) for r in self.decode_segment(seg)]

    def finish(self) -> list[RecognitionResult]:
        return [r for seg in self._segmenter.flush() for r in self.decode_segment(seg)]

    def decode_segment(self, segment: SpeechSegment) -> list[RecognitionResult]:
        """One VAD segment to at most one final result, times in leg time."""
        result = self.decoder.decode([segment], self.sample_rate)[0]
        return [result] if result is not None else []


class WhisperWindowDecoder:
    """Closed VAD segments to final results, several segments per encoder window.

    Decoding is deterministic: beam search at temperature 0 with no fallback to
    sampling, so the same audio always gives the same text (Whisper's default fallback
    re-decodes a doubtful window at rising temperatures, i.e. at random).
    """

    name = "whisper"

    def __init__(self, model_path: str | Path | None = None, *, cpu_threads: int | None = None,
                 workers: int = 1, initial_prompt: str | None = None, gap_s: float = GAP_S) -> None:
        self.model_dir = find_whisper_model(model_path)
        # Several workers share the cores between them.
        threads = cpu_threads or max(1, default_cpu_threads() // workers)
        self._model = load_whisper_model(self.model_dir, threads, workers)
        self.initial_prompt = initial_prompt
        self.gap_s = gap_s
        self.windows_decoded = 0  # encoder windows paid for, for the benchmarks

    def decode(self, segments: Sequence[SpeechSegment], sample_rate: int) -> list[RecognitionResult | None]:
        """One result (or None: nothing was said) per segment, in order, times in leg time."""
        out: list[RecognitionResult | None] = []
        rest = list(segments)
        while rest:
            n = count_that_fit([_duration(s, sample_rate) for s in rest], gap_s=self.gap_s)
            out += self._decode_window(rest[:n], sample_rate)
            rest = rest[n:]
        return out

    def _decode_window(self, segments: list[SpeechSegment],
                       sample_rate: int) -> list[RecognitionResult | None]:
        clips = [resample(s.pcm, sample_rate, WHISPER_RATE).astype(np.float32) / 32768.0 for s in segments]
        slots = lay_out([len(c) / WHISPER_RATE for c in clips], self.gap_s)
        gap = np.zeros(round(self.gap_s * WHISPER_RATE), dtype=np.float32)
        window = np.concatenate([part for c in clips for part in (c, gap)][:-1])
        pieces = self._transcribe(window)
        if any(_repeats_itself(p.text) for p in pieces):
            # A repetition loop ("二 三 二 三 …"): decode again, still deterministically, with
            # repeats penalised (Whisper's own remedy, sampling at a higher temperature, is random).
            pieces = self._transcribe(window, repetition_penalty=REPEAT_PENALTY,
                                      no_repeat_ngram_size=NO_REPEAT_NGRAM)
        heard: list[list[TimedWord]] = []
        for piece in pieces:
            if piece.no_speech_prob > NO_SPEECH_PROB and piece.avg_logprob < LOW_AVG_LOGPROB:
                continue
            heard.append([TimedWord(w.word, float(w.start), float(w.end), float(w.probability))
                          for w in piece.words or []])
        self.windows_decoded += 1
        per_slot = split_pieces(heard, slots)
        results = [_result(seg, slot, ws) for seg, slot, ws in zip(segments, slots, per_slot, strict=True)]
        if len(segments) > 1:
            # Whisper sometimes stops early in a packed window: a segment it skipped is heard alone.
            for i, result in enumerate(results):
                if result is None:
                    results[i] = self._decode_window([segments[i]], sample_rate)[0]
        return results


    def _transcribe(self, window: np.ndarray, **decoding: float) -> list:
        pieces, _info = self._model.transcribe(
            window,
            language=LANGUAGE,
            beam_size=BEAM_SIZE,
            temperature=0.0,
            word_timestamps=True,  # the split back to segments and the findings' spans need them
            vad_filter=False,  # our VAD already cut the speech out
            condition_on_previous_text=False,
            initial_prompt=self.initial_prompt,
            **decoding,
        )
        return list(pieces)


def _repeats_itself(text: str) -> bool:
    """Whisper's loop test (gzip compression ratio) on one piece of text.

    faster-whisper's own ``compression_ratio`` is the whole window's: in a packed window
    several calls' "这个问题我们不管" or "好的" compress well together and would trigger it.
    """
    data = text.encode("utf-8")
    return bool(data) and len(data) / len(zlib.compress(data)) > MAX_COMPRESSION_RATIO


def _duration(segment: SpeechSegment, sample_rate: int) -> float:
    return len(segment.pcm) / sample_rate


def _result(segment: SpeechSegment, slot: Slot, heard: list[TimedWord]) -> RecognitionResult | None:
    """The words that fell in one slot, on the segment's leg clock."""
    # Whisper pins the first word to the start of what it was given (our pre-roll) and
    # may let the last one run into the tail: keep word times inside the voiced part.
    lo, hi = segment.speech_start, segment.speech_end
    words: list[Word] = []
    raw: list[str] = []
    for w in heard:
        text = to_simplified(w.text.strip())
        if not text:
            continue
        raw.append(w.text)
        start = float(min(max(segment.start + w.start - slot.offset_s, lo), hi))
        end = float(min(max(segment.start + w.end - slot.offset_s, lo), hi))
        words.append(Word(text=text, start=round(start, 3), end=round(max(end, start), 3),
                          confidence=round(w.probability, 3)))
    text = to_simplified("".join(raw).strip())
    if not text or not words:
        return None
    confidence = float(np.mean([w.confidence for w in words]))
    return RecognitionResult(text=text, is_final=True, start=words[0].start, end=words[-1].end,
                             words=words, confidence=round(confidence, 3))
