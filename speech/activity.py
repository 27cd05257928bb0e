"""When each leg spoke and how loud: the audio side of the 3.3(1) manner checks."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LegActivity:
    speaker: str  # "caller" | "engineer"
    speech_spans: list[tuple[float, float]] = field(default_factory=list)  # seconds, from VAD
    loudness_dbfs: float | None = None  # RMS over the speech spans; None when the leg is silent
    peak_dbfs: float | None = None
    duration_s: float = 0.0
