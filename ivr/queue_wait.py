"""A caller waiting in the line's queue, run in the call's own thread (``CallSession``).

    queued ─┬─ a free engineer claimed ─► ringing_engineer ─┬─► bridged
            │        ▲                  (no answer: back,  │
            │        └──────────────── same place) ◄───────┘
            ├─ caller hangs up ─► abandoned
            └─ max_wait_s ─► menu: 1 / nothing ─► voicemail;  2 ─► callback promised

While waiting the caller hears hold music, and the position and expected wait when they
join and every ``announce_every_s``. The thread wakes at every change of the queue (a
caller joined or left, an engineer was released) and at least every ``RECHECK_S``; only
a caller who may be taken (the head, or one whose callback owner may come free) asks the
router for free engineers, so fifty waiters do not read the store fifty times a second.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from .call_queue import CallQueue, Waiter
from .contracts import QueuePolicy, RouteDecision

if TYPE_CHECKING:
    from .call_session import CallSession

log = logging.getLogger(__name__)
RECHECK_S = 2.0  # look for a free engineer this often even when nothing was signalled
RETRY_UNANSWERED_S = 30.0  # an engineer who let this caller's ring go unanswered is skipped this long
CHUNK = 1600  # samples queued at a time (0.2 s)
MUSIC_LOOP_S = 30.0


class HoldAudio:
    """What the waiting caller hears: an announcement when there is one, else hold music."""

    def __init__(self, session: CallSession) -> None:
        self.caller = session.caller
        self.music = _music(session)
        self.music_at = 0
        self.speech = np.zeros(0, dtype=np.int16)
        self.speech_at = 0

    def say(self, pcm: np.ndarray) -> None:
        self.caller.flush_output()
        self.speech, self.speech_at = pcm, 0

    def feed(self) -> None:
        # The call thread looks in every 100 ms (``run_until``): keep more than that queued.
        while self.caller.queued_output_s() < 0.3:
            if self.speech_at < len(self.speech):
                chunk = self.speech[self.speech_at : self.speech_at + CHUNK]
                self.speech_at += len(chunk)
            else:
                if self.music_at >= len(self.music):
                    self.music_at = 0
                chunk = self.music[self.music_at : self.music_at + CHUNK]
                self.music_at += len(chunk)
            self.caller.write(chunk)

    def stop(self) -> None:
        self.caller.flush_output()


def _music(session: CallSession) -> np.ndarray:
    maker = getattr(session.prompts, "hold_music", None)
    if maker is None:
        return np.zeros(int(MUSIC_LOOP_S * 8000), dtype=np.int16)
    return maker(MUSIC_LOOP_S)


class QueueWait:
    def __init__(self, session: CallSession, decision: RouteDecision, queue: CallQueue) -> None:
        assert decision.queue is not None and session.pump is not None
        self.session = session
        self.pump = session.pump
        self.decision = decision
        self.policy: QueuePolicy = decision.queue
        self.queue = queue
        self.waiter = Waiter(session.call_id, session.caller.caller, decision.owner)
        self.declined: dict[str, float] = {}  # engineer -> call-clock time they may be rung again
        self.record: dict = {}
        self.digits: list[str] = []
        self._menu_open = False

    @property
    def staffed(self) -> int:
        return self.policy.staffed or len(self.decision.engineers) or 1

    def run(self) -> str:
        """"bridged", "caller_gone", "voicemail", "callback" or "full" (the caller was not queued)."""
        position = self.queue.join(self.waiter, self.policy.max_length)
        session = self.session
        session.queue_record = self.record
        if position is None:
            self.record.update(outcome="full", wait_s=0.0)
            log.info("call %s: the %s queue is full", session.call_id, self.decision.line_id)
            return "full"
        self.record.update(joined_s=round(self.pump.t, 3), position=position, announcements=0,
                           rings=0, outcome="")
        session.caller.on_dtmf(self._digit)
        session._enter_queued()
        start = self.pump.t
        audio = HoldAudio(session)
        try:
            outcome = self._wait(audio, start)
        finally:
            self.queue.leave(self.waiter)
            audio.stop()
        if outcome != "max_wait":
            return outcome
        self._set_wait(start)
        return self._menu()

    def _set_wait(self, start: float, until: float | None = None) -> None:
        self.record["wait_s"] = round((self.pump.t if until is None else until) - start, 3)

    def _announce(self, audio: HoldAudio, first: bool) -> None:
        say = getattr(self.session.prompts, "queue_position", None)
        if say is None:
            return
        position = self.queue.position(self.waiter) or 1
        expected = self.queue.expected_wait_s(position, self.staffed, self.policy.assumed_talk_s)
        audio.say(say(position - 1, expected, first))
        self.record["announcements"] += 1

    def _wait(self, audio: HoldAudio, start: float) -> str:
        session, pump, policy = self.session, self.pump, self.policy
        deadline = start + policy.max_wait_s
        self._announce(audio, first=True)
        next_announce = pump.t + policy.announce_every_s
        seen = -1  # look at once: an engineer may have come free while the caller heard the greeting
        while True:
            if pump.t >= deadline:
                return "max_wait"
            if pump.t >= next_announce:
                self._announce(audio, first=False)
                next_announce = pump.t + policy.announce_every_s
            wait = min(RECHECK_S, deadline - pump.t, max(0.1, next_announce - pump.t))
            frames = pump.frames
            # At least one tick per wait: the call clock only runs while the pump is in the engine.
            outcome = pump.run_until(
                lambda seen=seen, frames=frames: self.queue.generation != seen and pump.frames > frames,
                wait, feed=audio.feed)
            if session._stopped(outcome, "caller hung up in the queue"):
                self._set_wait(start)
                self.record["outcome"] = "abandoned" if outcome == "caller_gone" else "limit"
                return "caller_gone"
            if not self.queue.may_take(self.waiter):
                seen = self.queue.generation
                continue
            result = self._take_engineer(audio, start)
            # Changes made by the attempt itself (leaving and rejoining) are not news; one made
            # elsewhere meanwhile is caught by the next RECHECK_S.
            seen = self.queue.generation
            if result in ("bridged", "caller_gone"):
                return result
            if result == "rang":
                next_announce = pump.t  # back in the queue: tell the caller where they are now

    def _take_engineer(self, audio: HoldAudio, start: float) -> str:
        """Ring the first free engineer this caller may take: "bridged", "caller_gone", "rang"
        (nobody answered: back in the queue) or "none"."""
        session = self.session
        try:
            decision = session.router.route(session.caller.called, session.caller.caller, session.now())
        except Exception:
            log.exception("call %s: routing from the queue failed; still waiting", session.call_id)
            return "none"
        if not decision.is_open:
            return "none"  # closed while waiting: the caller reaches the menu at max_wait_s
        for engineer in decision.engineers:
            if self.pump.t < self.declined.get(engineer.name, -1.0):
                continue
            if not self.queue.claim(self.waiter, engineer.name):
                continue
            if not session._reserve(engineer):  # taken by a call of another line meanwhile
                self.queue.join(self.waiter, self.policy.max_length)
                continue
            audio.stop()
            rang_at = self.pump.t
            self.record["rings"] += 1
            outcome = session._ring(engineer, decision.ring_limit_s)
            if outcome == "bridged":
                self._set_wait(start, until=rang_at)
                self.record["outcome"] = "answered"
                self.queue.conversation_ended(session._bridged_s())
                return "bridged"
            if outcome == "caller_gone":
                self._set_wait(start)
                self.record["outcome"] = "abandoned"
                return "caller_gone"
            self.declined[engineer.name] = self.pump.t + RETRY_UNANSWERED_S
            self.queue.join(self.waiter, self.policy.max_length)  # same place as before
            session._enter_queued()
            return "rang"
        return "none"

    # -- after the longest wait --------------------------------------------------------
    def _digit(self, digit: str) -> None:
        if self._menu_open:
            self.digits.append(digit)

    def _menu(self) -> str:
        session, pump, prompts = self.session, self.pump, self.session.prompts
        menu = getattr(prompts, "queue_menu", None)
        choice = ""
        if menu is not None:
            self._menu_open = True
            pcm = menu()
            session.caller.write(pcm)
            outcome = pump.run_until(lambda: bool(self.digits), len(pcm) / 8000 + self.policy.menu_timeout_s)
            self._menu_open = False
            if session._stopped(outcome, "caller hung up at the queue menu"):
                self.record["outcome"] = "abandoned"
                return "caller_gone"
            choice = self.digits[0] if self.digits else ""
            session.caller.flush_output()
        self.record["choice"] = choice
        if choice == "2":
            self.record["outcome"] = "callback"
            requested = getattr(session.observer, "callback_requested", None)
            if requested is not None:
                requested(session.call_id, self.decision.line_id, session.caller.caller, self.decision.owner)
            session.reason = "callback promised from the queue"
            promised = getattr(prompts, "callback_promised", None)
            if promised is not None:
                session._stopped(pump.play(promised()), "caller hung up")
            return "callback"
        self.record["outcome"] = "voicemail"
        session.reason = "queue wait limit reached"
        if session._stopped(pump.play(prompts.nobody_available()), "caller hung up"):
            return "caller_gone"
        session._voicemail(self.decision)
        return "voicemail"
