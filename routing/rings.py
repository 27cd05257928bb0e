"""Ring time to rings, with the Chinese ring cadence (1 s on, 4 s off) of 3.3(2).

Ring n starts at (n-1)·(on+off) seconds; a call answered at t has rung
floor(t / period) + 1 times. "Within three rings" means answered before the fourth
ring starts: t < 3·period = 15 s.
"""

from __future__ import annotations

import math


def rings_for(ring_time_s: float, on_s: float = 1.0, off_s: float = 4.0) -> int:
    if ring_time_s < 0:
        raise ValueError(f"ring time {ring_time_s} s is negative")
    return math.floor(ring_time_s / (on_s + off_s)) + 1


def within_limit(ring_time_s: float, max_rings: int = 3, on_s: float = 1.0, off_s: float = 4.0) -> bool:
    return rings_for(ring_time_s, on_s, off_s) <= max_rings
