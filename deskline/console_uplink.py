"""A hotline node reporting to a console on another machine (``[console] url`` + ``api_token``).

The node keeps its own store (nothing is lost while the console is away); the uplink
copies to the console what its people need: live events for the live board (best
effort: an event that cannot be delivered now is stale later, so it is dropped) and
every finished, scored call (retried with back-off, because the console's call list,
reviews and feedback depend on it).

One worker thread sends everything in order, so the hotline's threads never wait on
the network.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger("deskline.uplink")

_STOP = object()


class UplinkRejected(Exception):
    """The console answered 4xx: sending the same thing again will not help."""


@dataclass
class UplinkStats:
    events_sent: int = 0
    events_dropped: int = 0
    calls_sent: int = 0
    calls_failed: int = 0


class ConsoleUplink:
    def __init__(self, url: str, token: str, store: Any, *, timeout_s: float = 5.0,
                 retry_for_s: float = 600.0, first_retry_s: float = 1.0, max_queue: int = 2000) -> None:
        self.base = url.rstrip("/")
        self.store = store
        self.retry_for_s = retry_for_s
        self.first_retry_s = first_retry_s
        self.stats = UplinkStats()
        self._http = httpx.Client(timeout=timeout_s, headers={"Authorization": f"Bearer {token}"})
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._busy = 0
        self._events_failing = False  # only the worker thread touches it
        self._worker = threading.Thread(target=self._run, name="console-uplink", daemon=True)
        self._worker.start()

    # -- what the hotline calls (from any thread, never blocking) ------------------------
    def publish(self, event: dict[str, Any]) -> None:
        self._put(("event", event))

    def call_done(self, call_id: str) -> None:
        self._put(("call", call_id))

    def _put(self, item: tuple[str, Any]) -> None:
        with self._idle:
            try:
                self._queue.put_nowait(item)
                self._busy += 1
            except queue.Full:
                self._count_drop(item)

    def _count_drop(self, item: tuple[str, Any]) -> None:
        if item[0] == "event":
            self.stats.events_dropped += 1
        else:
            self.stats.calls_failed += 1
            log.error("console uplink queue full: call %s not sent to %s (it is in this node's store)",
                      item[1], self.base)

    # -- lifecycle ----------------------------------------------------------------------
    def wait_idle(self, timeout: float) -> bool:
        """True once everything queued so far was sent or given up on."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def stop(self, drain_s: float = 10.0) -> None:
        """Send what is queued (for at most ``drain_s``), then stop."""
        self.wait_idle(drain_s)
        self._stopping.set()
        self._queue.put(_STOP)
        self._worker.join(timeout=self.first_retry_s + 5)
        self._http.close()

    # -- the worker ---------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            kind, value = item
            try:
                if kind == "event":
                    self._send_event(value)
                else:
                    self._send_call(value)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def _post(self, path: str, body: dict[str, Any]) -> None:
        response = self._http.post(self.base + path, json=body)
        if 400 <= response.status_code < 500:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise UplinkRejected(f"{response.status_code} {detail}")
        response.raise_for_status()

    def _send_event(self, event: dict[str, Any]) -> None:
        try:
            self._post("/api/live/events", event)
        except (httpx.HTTPError, UplinkRejected) as e:
            self.stats.events_dropped += 1
            # One line per outage, not one per dropped event.
            if not self._events_failing:
                self._events_failing = True
                log.warning("live events not delivered to %s (%s): dropping them until it answers",
                            self.base, e)
            return
        self.stats.events_sent += 1
        if self._events_failing:
            self._events_failing = False
            log.info("live events reach %s again (%d dropped so far)", self.base, self.stats.events_dropped)

    def send_call(self, call: Any) -> None:
        """Post one stored call now. Raises UplinkRejected (4xx) or httpx.HTTPError."""
        self._post("/api/calls", call.to_dict())

    def _send_call(self, call_id: str) -> None:
        call = self.store.get_call(call_id)
        if call is None:
            log.error("call %s finished but is not in this node's store; nothing to send", call_id)
            self.stats.calls_failed += 1
            return
        deadline = time.monotonic() + self.retry_for_s
        delay = self.first_retry_s
        while True:
            try:
                self.send_call(call)
                self.stats.calls_sent += 1
                return
            except UplinkRejected as e:
                log.error("console %s refused call %s: %s (the call stays in this node's store)",
                          self.base, call_id, e)
                self.stats.calls_failed += 1
                return
            except httpx.HTTPError as e:
                if time.monotonic() + delay > deadline or self._stopping.is_set():
                    log.error("call %s not sent to %s after retrying %.0f s (%s); it stays in this "
                              "node's store: send it later with `deskline push --since %s`",
                              call_id, self.base, self.retry_for_s, e, call.started_at[:10])
                    self.stats.calls_failed += 1
                    return
                log.warning("console %s unreachable (%s); call %s retried in %.0f s",
                            self.base, e, call_id, delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, 60.0)
