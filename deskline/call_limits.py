"""The node's shared budgets a call draws on: disk for recordings, voicemail tickets per caller.

Hostile or broken callers must not fill the disk or the ticket queue. Recording disk use is
counted once at start (a walk of ``recordings_dir``) and then kept up to date as each
recording is closed, so the check before a call is O(1); a warning is logged once the use
passes 90 % of the cap, and beyond the cap calls are still answered and routed but not
recorded (and get no voicemail). Voicemail tickets are counted per calling number over the
last hour in the store.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger("deskline.limits")

WARN_FRACTION = 0.9
RESCAN_S = 60.0  # at most this often, a full rescan before refusing (files may have been removed)


def disk_use(folder: Path) -> int:
    """Bytes in all files under ``folder`` (0 if it does not exist)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass  # removed meanwhile
    return total


class NodeLimits:
    """``CallLimits`` for one hotline node."""

    def __init__(self, recordings_dir: Path, max_bytes: int, store: Any, voicemails_per_hour: int,
                 clock: Any = None) -> None:
        import time

        self.recordings_dir = recordings_dir
        self.max_bytes = max_bytes
        self.store = store
        self.voicemails_per_hour = voicemails_per_hour
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self.used_bytes = disk_use(recordings_dir)
        self._scanned_at = self._clock()
        self._warned = False
        self._check_warning()

    def _check_warning(self) -> None:
        if not self.max_bytes:
            return
        if self.used_bytes >= WARN_FRACTION * self.max_bytes:
            if not self._warned:
                self._warned = True
                log.warning("recordings use %.0f MB of the %.0f MB cap ([hotline] recordings_max_mb) in %s: "
                            "beyond the cap calls are no longer recorded; archive or delete old recordings",
                            self.used_bytes / 1e6, self.max_bytes / 1e6, self.recordings_dir)
        else:
            self._warned = False  # warn again after the next crossing

    def recording_refusal(self) -> str:
        if not self.max_bytes:
            return ""
        with self._lock:
            if self.used_bytes >= self.max_bytes and self._clock() - self._scanned_at >= RESCAN_S:
                self.used_bytes = disk_use(self.recordings_dir)  # someone may have cleaned up
                self._scanned_at = self._clock()
                self._check_warning()
            if self.used_bytes < self.max_bytes:
                return ""
            return (f"recordings disk cap reached ({self.used_bytes / 1e6:.0f} MB of "
                    f"{self.max_bytes / 1e6:.0f} MB in {self.recordings_dir})")

    def voicemail_refusal(self, caller: str, now: datetime) -> str:
        if self.voicemails_per_hour <= 0:
            return "voicemail is turned off ([hotline] voicemails_per_caller_per_hour = 0)"
        if now.tzinfo is None:
            now = now.astimezone()
        left = self.store.count_tickets_since("voicemail", caller, now - timedelta(hours=1),
                                              limit=self.voicemails_per_hour + 1)
        if left < self.voicemails_per_hour:
            return ""
        return f"{caller or 'an anonymous caller'} left {left} voicemails in the last hour " \
               f"(limit {self.voicemails_per_hour})"

    def recorded(self, path: Path) -> None:
        try:
            size = path.stat().st_size
        except OSError:
            return
        with self._lock:
            self.used_bytes += size
            self._check_warning()
