"""In-process publish/subscribe for live call events (call started, finding, call ended).

The hotline publishes from its own threads; the console's SSE handlers subscribe from
the event loop. Each subscriber gets its own bounded queue; a subscriber too slow to
keep up loses its oldest events rather than stalling the publisher. The hub also keeps
the current set of live calls so that a page opened mid-call shows them at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

# The events the board understands; others (e.g. "engineer_ringing", "voicemail") are
# passed on to subscribers as they are.
EVENT_TYPES = ("call_started", "engineer_answered", "finding", "utterance", "call_ended")
# A call whose end never arrived (its node died, an event was lost) leaves the board after this.
MAX_LIVE_S = 6 * 3600.0


class _Subscriber:
    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=maxsize)

    def put(self, event: dict[str, Any]) -> None:  # runs on the subscriber's loop
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(event)


class LiveHub:
    """Fan-out of live events to every open board."""

    def __init__(
        self, queue_size: int = 256, max_live_s: float = MAX_LIVE_S, clock: Callable[[], float] = time.time
    ) -> None:
        self._max_live_s = max_live_s
        self._clock = clock
        self._lock = threading.Lock()
        self._subscribers: set[_Subscriber] = set()
        self._queue_size = queue_size
        self._calls: dict[str, dict[str, Any]] = {}

    def publish(self, event: dict[str, Any]) -> None:
        """Send an event to every subscriber; safe to call from any thread.

        Events are dicts with a ``type`` and a ``call_id``. A ``call_started`` event
        carries the call's ``line``, ``caller``, ``started_at`` (and ``engineer`` if known);
        ``engineer_answered`` carries ``engineer``, ``ring_time_s``, ``rings``; ``finding``
        carries ``finding`` (a Finding as a dict).
        """
        kind = event.get("type")
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"a live event needs a type (e.g. {', '.join(EVENT_TYPES)}), got {kind!r}")
        if not isinstance(event.get("call_id"), str) or not event["call_id"]:
            raise ValueError("a live event needs a call_id")
        if kind == "finding" and not isinstance(event.get("finding"), dict):
            raise ValueError("a finding event needs a finding (an object with clause, verdict, ...)")
        event = {**event, "published_at": self._clock()}
        with self._lock:
            self._track(event)
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub.loop.call_soon_threadsafe(sub.put, event)
            except RuntimeError:  # that loop has closed; its subscription ends with it
                with self._lock:
                    self._subscribers.discard(sub)

    def live_calls(self) -> list[dict[str, Any]]:
        with self._lock:
            cutoff = self._clock() - self._max_live_s
            for stale in [k for k, c in self._calls.items() if c["started_monotonic"] < cutoff]:
                del self._calls[stale]
            return [dict(c, findings=list(c["findings"])) for c in self._calls.values()]

    async def subscribe(self) -> AsyncIterator[dict[str, Any]]:
        """Events published from now on, until the consumer stops iterating."""
        sub = _Subscriber(asyncio.get_running_loop(), self._queue_size)
        with self._lock:
            self._subscribers.add(sub)
        try:
            while True:
                yield await sub.queue.get()
        finally:
            with self._lock:
                self._subscribers.discard(sub)

    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def _track(self, event: dict[str, Any]) -> None:
        call_id = event["call_id"]
        if event["type"] == "call_started":
            self._calls[call_id] = {
                "call_id": call_id,
                "engineer": event.get("engineer", ""),
                "line": event.get("line", ""),
                "caller": event.get("caller", ""),
                "started_at": event.get("started_at", ""),
                "started_monotonic": event["published_at"],
                "findings": [],
            }
        elif event["type"] == "engineer_answered" and call_id in self._calls:
            self._calls[call_id].update(
                {k: event[k] for k in ("engineer", "ring_time_s", "rings") if k in event}
            )
        elif event["type"] == "finding" and call_id in self._calls:
            self._calls[call_id]["findings"].append(event.get("finding", {}))
        elif event["type"] == "call_ended":
            self._calls.pop(call_id, None)
