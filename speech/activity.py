"""When each leg spoke and how loud: the audio side of the 3.3(1) manner checks.

``LegActivity`` is the record; ``measure_leg_activity`` fills it from a leg's samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from speech.vad import find_speech


@dataclass
class LegActivity:
    speaker: str  # "caller" | "engineer"
    speech_spans: list[tuple[float, float]] = field(default_factory=list)  # seconds, from VAD
    loudness_dbfs: float | None = None  # RMS over the speech spans; None when the leg is silent
    peak_dbfs: float | None = None
    duration_s: float = 0.0


def _dbfs(value: float) -> float:
    return round(20.0 * math.log10(value / 32768.0), 2)


def measure_leg_activity(pcm: np.ndarray, sample_rate: int, speaker: str) -> LegActivity:
    """Speech spans (webrtcvad), RMS loudness over those spans and the leg's peak, in dBFS."""
    pcm = np.asarray(pcm, dtype=np.int16)
    segments = find_speech(pcm, sample_rate)
    spans = [(round(s.speech_start, 3), round(s.speech_end, 3)) for s in segments]
    loudness = None
    if spans:
        speech = np.concatenate(
            [pcm[int(a * sample_rate):int(b * sample_rate)] for a, b in spans]
        ).astype(np.float64)
        rms = math.sqrt(float(np.mean(speech**2))) if len(speech) else 0.0
        loudness = _dbfs(rms) if rms > 0 else None
    peak_sample = int(np.max(np.abs(pcm.astype(np.int32)))) if len(pcm) else 0
    return LegActivity(
        speaker=speaker,
        speech_spans=spans,
        loudness_dbfs=loudness,
        peak_dbfs=_dbfs(peak_sample) if peak_sample else None,
        duration_s=len(pcm) / sample_rate,
    )
