"""What the hotline needs from the rest of Deskline, as Protocols the lead wires up.

``Router`` decides where a call goes (``routing/`` implements it: calendars, dispatch);
``CallObserver`` hears everything that happens on a call (the speech pipeline and the
store implement it); ``Prompts`` supplies the recorded announcements (``ivr/recorded_prompts``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

LegName = Literal["caller", "engineer"]


@dataclass(frozen=True)
class EngineerTarget:
    name: str  # roster name, e.g. "张伟"
    sip_uri: str  # "sip:zhangwei@127.0.0.1:5080", or a user at the registrar/proxy


@dataclass(frozen=True)
class RouteDecision:
    line_id: str
    is_open: bool
    next_opening: datetime | None = None  # when a closed line opens again
    web_url: str = ""
    engineers: list[EngineerTarget] = field(default_factory=list)  # in the order to ring them
    ring_limit_s: float = 15.0  # per engineer, before trying the next one
    timezone: str = ""  # the line's IANA time zone (recordings are filed by the line's date); "" = local


class Router(Protocol):
    def route(self, line_number: str, caller: str, now: datetime) -> RouteDecision: ...


class CallObserver(Protocol):
    def call_started(self, call_id: str, line_id: str, caller: str, started_at: datetime) -> None: ...

    def engineer_ringing(self, call_id: str, engineer: EngineerTarget) -> None: ...

    def engineer_answered(self, call_id: str, engineer: EngineerTarget, ring_time_s: float) -> None: ...

    def engineer_no_answer(self, call_id: str, engineer: EngineerTarget, rang_s: float) -> None: ...

    def audio(self, call_id: str, leg: LegName, t: float, pcm: np.ndarray) -> None:
        """20 ms of 8 kHz int16 audio; ``t`` in seconds on the call clock. Called from a worker thread."""

    def call_ended(
        self, call_id: str, recording_path: Path | None, sip_timings: dict, reason: str
    ) -> None: ...

    def voicemail(self, call_id: str, line_id: str, caller: str, wav_path: Path) -> None: ...

    def dialogs_established(self, call_id: str, dialogs: dict[str, dict]) -> None:
        """Both SIP dialogs of a bridged call ({"caller": …, "engineer": …}, each the fields of
        a ``Dialog``), kept so that a restarted node can still end the call with a BYE."""


class Reservations(Protocol):
    """Engineers held by a call from the moment they are rung until it lets them go."""

    def reserve(self, name: str) -> bool:
        """Atomically take ``name``; False when another call holds them."""

    def release(self, name: str, now: datetime, talked: bool) -> None: ...


class CallLimits(Protocol):
    """What a call may still use of the node's shared budgets; each answer "" = allowed,
    otherwise the reason (for the log and the call's record) it is refused."""

    def recording_refusal(self) -> str: ...

    def voicemail_refusal(self, caller: str, now: datetime) -> str: ...

    def recorded(self, path: Path) -> None:
        """A recording or voicemail was written and closed: count its size."""


class Prompts(Protocol):
    """Announcements as 8 kHz int16 mono arrays."""

    def greeting(self, line_id: str) -> np.ndarray: ...

    def after_hours(
        self, line_id: str, next_opening: datetime | None, web_url: str, now: datetime
    ) -> np.ndarray:
        """Says the line is closed, when it opens (relative to ``now``: "明天上午…"), and the web service."""

    def next_engineer(self) -> np.ndarray: ...

    def nobody_available(self) -> np.ndarray: ...

    def beep(self) -> np.ndarray: ...

    def ringback(self, seconds: float) -> np.ndarray: ...
