"""Recogniser engines behind one interface, chosen by name.

``create_recognizer("whisper" | "vosk", sample_rate, model_path)`` builds one;
``available_engines()`` lists the engines whose library and Chinese model are both on
this machine (without loading a model); ``best_engine()`` picks the one to use.
"""

from __future__ import annotations

import importlib.util

from speech.engines.base import EngineUnavailableError, Recognizer
from speech.engines.model_locator import vosk_model_available, whisper_model_available

ENGINES = ("whisper", "vosk")


def create_recognizer(engine: str, sample_rate: int, model_path: str | None = None) -> Recognizer:
    """A new recogniser for one leg (the model itself is loaded once per process)."""
    if engine == "whisper":
        from speech.engines.whisper_engine import WhisperRecognizer

        return WhisperRecognizer(sample_rate, model_path)
    if engine == "vosk":
        from speech.engines.vosk_engine import VoskRecognizer

        return VoskRecognizer(sample_rate, model_path)
    raise EngineUnavailableError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")


def _library_present(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def available_engines() -> list[str]:
    """Engines that can transcribe Chinese here: library installed and a Chinese model present.

    The Korean Vosk model shipped for tests does not count: it cannot hear Chinese.
    """
    engines = []
    if _library_present("faster_whisper") and whisper_model_available():
        engines.append("whisper")
    if _library_present("vosk") and vosk_model_available():
        engines.append("vosk")
    return engines


def best_engine() -> str:
    """Whisper when its model is here (the accurate one), else Vosk."""
    return "whisper" if "whisper" in available_engines() else "vosk"
