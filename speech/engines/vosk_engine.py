"""The live engine: Vosk (Kaldi) streaming recognition with partials and word times.

Vosk decides its own endpoints, so the whole leg is fed to it continuously; it
answers with partial text while someone is speaking and a final result with word
times and confidences at each endpoint. Its times count samples fed, so they are
shifted to leg time here. Models are big and slow to load: one ``vosk.Model`` per
model directory per process, shared by every leg and call.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from models.records import Word
from speech.engines.base import EngineUnavailableError, RecognitionResult, Recognizer
from speech.engines.model_locator import find_vosk_model

try:
    import vosk
except ImportError:  # pragma: no cover - depends on the installation
    vosk = None

_models: dict[str, object] = {}
_models_lock = threading.Lock()
# A hole in the stream longer than this ends the current utterance instead of being filled.
MAX_GAP_FILL_S = 1.0


def load_vosk_model(model_dir: Path) -> object:
    """The process-wide ``vosk.Model`` for a directory (loaded on first use)."""
    if vosk is None:
        raise EngineUnavailableError("the Vosk engine needs the 'vosk' package: pip install vosk")
    key = str(model_dir.resolve())
    with _models_lock:
        if key not in _models:
            vosk.SetLogLevel(-1)  # Kaldi logs every model load to stderr otherwise
            _models[key] = vosk.Model(key)
        return _models[key]


class VoskRecognizer(Recognizer):
    name = "vosk"

    def __init__(self, sample_rate: int, model_path: str | Path | None = None) -> None:
        super().__init__(sample_rate)
        if sample_rate not in (8000, 16000):
            raise ValueError(f"Vosk recogniser takes 8000 or 16000 Hz audio, got {sample_rate} Hz")
        self.model_dir = find_vosk_model(model_path)
        self._model = load_vosk_model(self.model_dir)
        # The models' mfcc.conf allow upsampling, so 8 kHz phone audio goes in as it is
        # (measured: same words as feeding it upsampled to 16 kHz).
        self._kaldi = self._new_kaldi()
        self._origin: float | None = None  # leg time of the first sample fed to _kaldi
        self._fed = 0  # samples fed to _kaldi since its origin
        self._last_partial = ""

    def _new_kaldi(self) -> object:
        rec = vosk.KaldiRecognizer(self._model, float(self.sample_rate))
        rec.SetWords(True)
        rec.SetPartialWords(True)
        return rec

    def accept(self, pcm: np.ndarray, t: float) -> list[RecognitionResult]:
        pcm = np.asarray(pcm)
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(f"Vosk needs 1-D int16 samples, got {pcm.dtype} with shape {pcm.shape}")
        out: list[RecognitionResult] = []
        if self._origin is None:
            self._origin = t
        else:
            gap = t - (self._origin + self._fed / self.sample_rate)
            if gap > MAX_GAP_FILL_S:
                out += self._final(self._kaldi.FinalResult())
                self._kaldi = self._new_kaldi()
                self._origin, self._fed = t, 0
            elif gap * self.sample_rate >= 1:
                pcm = np.concatenate([np.zeros(round(gap * self.sample_rate), np.int16), pcm])
        self._fed += len(pcm)
        if self._kaldi.AcceptWaveform(pcm.tobytes()):
            out += self._final(self._kaldi.Result())
        else:
            out += self._partial(self._kaldi.PartialResult())
        return out

    def finish(self) -> list[RecognitionResult]:
        out = self._final(self._kaldi.FinalResult())
        self._kaldi = self._new_kaldi()
        self._origin, self._fed = None, 0
        return out

    def _partial(self, raw: str) -> list[RecognitionResult]:
        data = json.loads(raw)
        text = data.get("partial", "").strip()
        if not text or text == self._last_partial:
            return []
        self._last_partial = text
        words = self._words(data.get("partial_result", []))
        now = self._origin + self._fed / self.sample_rate
        start = words[0].start if words else now
        return [RecognitionResult(text=text, is_final=False, start=start, end=now, words=words)]

    def _final(self, raw: str) -> list[RecognitionResult]:
        self._last_partial = ""
        data = json.loads(raw)
        text = data.get("text", "").strip()
        words = self._words(data.get("result", []))
        if not text or not words:
            return []
        confidence = float(np.mean([w.confidence for w in words]))
        return [RecognitionResult(text=text, is_final=True, start=words[0].start, end=words[-1].end,
                                  words=words, confidence=round(confidence, 3))]

    def _words(self, items: list[dict]) -> list[Word]:
        origin = self._origin or 0.0
        return [
            Word(text=w["word"], start=round(origin + float(w["start"]), 3),
                 end=round(origin + float(w["end"]), 3),
                 confidence=round(float(w.get("conf", 1.0)), 3))
            for w in items
        ]
