"""Hands each leg's audio to the observer on a worker thread, so a slow observer never stalls RTP.

The queue is bounded; when the observer falls behind, new frames are dropped and
counted (``dropped``) rather than delaying the call's media loop.
"""

from __future__ import annotations

import logging
import queue
import threading

import numpy as np

from .contracts import CallObserver, LegName

log = logging.getLogger(__name__)


class AudioTap:
    def __init__(self, observer: CallObserver, call_id: str, max_frames: int = 500):
        self.observer = observer
        self.call_id = call_id
        self.dropped = 0
        self.delivered = 0
        self._queue: queue.Queue[tuple[LegName, float, np.ndarray] | None] = queue.Queue(max_frames)
        self._thread = threading.Thread(target=self._run, name=f"audio tap {call_id[:8]}", daemon=True)
        self._thread.start()

    def put(self, leg: LegName, t: float, pcm: np.ndarray) -> None:
        try:
            self._queue.put_nowait((leg, t, pcm))
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self.observer.audio(self.call_id, *item)
                self.delivered += 1
            except Exception:
                log.exception("observer.audio failed on call %s", self.call_id)

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout_s``), then stop the worker."""
        while True:
            try:
                self._queue.put(None, timeout=timeout_s)
                break
            except queue.Full:
                self._queue.get_nowait()
                self.dropped += 1
        self._thread.join(timeout=timeout_s)
        if self.dropped:
            log.warning("call %s: observer too slow, %d audio frames dropped", self.call_id, self.dropped)
