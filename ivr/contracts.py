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
class QueuePolicy:
    """How a line's callers wait when no engineer is free (``ivr.call_queue``)."""

    enabled: bool = True
    max_wait_s: float = 300.0  # then the caller chooses voicemail (1) or a callback (2)
    announce_every_s: float = 60.0  # position and expected wait are said again this often
    max_length: int = 20  # callers beyond this many waiting go to voicemail at once
    menu_timeout_s: float = 8.0  # no digit within this after the menu: voicemail
    staffed: int = 0  # engineers who serve the line, busy or not (0 = count the decision's)
    assumed_talk_s: float = 240.0  # expected wait per caller ahead until the line has measured calls


@dataclass(frozen=True)
class RouteDecision:
    line_id: str
    is_open: bool
    next_opening: datetime | None = None  # when a closed line opens again
    web_url: str = ""
    engineers: list[EngineerTarget] = field(default_factory=list)  # in the order to ring them
    ring_limit_s: float = 15.0  # per engineer, before trying the next one
    timezone: str = ""  # the line's IANA time zone (recordings are filed by the line's date); "" = local
    queue: QueuePolicy | None = None  # None = no queue: a caller who finds nobody free leaves a voicemail
    owner: str = ""  # the engineer owning the caller's open callback (3.3(5)); first for them in the queue


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


class QueueObserver(Protocol):
    """What an observer may also hear about the queue (optional: called when it has it). How
    long the caller waited is in the ended call's ``sip_timings["queue"]``."""

    def callback_requested(self, call_id: str, line_id: str, caller: str, owner: str) -> None:
        """The caller chose a callback (DTMF 2) after the queue's longest wait."""


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


class QueuePrompts(Protocol):
    """The queue's announcements (``RecordedPrompts`` and ``TonePrompts`` have them)."""

    def queue_position(self, ahead: int, expected_wait_s: float, first: bool) -> np.ndarray:
        """"(All engineers are busy…) N callers are ahead of you; the wait is about M minutes."""

    def hold_music(self, seconds: float) -> np.ndarray: ...

    def queue_menu(self) -> np.ndarray:
        """"Sorry for the wait: press 1 to leave a message, 2 to be called back." """

    def callback_promised(self) -> np.ndarray: ...
