"""Callbacks the node dials (issue 14, item 4): from a stored promise to an outbound call.

``CallbackDialer.start(callback_id, requested_by)`` checks that the callback can be dialled
(open, its owner on the roster, a dialable number, ``[outbound] trunk`` configured, not
already being dialled), records an attempt and runs an ``ivr.outbound_call`` session in
its own thread. When the session ends the attempt gets its outcome; the call itself (if
the engineer answered) is stored by the node's observer like any call, as
``direction = "outbound"`` with the callback's id, and the store keeps the promise when
the customer answered before the due time (``Store._keep_dialled_callback``).

The console and the node are one process here (``deskline serve``): the console's
``POST /api/callbacks/{id}/dial`` calls ``start`` directly. A console on another machine
has no dialer and answers 503 (see README "Callbacks").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from deskline.hotline_service import engineer_uri
from deskline.outbound_config import OutboundSettings
from ivr.call_session import SessionSettings
from ivr.contracts import CallLimits, CallObserver, EngineerTarget, Prompts, Reservations
from ivr.outbound_call import CallbackRequest, OutboundCallSession
from speech.qa.rulefile import RuleSet

log = logging.getLogger("deskline.callbacks")

class DialRefused(ValueError):
    """The callback cannot be dialled now; the message (Chinese) says why."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


class CallbackDialer:
    def __init__(self, cfg: Any, store: Any, place_call: Callable[..., Any], observer: CallObserver,
                 prompts: Prompts, settings: SessionSettings, rules: RuleSet,
                 reservations: Reservations | None = None, limits: CallLimits | None = None,
                 now: Callable[[], datetime] = datetime.now) -> None:
        self.cfg = cfg
        self.outbound: OutboundSettings = cfg.outbound
        self.store = store
        self.place_call = place_call
        self.observer = observer
        self.prompts = prompts
        self.settings = settings
        self.rules = rules.for_calls("outbound")
        self.reservations = reservations
        self.limits = limits
        self.now = now
        self._lock = threading.Lock()
        self._active: dict[int, int] = {}  # callback id -> attempt id being dialled
        self._threads: dict[int, threading.Thread] = {}  # attempt id -> its thread
        self.sessions: dict[int, OutboundCallSession] = {}  # attempt id -> session (kept for tests)

    def request_for(self, callback_id: int) -> CallbackRequest:
        """What ``start`` would dial, or DialRefused naming the reason."""
        if not self.outbound.enabled:
            raise DialRefused("未配置外呼线路（[outbound] trunk），不能回电", 503)
        task = self.store.get_callback(callback_id)
        if task is None:
            raise DialRefused(f"回电任务 {callback_id} 不存在", 404)
        if task.done_at:
            raise DialRefused("该回电任务已完成")
        engineer = self.cfg.roster.get(task.engineer) if self.cfg.roster else None
        if engineer is None:
            raise DialRefused(f"工程师 {task.engineer or '（未知）'} 不在值班名单中，无法拨打其话机")
        try:
            customer_uri = self.outbound.customer_uri(task.caller)
        except ValueError as e:
            raise DialRefused(str(e)) from None
        call = self.store.get_call(task.call_id)
        line_id = call.line if call is not None and call.line else self.cfg.lines[0].id
        line = next((x for x in self.cfg.lines if x.id == line_id), self.cfg.lines[0])
        return CallbackRequest(
            callback_id=task.id, line_id=line.id,
            engineer=EngineerTarget(engineer.name, engineer_uri(engineer.sip, self.cfg)),
            customer_number=task.caller, customer_uri=customer_uri, caller_id=self.outbound.caller_id,
            engineer_ring_s=self.outbound.engineer_ring_s, customer_ring_s=self.outbound.customer_ring_s,
            timezone=getattr(line, "timezone", ""))

    def start(self, callback_id: int, requested_by: str) -> int:
        """Start dialling; returns the attempt id at once (the call runs in its own thread)."""
        request = self.request_for(callback_id)
        with self._lock:
            if callback_id in self._active:
                raise DialRefused("该回电正在呼叫中")
            attempt_id = self.store.add_callback_attempt(
                callback_id, requested_by=requested_by, engineer=request.engineer.name,
                started_at=self.now().astimezone().isoformat())
            self._active[callback_id] = attempt_id
        session = OutboundCallSession(request, self.place_call, _RulesForCall(self.observer, self.rules),
                                      self.prompts, self.settings, now=self.now,
                                      reservations=self.reservations, limits=self.limits)
        self.sessions[attempt_id] = session
        thread = threading.Thread(target=self._run, args=(callback_id, attempt_id, session),
                                  name=f"callback-{callback_id}", daemon=True)
        self._threads[attempt_id] = thread
        thread.start()
        log.info("callback %s: %s dials %s for %s (attempt %s)", callback_id, request.engineer.name,
                 request.customer_uri, requested_by, attempt_id)
        return attempt_id

    def _run(self, callback_id: int, attempt_id: int, session: OutboundCallSession) -> None:
        try:
            session.run()
        finally:
            try:
                self.store.finish_callback_attempt(
                    attempt_id, outcome=session.outcome or "failed",
                    call_id=session.call_id if session.stored_call else "", detail=session.reason,
                    ended_at=self.now().astimezone().isoformat())
            except Exception:
                log.exception("callback %s: could not store how attempt %s ended", callback_id, attempt_id)
            with self._lock:
                self._active.pop(callback_id, None)

    def wait(self, attempt_id: int, timeout_s: float) -> bool:
        """For tests and shutdown: True once the attempt's thread has finished."""
        thread = self._threads.get(attempt_id)
        if thread is None:
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    def dialling(self) -> dict[int, int]:
        with self._lock:
            return dict(self._active)


class _RulesForCall:
    """The node's observer, told to check this call with the outbound rules."""

    def __init__(self, inner: CallObserver, rules: RuleSet) -> None:
        self._inner = inner
        self._rules = rules

    def call_started(self, call_id: str, line_id: str, caller: str, started_at: datetime) -> None:
        self._inner.call_started(call_id, line_id, caller, started_at)
        set_rules = getattr(self._inner, "set_call_rules", None)
        if set_rules is not None:
            set_rules(call_id, self._rules)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
