"""One hotline call from INVITE to hang-up, as a small state machine run in the call's thread.

    routing ─┬─ closed ─► after_hours ─► voicemail ─► ended
             └─ open ───► greeting ─► ringing_engineer ─┬─► bridged ─► ended
                              ▲   (no answer: next)     │
                              └─────────────────────────┘  (nobody: voicemail)

Every phase change is recorded in ``phases`` with its call-clock time; the observer hears
the events the brief lists (started, ringing, answered, no answer, audio, voicemail, ended).
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .audio_tap import AudioTap
from .bridge import MediaPump
from .contracts import CallObserver, EngineerTarget, Prompts, RouteDecision, Router
from .pyvoip_adapter import InboundLeg, LegState, LegStateError, OutboundLeg
from .recorder import CallRecorder, IncrementalWavWriter

log = logging.getLogger(__name__)


class CallPhase(enum.Enum):
    ROUTING = "routing"
    AFTER_HOURS = "after_hours"
    GREETING = "greeting"
    RINGING_ENGINEER = "ringing_engineer"
    BRIDGED = "bridged"
    VOICEMAIL = "voicemail"
    ENDED = "ended"


@dataclass
class SessionSettings:
    recordings_dir: Path
    voicemail_max_s: float = 60.0
    observer_queue_frames: int = 500


@dataclass
class EngineerAttempt:
    engineer: EngineerTarget
    leg: OutboundLeg
    result: str = ""


@dataclass
class CallSession:
    caller: InboundLeg
    place_call: Callable[..., OutboundLeg]
    router: Router
    observer: CallObserver
    prompts: Prompts
    settings: SessionSettings
    now: Callable[[], datetime] = datetime.now
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    def __post_init__(self) -> None:
        self.phase = CallPhase.ROUTING
        self.phases: list[tuple[float, CallPhase]] = []
        self.attempts: list[EngineerAttempt] = []
        self.reason = ""
        self.recording_path: Path | None = None
        self.voicemail_path: Path | None = None
        self.pump: MediaPump | None = None
        self.tap: AudioTap | None = None

    def _enter(self, phase: CallPhase) -> None:
        self.phase = phase
        self.phases.append((self.pump.t if self.pump else 0.0, phase))
        log.info("call %s: %s", self.call_id, phase.value)

    def run(self) -> None:
        started_at = self.now()
        try:
            decision = self.router.route(self.caller.called, self.caller.caller, started_at)
        except Exception:
            log.exception("call %s: routing failed; refusing the call", self.call_id)
            self.caller.hangup("routing failed")
            return
        try:
            self.caller.answer()
        except LegStateError:
            self.reason = "caller hung up before answer"
            self._finish(decision, None)
            return
        self.recording_path = (
            self.settings.recordings_dir / started_at.strftime("%Y-%m-%d") / f"{self.call_id}.wav"
        )
        recorder = CallRecorder(self.recording_path)
        self.tap = AudioTap(self.observer, self.call_id, self.settings.observer_queue_frames)
        self.pump = MediaPump(self.caller, recorder, self.tap)
        self.observer.call_started(self.call_id, decision.line_id, self.caller.caller, started_at)
        try:
            if decision.is_open:
                self._open_line(decision)
            else:
                self._after_hours(decision)
        finally:
            recorder.close()
            self._finish(decision, self.recording_path)

    def _finish(self, decision: RouteDecision, recording: Path | None) -> None:
        for attempt in self.attempts:
            if attempt.leg.state != LegState.ENDED:
                attempt.leg.hangup("call over")
        if self.caller.state != LegState.ENDED:
            self.caller.hangup(self.reason or "call over")
        if self.tap is not None:
            self.tap.close()
        self._enter(CallPhase.ENDED)
        self.observer.call_ended(self.call_id, recording, self.sip_timings(), self.reason)

    # -- closed line ------------------------------------------------------------------
    def _after_hours(self, decision: RouteDecision) -> None:
        assert self.pump is not None
        self._enter(CallPhase.AFTER_HOURS)
        prompt = self.prompts.after_hours(
            decision.line_id, decision.next_opening, decision.web_url, self.now()
        )
        if self.pump.play(prompt) == "caller_gone":
            self.reason = "caller hung up during the after-hours prompt"
            return
        self._voicemail(decision)

    def _voicemail(self, decision: RouteDecision) -> None:
        assert self.pump is not None
        if self.pump.play(self.prompts.beep()) == "caller_gone":
            self.reason = self.reason or "caller hung up before the beep"
            return
        self._enter(CallPhase.VOICEMAIL)
        self.voicemail_path = self.settings.recordings_dir / "voicemail" / f"{self.call_id}.wav"
        writer = IncrementalWavWriter(self.voicemail_path, channels=1, queued=True)
        self.pump.voicemail = writer
        self.pump.run_until(lambda: False, timeout_s=self.settings.voicemail_max_s)
        self.pump.voicemail = None
        writer.close()
        self.reason = self.reason or "voicemail"
        self.observer.voicemail(self.call_id, decision.line_id, self.caller.caller, self.voicemail_path)

    # -- open line ----------------------------------------------------------------------
    def _open_line(self, decision: RouteDecision) -> None:
        assert self.pump is not None
        self._enter(CallPhase.GREETING)
        if self.pump.play(self.prompts.greeting(decision.line_id)) == "caller_gone":
            self.reason = "caller hung up during the greeting"
            return
        for index, engineer in enumerate(decision.engineers):
            if index > 0 and self.pump.play(self.prompts.next_engineer()) == "caller_gone":
                self.reason = "caller hung up while waiting"
                return
            outcome = self._ring(engineer, decision.ring_limit_s)
            if outcome in ("bridged", "caller_gone"):
                return
        self.reason = "no engineer answered"
        self.pump.play(self.prompts.nobody_available())
        if not self.pump.caller_gone:
            self._voicemail(decision)

    def _ring(self, engineer: EngineerTarget, ring_limit_s: float) -> str:
        assert self.pump is not None
        self._enter(CallPhase.RINGING_ENGINEER)
        try:
            leg = self.place_call(engineer.sip_uri, display_name="")
        except (ValueError, OSError) as e:
            log.warning("call %s: cannot ring %s at %s: %s", self.call_id, engineer.name, engineer.sip_uri, e)
            self.attempts.append(EngineerAttempt(engineer, _NoLeg(), f"bad address: {e}"))  # type: ignore[arg-type]
            return "failed"
        attempt = EngineerAttempt(engineer, leg)
        self.attempts.append(attempt)
        self.observer.engineer_ringing(self.call_id, engineer)
        ringback = self.prompts.ringback(ring_limit_s + 1.0)
        position = 0

        def feed_ringback() -> None:
            nonlocal position
            if self.caller.queued_output_s() < 0.1 and position < len(ringback):
                self.caller.write(ringback[position : position + 1600])
                position += 1600

        outcome = self.pump.run_until(
            lambda: leg.answered.is_set() or leg.ended.is_set(), ring_limit_s, feed=feed_ringback
        )
        if outcome == "caller_gone":
            leg.hangup("caller hung up")  # CANCEL while it rings
            attempt.result = "caller hung up"
            self.reason = "caller hung up while the engineer rang"
            return "caller_gone"
        if outcome == "timeout" or leg.ended.is_set():
            rang_s = self.pump.t - (self.phases[-1][0])
            if leg.state != LegState.ENDED:
                leg.hangup("no answer")
            attempt.result = leg.end_reason if leg.end_reason not in ("", "no answer") else "no answer"
            self.caller.flush_output()
            self.observer.engineer_no_answer(self.call_id, engineer, rang_s)
            return "no_answer"
        ring_time_s = leg.ring_time_s or 0.0
        attempt.result = "answered"
        self.observer.engineer_answered(self.call_id, engineer, ring_time_s)
        self._enter(CallPhase.BRIDGED)
        self.pump.bridge(leg)
        ended_by = self.pump.run_until(lambda: False)
        self.reason = "engineer hung up" if ended_by == "engineer_gone" else "caller hung up"
        return "bridged"

    # -- the record of what SIP did ------------------------------------------------------
    def sip_timings(self) -> dict:
        origin = self.caller.timings.get("created", 0.0)

        def rel(timings: dict[str, float]) -> dict[str, float]:
            return {k: round(v - origin, 3) for k, v in timings.items()}

        answered = next((a for a in self.attempts if a.result == "answered"), None)
        return {
            "caller": {
                "sip_call_id": self.caller.call_id,
                "codec": self.caller.codec,
                **rel(self.caller.timings),
            },
            "engineers": [
                {
                    "name": a.engineer.name,
                    "sip_uri": a.engineer.sip_uri,
                    "result": a.result,
                    "sip_call_id": a.leg.call_id,
                    "codec": a.leg.codec,
                    "ring_time_s": None if a.leg.ring_time_s is None else round(a.leg.ring_time_s, 3),
                    **rel(a.leg.timings),
                }
                for a in self.attempts
            ],
            "ring_time_s": None
            if answered is None or answered.leg.ring_time_s is None
            else round(answered.leg.ring_time_s, 3),
            "rings": len(self.attempts),
            "phases": [(round(t, 3), p.value) for t, p in self.phases],
            "audio_frames_dropped": self.tap.dropped if self.tap else 0,
        }


class _NoLeg:
    """Stands in for a leg that could not even be placed (bad address)."""

    call_id = ""
    codec = ""
    ring_time_s = None
    state = LegState.ENDED
    timings: dict[str, float] = {}  # noqa: RUF012 - never mutated
    end_reason = "not placed"

    def hangup(self, reason: str = "") -> None:
        return None
