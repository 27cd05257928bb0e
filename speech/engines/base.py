"""The one interface every recogniser implements: PCM frames in, results out.

A recogniser is fed 16-bit mono PCM at the rate it was created for, in frames of any
length, each with the time (seconds from the start of the leg) of its first sample.
It returns partial results while speech is going on and a final result when it has
decided a stretch of speech; ``finish`` flushes what is left. Word times are seconds
from the start of the leg, so results from live calls and from files look the same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from models.records import Word


class ModelNotFoundError(RuntimeError):
    """No model files for an engine; the message says exactly how to get them."""


class EngineUnavailableError(RuntimeError):
    """The engine's library is not installed."""


@dataclass
class RecognitionResult:
    text: str
    is_final: bool
    start: float
    end: float
    words: list[Word] = field(default_factory=list)
    confidence: float = 1.0


class Recognizer(ABC):
    name: str = ""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate

    @abstractmethod
    def accept(self, pcm: np.ndarray, t: float) -> list[RecognitionResult]:
        """Feed int16 mono samples starting at time ``t``; return partials and finals."""

    @abstractmethod
    def finish(self) -> list[RecognitionResult]:
        """End of the leg: return the remaining final results."""
