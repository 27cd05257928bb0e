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


# A quiet pentatonic phrase (C D E G A) looped as hold music: tones, so no licensed
# recording ships; a site replaces it with ``hold_music.wav`` in prompts_dir.
_HOLD_NOTES = (523, 587, 659, 784, 880, 784, 659, 587)


def hold_music(seconds: float) -> np.ndarray:
    phrase = np.concatenate([np.concatenate([tone(f, 0.35, 0.08), silence(0.05)]) for f in _HOLD_NOTES]
                            + [silence(0.8)])
    n = int(seconds * RATE)
    return np.tile(phrase, n // len(phrase) + 1)[:n]


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

    def queue_position(self, ahead: int, expected_wait_s: float, first: bool) -> np.ndarray:
        # One 600 Hz pip per caller ahead (at most 5), so a test can hear the position.
        pips = [np.concatenate([tone(600, 0.12), silence(0.1)]) for _ in range(min(ahead, 5))]
        return np.concatenate([tone(440, 0.3), silence(0.1), *pips, tone(440, 0.3)])

    def hold_music(self, seconds: float) -> np.ndarray:
        return hold_music(seconds)

    def queue_menu(self) -> np.ndarray:
        return np.concatenate([tone(700, 0.3), silence(0.1), tone(900, 0.3)])

    def callback_promised(self) -> np.ndarray:
        return np.concatenate([tone(900, 0.3), silence(0.1), tone(700, 0.3)])

    def ringback(self, seconds: float) -> np.ndarray:
        n = int(seconds * RATE)
        cycle = np.concatenate([tone(450, 1.0), silence(4.0)])
        reps = n // len(cycle) + 1
        return np.tile(cycle, reps)[:n]
