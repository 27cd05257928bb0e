"""The hotline's recorded Mandarin announcements (``ivr/prompts/``, made by tools/make_prompts.py).

Fixed prompts are whole recordings; the after-hours prompt is joined from fragments so
that it can say when this line opens next: "…本热线将于 明天 上午 八点 半 开放。…".
A site may replace any recording with its own: a file ``<id>.wav`` or ``<id>.flac`` in
``[hotline] prompts_dir`` takes precedence over the shipped one (``greeting_<line id>``
gives a line its own greeting). Every file is checked when the prompts load, so a
broken or missing recording is an error at start-up, not silence on a call.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from ivr.tone_prompts import RATE, TonePrompts, hold_music, silence, tone

SHIPPED = Path(__file__).with_name("prompts")
SHORT_PAUSE_S = 0.08  # between the words of one phrase
COUNT_MAX = 60  # count_1..count_60 are recorded; more callers or minutes are said as 60
PAUSE_S = 0.3  # between sentences


class PromptError(ValueError):
    """A prompt recording that cannot be used; the message names the file."""


def _read(path: Path) -> np.ndarray:
    try:
        data, rate = sf.read(path, dtype="int16", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise PromptError(f"{path}: not a readable audio file: {e}") from None
    pcm = data.mean(axis=1).astype(np.int16) if data.shape[1] > 1 else data[:, 0]
    if rate != RATE:
        from math import gcd

        g = gcd(rate, RATE)
        resampled = resample_poly(pcm.astype(np.float32), RATE // g, rate // g)
        pcm = np.clip(resampled, -32768, 32767).astype(np.int16)
    if len(pcm) == 0:
        raise PromptError(f"{path}: the recording is empty")
    return pcm


def period_of(hour: int) -> str:
    if hour < 6:
        return "period_dawn"
    if hour < 12:
        return "period_morning"
    if hour < 13:
        return "period_noon"
    if hour < 18:
        return "period_afternoon"
    return "period_evening"


def spoken_time_ids(when: datetime, now: datetime) -> list[str]:
    """The fragments that say ``when`` to a caller at ``now``: day, then time of day."""
    days_ahead = (when.date() - now.astimezone(when.tzinfo).date()).days if when.tzinfo else (
        when.date() - now.date()).days
    ids: list[str] = []
    if days_ahead == 0:
        ids.append("today")
    elif days_ahead == 1:
        ids.append("tomorrow")
    else:
        ids += [f"month_{when.month}", f"day_{when.day}", f"weekday_{when.isoweekday()}"]
    hour12 = when.hour if when.hour <= 12 else when.hour - 12
    ids += [period_of(when.hour), f"hour_{hour12}"]
    if when.minute == 30:
        ids.append("half")
    elif when.minute:
        ids.append(f"minute_{when.minute}")
    return ids


class RecordedPrompts:
    """Implements ``ivr.contracts.Prompts`` with recorded speech."""

    def __init__(self, prompts_dir: str | Path | None = None) -> None:
        self._clips: dict[str, np.ndarray] = {}
        if not SHIPPED.is_dir():
            raise FileNotFoundError(f"{SHIPPED}: the shipped prompt recordings are missing")
        for path in sorted(SHIPPED.glob("*.flac")):
            self._clips[path.stem] = _read(path)
        if prompts_dir:
            site = Path(prompts_dir)
            if not site.is_dir():
                raise PromptError(f"{site}: prompts_dir is not a directory")
            for path in sorted([*site.glob("*.wav"), *site.glob("*.flac")]):
                self._clips[path.stem] = _read(path)
        needed = ["greeting", "next_engineer", "nobody_available", "after_hours", "opens_at", "opens_end",
                  "opening_unknown", "web_service", "leave_message", "today", "tomorrow", "half",
                  "queue_hold", "queue_ahead", "queue_callers", "queue_next", "queue_wait", "queue_minutes",
                  "queue_menu", "callback_promised", *(f"count_{n}" for n in range(1, COUNT_MAX + 1))]
        missing = [n for n in needed if n not in self._clips]
        if missing:
            raise PromptError(f"{SHIPPED}: prompt recordings missing: {', '.join(missing)}")
        self._tones = TonePrompts()

    def clip(self, prompt_id: str) -> np.ndarray:
        return self._clips[prompt_id]

    def _join(self, parts: list[str | float]) -> np.ndarray:
        """Clip ids with pauses (floats, in seconds) between them."""
        out: list[np.ndarray] = []
        for part in parts:
            out.append(silence(part) if isinstance(part, float) else self._clips[part])
        return np.concatenate(out)

    def greeting(self, line_id: str) -> np.ndarray:
        return self._clips.get(f"greeting_{line_id}", self._clips["greeting"])

    def after_hours(self, line_id: str, next_opening: datetime | None, web_url: str,
                    now: datetime | None = None) -> np.ndarray:
        parts: list[str | float] = [f"after_hours_{line_id}" if f"after_hours_{line_id}" in self._clips
                                    else "after_hours", PAUSE_S]
        if next_opening is not None:
            now = now or datetime.now(next_opening.tzinfo)
            parts.append("opens_at")
            for fragment in spoken_time_ids(next_opening, now):
                parts += [SHORT_PAUSE_S, fragment]
            parts += [SHORT_PAUSE_S, "opens_end"]
        else:
            parts.append("opening_unknown")
        # The web address itself is in the line's config and on the ticket; read out, a URL
        # is noise on a phone line, so the prompt names the service instead.
        parts += [PAUSE_S, "web_service", PAUSE_S, "leave_message", PAUSE_S]
        return self._join(parts)

    def next_engineer(self) -> np.ndarray:
        return self._clips["next_engineer"]

    def nobody_available(self) -> np.ndarray:
        return self._join(["nobody_available", PAUSE_S, "leave_message", PAUSE_S])

    def beep(self) -> np.ndarray:
        return tone(1000, 0.3)

    def ringback(self, seconds: float) -> np.ndarray:
        return self._tones.ringback(seconds)

    # -- the queue (issue 14) ------------------------------------------------------------
    def queue_position_ids(self, ahead: int, expected_wait_s: float, first: bool) -> list[str | float]:
        """"所有工程师正在通话中…" (first time only), "您前面还有 三 位客户在等待。" (or
        "您是下一位。"), "预计等待时间约 五 分钟。" (whole minutes, at least one)."""
        parts: list[str | float] = ["queue_hold", PAUSE_S] if first else []
        if ahead <= 0:
            parts += ["queue_next", PAUSE_S]
        else:
            parts += ["queue_ahead", SHORT_PAUSE_S, f"count_{min(ahead, COUNT_MAX)}", SHORT_PAUSE_S,
                      "queue_callers", PAUSE_S]
        minutes = min(COUNT_MAX, max(1, round(expected_wait_s / 60)))
        parts += ["queue_wait", SHORT_PAUSE_S, f"count_{minutes}", SHORT_PAUSE_S, "queue_minutes", PAUSE_S]
        return parts

    def queue_position(self, ahead: int, expected_wait_s: float, first: bool) -> np.ndarray:
        return self._join(self.queue_position_ids(ahead, expected_wait_s, first))

    def hold_music(self, seconds: float) -> np.ndarray:
        site = self._clips.get("hold_music")
        if site is None:
            return hold_music(seconds)
        n = int(seconds * RATE)
        return np.tile(site, n // len(site) + 1)[:n]

    def queue_menu(self) -> np.ndarray:
        return self._join(["queue_menu", PAUSE_S])

    def callback_promised(self) -> np.ndarray:
        return self._join(["callback_promised", PAUSE_S])
