"""The node's media plane: one thread moves every RTP stream and every call's audio, 20 ms at a time.

A thread per leg (pyVoIP's receiver and sender) meant 200 threads for 100 calls, each
waking every 20 ms and each starved in turn by the GIL: at 50 calls half the streams had
gaps over 100 ms. Here one loop, on one monotonic clock, does for every tick:

1. receive: drain every RTP socket that is readable (non-blocking, ``selectors``) into
   its leg's jitter buffer;
2. pump: run each call's media step (``MediaPump.tick``: read a frame from each leg,
   bridge, hand the frames to the recording and the analysis queues);
3. send: one RTP packet per stream.

So a frame received in tick *n* is forwarded in tick *n*, and nothing in the loop waits:
sockets never block, the recording is written by its own thread (``ivr.recorder``) and
the analysis reads from a bounded queue. Whatever a stream or a pump raises is logged
once and ends only that stream or call; the loop itself is restarted if it ever dies.
"""

from __future__ import annotations

import logging
import os
import selectors
import threading
import time
from collections.abc import Callable
from typing import Protocol

from .log_limits import RateLimitedLog

log = logging.getLogger(__name__)
limited = RateLimitedLog(log)

TICK_S = 0.02
# Behind by more than this (the machine stalled): skip ahead. Below it, the missed ticks
# are run so the call clock (and the recording) stays true to the wall clock; only the
# last few of them send, so a receiver gets a short burst, not seconds of audio at once.
MAX_LAG_S = 1.0
MAX_BURST_TICKS = 10


class Stream(Protocol):
    def fileno(self) -> int: ...

    def on_readable(self) -> None: ...

    def send_tick(self) -> None: ...

    def fail(self, reason: str) -> None: ...


MEDIA_RT_PRIORITY = 10  # SCHED_RR, low among real-time priorities (needs CAP_SYS_NICE)
MEDIA_NICE = -10  # the fallback


def _raise_priority() -> None:
    """Ask the kernel to schedule the media thread ahead of the others: a 20 ms deadline is
    missed by a thread that waits its turn behind recognition and the console on two cores.
    Round-robin real-time priority where allowed (as media servers run theirs), else nice."""
    tid = threading.get_native_id()
    try:
        os.sched_setscheduler(tid, os.SCHED_RR, os.sched_param(MEDIA_RT_PRIORITY))
        return
    except (PermissionError, OSError, AttributeError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, tid, MEDIA_NICE)
    except (PermissionError, OSError, AttributeError) as e:
        log.info("media thread keeps normal priority (%s): audio may gap when the machine is busy", e)


class MediaEngine:
    """Owns the media thread. ``shared()`` is the node's engine; tests may make their own."""

    _shared: MediaEngine | None = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._streams: set[Stream] = set()
        self._pumps: dict[Callable[[], None], Callable[[BaseException], None]] = {}
        self._lock = threading.Lock()
        self._changes: list[tuple[str, Stream]] = []
        self._thread: threading.Thread | None = None
        self.ticks = 0
        self.late_ticks = 0  # ticks run later than 20 ms after they were due
        self.skipped_s = 0.0  # time skipped after stalls longer than MAX_LAG_S
        self.max_tick_ms = 0.0
        self.restarts = 0

    @classmethod
    def shared(cls) -> MediaEngine:
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            cls._shared._ensure_running()
            return cls._shared

    # -- registration (any thread) ---------------------------------------------------------
    def add_stream(self, stream: Stream) -> None:
        with self._lock:
            self._changes.append(("add", stream))
        self._ensure_running()

    def remove_stream(self, stream: Stream) -> None:
        with self._lock:
            self._changes.append(("remove", stream))

    def add_pump(self, tick: Callable[[], None], on_error: Callable[[BaseException], None]) -> None:
        """Run ``tick`` every 20 ms; if it raises, it is removed and ``on_error`` gets the exception."""
        with self._lock:
            self._pumps[tick] = on_error
        self._ensure_running()

    def remove_pump(self, tick: Callable[[], None]) -> None:
        with self._lock:
            self._pumps.pop(tick, None)

    @property
    def stream_count(self) -> int:
        return len(self._streams)

    # -- the loop ---------------------------------------------------------------------------
    def _ensure_running(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._supervise, name="media engine", daemon=True)
        self._thread.start()

    def _supervise(self) -> None:
        _raise_priority()
        while True:
            try:
                self._run()
            except BaseException:  # noqa: BLE001 - the media of every call depends on this thread
                log.exception("media engine loop failed: restarting it")
                self.restarts += 1
                time.sleep(TICK_S)

    def _apply_changes(self) -> None:
        with self._lock:
            changes, self._changes = self._changes, []
        for action, stream in changes:
            if action == "add" and stream not in self._streams:
                try:
                    self._selector.register(stream.fileno(), selectors.EVENT_READ, stream)
                    self._streams.add(stream)
                except (ValueError, OSError, KeyError) as e:
                    limited.warning("register", "cannot watch an RTP socket: %s", e)
            elif action == "remove" and stream in self._streams:
                self._streams.discard(stream)
                for key in list(self._selector.get_map().values()):
                    if key.data is stream:
                        self._selector.unregister(key.fileobj)

    def _run(self) -> None:
        due = time.monotonic() + TICK_S
        while True:
            self._apply_changes()
            timeout = max(0.0, due - time.monotonic())
            if self._streams:
                for key, _ in self._selector.select(timeout):
                    self._guarded(key.data, key.data.on_readable)
            else:
                time.sleep(timeout)
            now = time.monotonic()
            if now < due:
                continue
            lag = now - due
            missed = 1
            if lag > MAX_LAG_S:
                self.skipped_s += lag
                limited.warning("stall", "media engine stalled for %.0f ms: skipping ahead", lag * 1000)
                due = now
            elif lag > TICK_S:
                self.late_ticks += 1
                missed = int(lag / TICK_S) + 1
            started = time.monotonic()
            for i in range(missed):
                self._tick(send=i >= missed - MAX_BURST_TICKS)
            self.max_tick_ms = max(self.max_tick_ms, (time.monotonic() - started) * 1000)
            self.ticks += missed
            due += TICK_S * missed

    def _tick(self, send: bool = True) -> None:
        with self._lock:
            pumps = list(self._pumps.items())
        for pump, on_error in pumps:
            try:
                pump()
            except Exception as e:  # noqa: BLE001 - one call's failure must not silence the others
                limited.warning("pump", "a call's media step failed", exc_info=True)
                self.remove_pump(pump)
                try:
                    on_error(e)
                except Exception:  # noqa: BLE001
                    log.exception("a pump's error handler raised")
        if send:
            for stream in list(self._streams):
                self._guarded(stream, stream.send_tick)

    def _guarded(self, stream: Stream, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as e:  # noqa: BLE001 - end that stream, keep every other one
            limited.warning("stream", "RTP stream failed (%s): stopping it", e, exc_info=True)
            self.remove_stream(stream)
            try:
                stream.fail(str(e))
            except Exception:  # noqa: BLE001
                log.exception("stream.fail raised")
