"""Log lines that a flood cannot multiply: one line per kind per interval, with a count.

A fuzzer or a flood sends thousands of bad datagrams a second; logging each one fills the
disk and buries the line that matters. Each kind (e.g. "malformed", "refused: busy") logs
at most once per ``interval_s`` and says how many it left out since the last line.
"""

from __future__ import annotations

import logging
import threading
import time


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, interval_s: float = 10.0):
        self.logger = logger
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, kind: str, message: str, *args: object, exc_info: bool = False) -> None:
        self._log(logging.WARNING, kind, message, *args, exc_info=exc_info)

    def info(self, kind: str, message: str, *args: object) -> None:
        self._log(logging.INFO, kind, message, *args)

    def _log(self, level: int, kind: str, message: str, *args: object, exc_info: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval_s:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            self._last[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
        if suppressed:
            message += f" ({suppressed} more like this in the last {self.interval_s:.0f} s not logged)"
        self.logger.log(level, message, *args, exc_info=exc_info)
