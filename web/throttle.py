"""Sign-in throttling: after too many failed sign-ins for one account from one client
address, or from one client address for any accounts, further attempts from that client
are refused for a while without checking the password.

Counting per account *and* client means nobody can lock a user out by failing on purpose
from elsewhere: the real user's own address keeps its own count. The client address is
the socket's unless a configured proxy (``[console] trusted_proxies``) reports it, so a
made-up X-Forwarded-For changes nothing.

Kept in memory, per process. A restart forgets recent failures, which is acceptable for
a window of minutes and avoids a store write on every failed sign-in.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

MAX_FAILURES = 5
WINDOW_S = 300.0
# Enough for any real site; beyond it the longest-quiet entries go first, so memory stays
# bounded even when someone sprays sign-ins from many addresses with made-up names.
MAX_KEYS = 10_000


class Throttled(Exception):
    """Too many recent failures; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins, retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Attempt:
    name_key: str
    address_key: str


class LoginThrottle:
    """At most ``max_failures`` failed sign-ins per (account name, client address) and
    ``address_factor`` times that per client address, within ``window_s`` seconds.
    Thread-safe; ``clock`` is injectable for tests."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
        address_factor: int = 4,
    ) -> None:
        if max_failures < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("max_failures, window_s and max_keys must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self.address_factor = max(1, address_factor)
        self._clock = clock
        self._lock = threading.Lock()
        # key -> its latest failures as (time, name key), keys ordered by latest failure, stalest
        # first. A full deque is either all in the window (refusing) or its oldest has expired, so
        # the length cap never drops a failure that still counts.
        self._failures: OrderedDict[str, deque[tuple[float, str]]] = OrderedDict()

    def begin(self, name: str, address: str | None) -> Attempt:
        """Admit one sign-in attempt, or raise Throttled.

        The attempt counts as a failure from the start, so parallel guesses cannot all
        slip in before the first of them is found wrong; ``succeeded`` takes it back.
        """
        address = address or "unknown"
        # A digest, so a huge made-up name costs no more memory than a short one.
        name_key = "pair:" + hashlib.sha256(f"{name.strip()}\0{address}".encode()).hexdigest()[:32]
        address_key = f"addr:{address}"
        with self._lock:
            now = self._clock()
            self._expire(now)
            wait = max(self._wait(name_key, now), self._wait(address_key, now))
            if wait > 0:
                raise Throttled(max(1, math.ceil(wait)))
            for key in (name_key, address_key):
                entries = self._failures.pop(key, None) or deque(maxlen=self._limit(key))
                entries.append((now, name_key))
                self._failures[key] = entries
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)
        return Attempt(name_key, address_key)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: that name's failures were typos, here and in the address's
        count. The address keeps its failures for other names, or signing in to one's own
        account would reset a password-spraying count."""
        with self._lock:
            self._failures.pop(attempt.name_key, None)
            entries = self._failures.get(attempt.address_key)
            if entries is not None:
                kept = [e for e in entries if e[1] != attempt.name_key]
                if kept:
                    self._failures[attempt.address_key] = deque(kept, maxlen=self._limit(attempt.address_key))
                else:
                    del self._failures[attempt.address_key]

    def tracked_keys(self) -> int:
        """How many names and addresses have failures on record (not ``__len__``: an empty
        throttle must not be falsy)."""
        with self._lock:
            return len(self._failures)

    def _limit(self, key: str) -> int:
        return self.max_failures * (self.address_factor if key.startswith("addr:") else 1)

    def _wait(self, key: str, now: float) -> float:
        entries = self._failures.get(key)
        if entries is None or len(entries) < self._limit(key):
            return 0.0
        return entries[0][0] + self.window_s - now

    def _expire(self, now: float) -> None:
        while self._failures:
            key, entries = next(iter(self._failures.items()))
            if entries and entries[-1][0] > now - self.window_s:
                break
            del self._failures[key]
