"""The hotline: answers every incoming call with a ``CallSession`` in the call's own thread.

Wiring (the lead's composition root does this with real parts)::

    agent = SipUserAgent("127.0.0.1", 5060)
    hotline = Hotline(agent, router, observer, TonePrompts(), SessionSettings(Path("var/recordings")))
    hotline.start()   # ... hotline.stop()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from .call_queue import CallQueues, QueueingReservations
from .call_session import CallSession, SessionSettings
from .contracts import CallLimits, CallObserver, Prompts, Reservations, Router
from .pyvoip_adapter import InboundLeg, SipUserAgent

log = logging.getLogger(__name__)


class LocalReservations:
    """Engineers held by this hotline's calls (a node with a roster uses its DispatchState)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.held: set[str] = set()

    def reserve(self, name: str) -> bool:
        with self._lock:
            if name in self.held:
                return False
            self.held.add(name)
            return True

    def release(self, name: str, now: datetime, talked: bool) -> None:
        with self._lock:
            self.held.discard(name)


class Hotline:
    def __init__(
        self,
        agent: SipUserAgent,
        router: Router,
        observer: CallObserver,
        prompts: Prompts,
        settings: SessionSettings,
        now: Callable[[], datetime] = datetime.now,
        reservations: Reservations | None = None,
        limits: CallLimits | None = None,
    ):
        self.agent = agent
        self.router = router
        self.observer = observer
        self.prompts = prompts
        self.settings = settings
        self.now = now
        self.reservations = reservations if reservations is not None else LocalReservations()
        self.queues = CallQueues()
        # Calls reserve through this: each release wakes the queues' waiting callers.
        self._queueing = QueueingReservations(self.reservations, self.queues)
        self.limits = limits
        self.sessions: dict[str, CallSession] = {}
        self._lock = threading.Lock()
        agent.on_incoming_call(self._on_call)

    def start(self) -> None:
        self.agent.start()

    def stop(self) -> None:
        self.agent.stop()

    @property
    def active_calls(self) -> int:
        with self._lock:
            return len(self.sessions)

    def _on_call(self, leg: InboundLeg) -> None:
        # Runs in the thread the agent started for this call: one thread per call.
        session = CallSession(
            leg, self.agent.place_call, self.router, self.observer, self.prompts, self.settings, now=self.now,
            reservations=self._queueing, limits=self.limits, queues=self.queues,
        )
        with self._lock:
            self.sessions[session.call_id] = session
        try:
            session.run()
        finally:
            with self._lock:
                self.sessions.pop(session.call_id, None)
