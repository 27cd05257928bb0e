"""Announcements made of tones: the fallback when no recordings load, and test stand-ins.

Each prompt has its own pitch so that a test (or a person on the phone) can tell them
apart; ringback follows the Chinese cadence, 450 Hz, 1 s on and 4 s off.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

RATE = 8000


def tone(freq_hz: float, seconds: float, level: float = 0.25) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms fades: no clicks
    return (np.sin(2 * np.pi * freq_hz * t) * ramp * level * 32767).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


class TonePrompts:
    """Implements ``ivr.contracts.Prompts`` with distinguishable tone sequences."""

    def greeting(self, line_id: str) -> np.ndarray:
        return np.concatenate([tone(523, 0.4), tone(659, 0.4), tone(784, 0.5)])

    def after_hours(self, line_id: str, next_opening: datetime | None, web_url: str,
                    now: datetime | None = None) -> np.ndarray:
        return np.concatenate([tone(392, 0.5), silence(0.1), tone(330, 0.5)])

    def next_engineer(self) -> np.ndarray:
        return np.concatenate([tone(880, 0.3), silence(0.1), tone(880, 0.3)])

    def nobody_available(self) -> np.ndarray:
        return np.concatenate([tone(300, 0.6), tone(250, 0.6)])

    def beep(self) -> np.ndarray:
        return tone(1000, 0.3)

    def ringback(self, seconds: float) -> np.ndarray:
        n = int(seconds * RATE)
        cycle = np.concatenate([tone(450, 1.0), silence(4.0)])
        reps = n // len(cycle) + 1
        return np.tile(cycle, reps)[:n]
