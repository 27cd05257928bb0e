"""Which engineers to ring, in order: certified (2(1)), available, on the line, not on a call;
the owner of the caller's open request first (3.3(5)); then the longest idle."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime

from routing.roster import Engineer, Roster


class DispatchState:
    """Who is on a call and when each engineer's last call ended; shared by call threads.

    An engineer is reserved (``reserve``) the moment a call picks them to ring, and stays
    reserved through the conversation until ``release``: no two calls ring or bridge the
    same phone. ``reserve`` is the atomic check-and-take; ``candidates`` only filters.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.on_call: set[str] = set()
        self.last_call_end: dict[str, datetime] = {}

    def begin(self, name: str, now: datetime) -> None:
        with self._lock:
            self.on_call.add(name)

    def end(self, name: str, now: datetime) -> None:
        with self._lock:
            self.on_call.discard(name)
            self.last_call_end[name] = now

    def reserve(self, name: str) -> bool:
        """Take ``name`` for one call; False when another call already holds them."""
        with self._lock:
            if name in self.on_call:
                return False
            self.on_call.add(name)
            return True

    def release(self, name: str, now: datetime, talked: bool) -> None:
        """Give ``name`` back; ``talked`` (they answered) also makes them the most recently busy."""
        with self._lock:
            self.on_call.discard(name)
            if talked:
                self.last_call_end[name] = now

    def snapshot(self) -> tuple[set[str], dict[str, datetime]]:
        with self._lock:
            return set(self.on_call), dict(self.last_call_end)


def candidates(
    roster: Roster | None,
    line_id: str,
    caller_id: str,
    state: DispatchState,
    open_tickets: Mapping[str, str],
    now: datetime,
) -> list[Engineer]:
    if roster is None:
        return []
    busy, last_end = state.snapshot()
    eligible = [e for e in roster.engineers
                if e.certified and e.available and line_id in e.lines and e.name not in busy]

    def idle_key(e: Engineer) -> tuple[int, float, str]:
        end = last_end.get(e.name)
        # Never-called engineers first, then the one whose last call ended longest ago.
        return (0, 0.0, e.name) if end is None else (1, end.timestamp(), e.name)

    ordered = sorted(eligible, key=idle_key)
    owner = open_tickets.get(caller_id)
    if owner:
        ordered.sort(key=lambda e: e.name != owner)  # stable: the rest keep idle order
    return ordered
