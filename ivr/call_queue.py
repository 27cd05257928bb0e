"""A line's queue (ACD, issue 14 item 1): callers waiting for the next free engineer.

Callers wait in arrival order; an engineer who comes free takes the caller whose open
callback they own first (3.3(5)), otherwise the longest-waiting caller. The queue only
keeps the order and decides who may take whom (``claim``); each waiting caller's own
call thread (``ivr.queue_wait``) hears of every change (``generation``), asks the router
for free engineers and rings the one it has claimed, so the queue itself never blocks
and never touches SIP.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .contracts import Reservations

TALK_SAMPLES = 20  # the expected wait is estimated from the line's last this many conversations


@dataclass(eq=False)  # one waiter is one call: compared by identity
class Waiter:
    call_id: str
    caller: str
    owner: str = ""  # the engineer owning the caller's open callback ("" = none)
    joined_at: float = 0.0  # monotonic; kept when a caller goes back after a ring unanswered

    def __lt__(self, other: Waiter) -> bool:  # bisect keeps the waiting list in arrival order
        return (self.joined_at, self.call_id) < (other.joined_at, other.call_id)


@dataclass
class QueueStats:
    waiting: int
    longest_wait_s: float


@dataclass
class CallQueue:
    """One line's waiting callers; shared by the call threads of that line."""

    line_id: str
    clock: Callable[[], float] = time.monotonic
    generation: int = 0  # bumped on every change a waiter may act on
    _waiting: list[Waiter] = field(default_factory=list)
    _talk_s: deque[float] = field(default_factory=lambda: deque(maxlen=TALK_SAMPLES))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def join(self, waiter: Waiter, max_length: int) -> int | None:
        """Add ``waiter`` in arrival order; its 1-based position, or None when the queue is full.

        A waiter coming back (its ring was not answered) keeps its ``joined_at``, so its place,
        and is never turned away: it was counted when it came."""
        with self._lock:
            if waiter in self._waiting:
                return self._waiting.index(waiter) + 1
            if not waiter.joined_at:
                if len(self._waiting) >= max_length:
                    return None
                waiter.joined_at = self.clock()
            bisect.insort(self._waiting, waiter)
            self.generation += 1
            return self._waiting.index(waiter) + 1

    def leave(self, waiter: Waiter) -> None:
        with self._lock:
            if waiter in self._waiting:
                self._waiting.remove(waiter)
                self.generation += 1

    def changed(self) -> None:
        """Something a waiter may act on happened elsewhere (an engineer was released)."""
        with self._lock:
            self.generation += 1

    def position(self, waiter: Waiter) -> int:
        """1-based; 0 when ``waiter`` is not waiting."""
        with self._lock:
            return self._waiting.index(waiter) + 1 if waiter in self._waiting else 0

    def next_for(self, engineer: str) -> Waiter | None:
        """Whom ``engineer`` takes: the caller whose callback they own, else the longest waiting."""
        with self._lock:
            return self._next_for(engineer)

    def _next_for(self, engineer: str) -> Waiter | None:
        for waiter in self._waiting:
            if waiter.owner and waiter.owner == engineer:
                return waiter
        return self._waiting[0] if self._waiting else None

    def may_take(self, waiter: Waiter) -> bool:
        """Cheap check before asking the router: only the head, or a caller with an owner,
        can be the one a free engineer takes."""
        with self._lock:
            return bool(self._waiting) and (self._waiting[0] is waiter or bool(waiter.owner))

    def claim(self, waiter: Waiter, engineer: str) -> bool:
        """True when free ``engineer`` should take ``waiter``; the waiter then leaves the queue
        (and rings them). False: another caller comes first for this engineer."""
        with self._lock:
            if self._next_for(engineer) is not waiter:
                return False
            self._waiting.remove(waiter)
            self.generation += 1
            return True

    def conversation_ended(self, talk_s: float) -> None:
        """A call of this line talked ``talk_s``: the expected wait learns from it."""
        if talk_s > 0:
            with self._lock:
                self._talk_s.append(talk_s)

    def expected_wait_s(self, position: int, staffed: int, assumed_talk_s: float) -> float:
        """Position × mean conversation ÷ engineers serving the line (a caller at position 1
        waits, on average, half a conversation for the first of ``staffed`` to finish)."""
        with self._lock:
            mean = sum(self._talk_s) / len(self._talk_s) if self._talk_s else assumed_talk_s
        return max(0.0, (position - 0.5) * mean / max(1, staffed))

    def stats(self) -> QueueStats:
        with self._lock:
            now = self.clock()
            longest = now - self._waiting[0].joined_at if self._waiting else 0.0
            return QueueStats(len(self._waiting), round(max(0.0, longest), 3))


class CallQueues:
    """The node's queues, one per line, made on first use."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._queues: dict[str, CallQueue] = {}
        self._lock = threading.Lock()

    def line(self, line_id: str) -> CallQueue:
        with self._lock:
            queue = self._queues.get(line_id)
            if queue is None:
                queue = self._queues[line_id] = CallQueue(line_id, self.clock)
            return queue

    def changed(self) -> None:
        """An engineer was released: every line's waiters look again."""
        with self._lock:
            queues = list(self._queues.values())
        for queue in queues:
            queue.changed()

    def stats(self) -> dict[str, QueueStats]:
        with self._lock:
            queues = dict(self._queues)
        return {line_id: queue.stats() for line_id, queue in queues.items()}


class QueueingReservations:
    """The node's ``Reservations`` with a wake-up: an engineer released by one call is
    looked at by every queue's waiting callers at once."""

    def __init__(self, inner: Reservations, queues: CallQueues) -> None:
        self.inner = inner
        self.queues = queues

    def reserve(self, name: str) -> bool:
        return self.inner.reserve(name)

    def release(self, name: str, now: datetime, talked: bool) -> None:
        self.inner.release(name, now, talked)
        self.queues.changed()
