"""Hands each leg's audio to the observer on a worker thread, so a slow observer never stalls RTP.

The queue is bounded; when the observer falls behind, new frames are dropped and
counted (``dropped``) rather than delaying the call's media loop. The media thread puts
frames without waiting; the worker is woken every ``BATCH_FRAMES`` frames (100 ms of both
legs), not for each one: a wake-up per 20 ms frame per call contends for the GIL with the
media thread's sends.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from .contracts import CallObserver, LegName

log = logging.getLogger(__name__)

BATCH_FRAMES = 10


class AudioTap:
    def __init__(self, observer: CallObserver, call_id: str, max_frames: int = 500):
        self.observer = observer
        self.call_id = call_id
        self.max_frames = max_frames
        self.dropped = 0
        self.delivered = 0
        self._pending: list[tuple[LegName, float, np.ndarray]] = []
        self._closed = False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"audio tap {call_id[:8]}", daemon=True)
        self._thread.start()

    def put(self, leg: LegName, t: float, pcm: np.ndarray) -> None:
        with self._ready:
            if len(self._pending) >= self.max_frames:
                self.dropped += 1
                return
            self._pending.append((leg, t, pcm))
            if len(self._pending) % BATCH_FRAMES == 0:
                self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._closed or len(self._pending) >= BATCH_FRAMES, timeout=0.2)
                batch, self._pending = self._pending, []
                closed = self._closed
            for item in batch:
                try:
                    self.observer.audio(self.call_id, *item)
                    self.delivered += 1
                except Exception:
                    log.exception("observer.audio failed on call %s", self.call_id)
            if closed:
                with self._ready:
                    if not self._pending:
                        return

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout_s``), then stop the worker."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            with self._ready:
                self.dropped += len(self._pending)
                self._pending = []
        if self.dropped:
            log.warning("call %s: observer too slow, %d audio frames dropped", self.call_id, self.dropped)
