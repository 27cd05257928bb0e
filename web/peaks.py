"""Waveform peaks for the call page: a few hundred (min, max) pairs per channel.

The browser draws these on a canvas instead of decoding the whole recording. They are
computed once per recording and bucket count, reading the file block by block (memory
stays small for an hour-long call), and kept in the store; a changed file (size or
modification time) is computed again. The
recording is stereo, caller on the left channel and engineer on the right (see
DESIGN.md); a mono file is shown as one channel.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from models.store import Store

CHANNEL_NAMES = ("caller", "engineer")


class AudioUnavailable(Exception):
    """The call has no readable recording."""


def stored_peaks(store: Store, call_id: str, path: Path, buckets: int) -> dict[str, Any]:
    """The peaks of ``call_id``'s recording at ``path``, from the store when already computed."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise AudioUnavailable(f"cannot read recording {path}: {exc}") from exc
    key = (call_id, buckets, str(path), stat.st_size, stat.st_mtime_ns)
    cached = store.stored_peaks(*key)
    if cached is not None:
        return json.loads(cached)
    peaks = compute_peaks(path, buckets)
    store.store_peaks(*key, json.dumps(peaks))
    return peaks


BLOCK_FRAMES = 65536


def compute_peaks(path: str | Path, buckets: int = 800) -> dict[str, Any]:
    """``{"duration": s, "sample_rate": hz, "channels": {"caller": [[min, max], ...], ...}}``."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    try:
        with sf.SoundFile(str(path)) as f:
            frames, rate, n_channels = f.frames, f.samplerate, f.channels
            n = min(buckets, max(frames, 1))
            edges = np.linspace(0, frames, n + 1).astype(np.int64)
            lows = np.full((n, n_channels), np.inf, dtype=np.float32)
            highs = np.full((n, n_channels), -np.inf, dtype=np.float32)
            offset = 0
            for block in f.blocks(blocksize=BLOCK_FRAMES, dtype="float32", always_2d=True):
                idx = np.searchsorted(edges, np.arange(offset, offset + len(block)), side="right") - 1
                idx = np.clip(idx, 0, n - 1)
                starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
                rows = idx[starts]
                lows[rows] = np.minimum(lows[rows], np.minimum.reduceat(block, starts, axis=0))
                highs[rows] = np.maximum(highs[rows], np.maximum.reduceat(block, starts, axis=0))
                offset += len(block)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioUnavailable(f"cannot read recording {path}: {exc}") from exc
    # An empty bucket (more buckets than frames cannot happen; an empty file can) reads as silence.
    lows[~np.isfinite(lows)] = 0.0
    highs[~np.isfinite(highs)] = 0.0
    names = CHANNEL_NAMES if n_channels == 2 else tuple(f"channel{i + 1}" for i in range(n_channels))
    channels = {
        name: [
            [round(float(lo), 4), round(float(hi), 4)] for lo, hi in zip(lows[:, i], highs[:, i], strict=True)
        ]
        for i, name in enumerate(names)
    }
    return {"duration": frames / rate if rate else 0.0, "sample_rate": rate, "channels": channels}
