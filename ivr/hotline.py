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

from .call_session import CallSession, SessionSettings
from .contracts import CallObserver, Prompts, Router
from .pyvoip_adapter import InboundLeg, SipUserAgent

log = logging.getLogger(__name__)


class Hotline:
    def __init__(
        self,
        agent: SipUserAgent,
        router: Router,
        observer: CallObserver,
        prompts: Prompts,
        settings: SessionSettings,
        now: Callable[[], datetime] = datetime.now,
    ):
        self.agent = agent
        self.router = router
        self.observer = observer
        self.prompts = prompts
        self.settings = settings
        self.now = now
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
            leg, self.agent.place_call, self.router, self.observer, self.prompts, self.settings, now=self.now
        )
        with self._lock:
            self.sessions[session.call_id] = session
        try:
            session.run()
        finally:
            with self._lock:
                self.sessions.pop(session.call_id, None)
