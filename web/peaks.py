"""Waveform peaks for the call page: a few hundred (min, max) pairs per channel.

The browser draws these on a canvas instead of decoding the whole recording. The
recording is stereo, caller on the left channel and engineer on the right (see
DESIGN.md); a mono file is shown as one channel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

CHANNEL_NAMES = ("caller", "engineer")


class AudioUnavailable(Exception):
    """The call has no readable recording."""


def compute_peaks(path: str | Path, buckets: int = 800) -> dict[str, Any]:
    """``{"duration": s, "sample_rate": hz, "channels": {"caller": [[min, max], ...], ...}}``."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioUnavailable(f"cannot read recording {path}: {exc}") from exc
    frames = data.shape[0]
    names = CHANNEL_NAMES if data.shape[1] == 2 else tuple(f"channel{i + 1}" for i in range(data.shape[1]))
    channels: dict[str, list[list[float]]] = {}
    n = min(buckets, max(frames, 1))
    edges = np.linspace(0, frames, n + 1).astype(int)
    for idx, name in enumerate(names):
        col = data[:, idx]
        pairs = []
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            chunk = col[a : max(b, a + 1)] if frames else np.zeros(1, dtype=np.float32)
            pairs.append([round(float(chunk.min()), 4), round(float(chunk.max()), 4)])
        channels[name] = pairs
    return {"duration": frames / rate if rate else 0.0, "sample_rate": rate, "channels": channels}
