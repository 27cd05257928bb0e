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
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from .audio_tap import AudioTap
from .bridge import MediaLimits, MediaPump
from .call_queue import CallQueues
from .contracts import CallLimits, CallObserver, EngineerTarget, Prompts, Reservations, RouteDecision, Router
from .pyvoip_adapter import AGENT_STOPPING, InboundLeg, LegState, LegStateError, OutboundLeg
from .recorder import CallRecorder, IncrementalWavWriter

log = logging.getLogger(__name__)


class CallPhase(enum.Enum):
    ROUTING = "routing"
    QUEUED = "queued"  # waiting in the line's queue (ivr.queue_wait)
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
    rtp_timeout_s: float | None = 60.0  # no RTP from a leg this long ends the call (None = never)
    max_call_s: float | None = 7200.0  # the call is ended at this length (None = never)


@dataclass
class EngineerAttempt:
    engineer: EngineerTarget
    leg: OutboundLeg
    result: str = ""


# run_until outcomes after which the call is over for the caller.
CALL_OVER = ("caller_gone", "limit")


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
    reservations: Reservations | None = None
    limits: CallLimits | None = None
    queues: CallQueues | None = None  # the node's line queues; None = no queue (voicemail at once)

    def __post_init__(self) -> None:
        self.phase = CallPhase.ROUTING
        self.phases: list[tuple[float, CallPhase]] = []
        self.attempts: list[EngineerAttempt] = []
        self.reason = ""
        self.recording_path: Path | None = None
        self.recording_refused = ""
        self.voicemail_path: Path | None = None
        self.pump: MediaPump | None = None
        self.tap: AudioTap | None = None
        self.recorder: CallRecorder | None = None
        self._held: list[str] = []  # engineers this call has reserved and not yet released
        self._talked_to = ""
        self._report_end = False
        self.queue_record: dict = {}  # how the call waited in the queue, if it did (ivr.queue_wait)

    def _enter(self, phase: CallPhase) -> None:
        self.phase = phase
        self.phases.append((self.pump.t if self.pump else 0.0, phase))
        log.info("call %s: %s", self.call_id, phase.value)

    def run(self) -> None:
        """The whole call. Whatever fails in it, the call is ended: both legs get their BYE
        (or CANCEL), the engineer is released and the observer hears ``call_ended``."""
        try:
            self._run()
        except Exception as e:
            log.exception("call %s: failed in phase %s; ending the call", self.call_id, self.phase.value)
            self.reason = f"internal error in {self.phase.value}: {type(e).__name__}: {e}"[:300]
        finally:
            self._finish()

    def _run(self) -> None:
        started_at = self.now()
        try:
            decision = self.router.route(self.caller.called, self.caller.caller, started_at)
        except Exception:
            log.exception("call %s: routing failed; refusing the call", self.call_id)
            self.reason = "routing failed"
            return
        self._report_end = True  # from here on the observer hears how the call ended
        try:
            self.caller.answer()
        except LegStateError:
            self.reason = "caller hung up before answer"
            return
        self.recording_refused = self.limits.recording_refusal() if self.limits else ""
        if self.recording_refused:
            log.warning("call %s: not recorded: %s", self.call_id, self.recording_refused)
        else:
            day = _line_date(started_at, decision.timezone)
            path = self.settings.recordings_dir / day / f"{self.call_id}.wav"
            try:
                self.recorder = CallRecorder(path)
                self.recording_path = path
            except OSError as e:  # the call is still handled, unrecorded
                self.recording_refused = f"cannot record: {e}"
                log.error("call %s: %s", self.call_id, self.recording_refused)
        self.tap = AudioTap(self.observer, self.call_id, self.settings.observer_queue_frames)
        limits = MediaLimits(self.settings.rtp_timeout_s, self.settings.max_call_s)
        self.pump = MediaPump(self.caller, self.recorder, self.tap, limits)
        self.observer.call_started(self.call_id, decision.line_id, self.caller.caller, started_at)
        if decision.is_open:
            self._open_line(decision)
        else:
            self._after_hours(decision)

    def _stopped(self, outcome: str, reason: str) -> bool:
        """True when ``outcome`` ends the call; sets the reason (a hit limit names itself)."""
        if outcome not in CALL_OVER:
            return False
        if outcome == "limit":
            assert self.pump is not None
            self.reason = self.pump.limit_reason
        else:
            self.reason = self.reason or reason
        return True

    def _finish(self) -> None:
        # Each step on its own: one failing must not keep the others from freeing what they hold.
        for attempt in self.attempts:
            _quietly(self.call_id, "hang up the engineer", lambda a=attempt: _hang_up(a.leg, "call over"))
        if self.caller.end_reason == AGENT_STOPPING:
            # Not the caller hanging up: the node was told to stop (Ctrl-C, SIGTERM) mid-call.
            self.reason = "the hotline stopped during the call"
        reason = self.reason or "call over"
        _quietly(self.call_id, "hang up the caller", lambda: _hang_up(self.caller, reason))
        self._release_all()
        limits, recording = self.limits, self.recording_path
        if self.recorder is not None:
            _quietly(self.call_id, "close the recording", self.recorder.close)
            if limits is not None and recording is not None:
                _quietly(self.call_id, "count the recording", lambda: limits.recorded(recording))
        if self.tap is not None:
            _quietly(self.call_id, "close the audio tap", self.tap.close)
        self._enter(CallPhase.ENDED)
        if not self._report_end:
            return  # refused before it began: nothing to report
        try:
            timings = self.sip_timings()
        except Exception:
            log.exception("call %s: SIP timings unavailable", self.call_id)
            timings = {}
        if self.recording_refused:
            timings["recording_refused"] = self.recording_refused
        if self.pump is not None and self.pump.recording_error:
            timings["recording_error"] = self.pump.recording_error
        _quietly(self.call_id, "report the end", lambda: self.observer.call_ended(
            self.call_id, self.recording_path, timings, self.reason))

    # -- engineers held by this call ---------------------------------------------------
    def _reserve(self, engineer: EngineerTarget) -> bool:
        if self.reservations is not None and not self.reservations.reserve(engineer.name):
            log.info("call %s: %s is on another call; not ringing them", self.call_id, engineer.name)
            return False
        self._held.append(engineer.name)
        return True

    def _release(self, name: str) -> None:
        if name in self._held:
            self._held.remove(name)
            if self.reservations is not None:
                self.reservations.release(name, self.now(), talked=name == self._talked_to)

    def _release_all(self) -> None:
        for name in list(self._held):
            _quietly(self.call_id, f"release {name}", lambda n=name: self._release(n))

    # -- closed line ------------------------------------------------------------------
    def _after_hours(self, decision: RouteDecision) -> None:
        assert self.pump is not None
        self._enter(CallPhase.AFTER_HOURS)
        prompt = self.prompts.after_hours(
            decision.line_id, decision.next_opening, decision.web_url, self.now()
        )
        if self._stopped(self.pump.play(prompt), "caller hung up during the after-hours prompt"):
            return
        self._voicemail(decision)

    def _voicemail(self, decision: RouteDecision) -> None:
        assert self.pump is not None
        refusal = self.recording_refused or (
            self.limits.voicemail_refusal(self.caller.caller, self.now()) if self.limits else "")
        if refusal:
            log.warning("call %s: no voicemail from %s: %s", self.call_id, self.caller.caller, refusal)
            self.reason = f"{self.reason}; " if self.reason else ""
            self.reason += f"voicemail refused: {refusal}"
            return
        if self._stopped(self.pump.play(self.prompts.beep()), "caller hung up before the beep"):
            return
        self._enter(CallPhase.VOICEMAIL)
        self.voicemail_path = self.settings.recordings_dir / "voicemail" / f"{self.call_id}.wav"
        try:
            writer = IncrementalWavWriter(self.voicemail_path, channels=1, queued=True)
        except OSError as e:
            log.error("call %s: cannot record a voicemail: %s", self.call_id, e)
            self.reason = f"{self.reason}; voicemail refused: cannot record: {e}".lstrip("; ")
            self.voicemail_path = None
            return
        self.pump.voicemail = writer
        try:
            outcome = self.pump.run_until(lambda: False, timeout_s=self.settings.voicemail_max_s)
        finally:
            self.pump.voicemail = None
            _quietly(self.call_id, "close the voicemail", writer.close)
        if self.limits is not None:
            self.limits.recorded(self.voicemail_path)
        if outcome == "limit":
            self.reason = self.pump.limit_reason
        self.reason = self.reason or "voicemail"
        self.observer.voicemail(self.call_id, decision.line_id, self.caller.caller, self.voicemail_path)

    # -- open line ----------------------------------------------------------------------
    def _open_line(self, decision: RouteDecision) -> None:
        assert self.pump is not None
        self._enter(CallPhase.GREETING)
        if self._stopped(self.pump.play(self.prompts.greeting(decision.line_id)),
                         "caller hung up during the greeting"):
            return
        rung = 0
        for engineer in decision.engineers:
            if not self._reserve(engineer):
                continue
            if rung > 0 and self._stopped(self.pump.play(self.prompts.next_engineer()),
                                          "caller hung up while waiting"):
                self._release(engineer.name)
                return
            rung += 1
            outcome = self._ring(engineer, decision.ring_limit_s)
            if outcome == "bridged" and self.queues is not None:
                self.queues.line(decision.line_id).conversation_ended(self._bridged_s())
            if outcome in ("bridged", "caller_gone"):
                return
        if rung == 0 and self._may_queue(decision):
            from .queue_wait import QueueWait

            assert self.queues is not None
            if QueueWait(self, decision, self.queues.line(decision.line_id)).run() != "full":
                return
        self.reason = "no engineer answered"
        if self._stopped(self.pump.play(self.prompts.nobody_available()), "caller hung up"):
            return
        self._voicemail(decision)

    def _may_queue(self, decision: RouteDecision) -> bool:
        """Nobody was free to ring: wait in the queue when the line has one and engineers at all."""
        policy = decision.queue
        return (self.queues is not None and policy is not None and policy.enabled
                and (policy.staffed > 0 or bool(decision.engineers)))

    def _enter_queued(self) -> None:
        self._enter(CallPhase.QUEUED)

    def _bridged_s(self) -> float:
        """Seconds of the last bridged conversation (the call thread is back from it)."""
        bridged = [t for t, p in self.phases if p == CallPhase.BRIDGED]
        return round(self.pump.t - bridged[-1], 3) if bridged and self.pump else 0.0

    def _ring(self, engineer: EngineerTarget, ring_limit_s: float) -> str:
        """Ring one reserved engineer; they are released unless the call is bridged to them."""
        assert self.pump is not None
        self._enter(CallPhase.RINGING_ENGINEER)
        try:
            leg = self.place_call(engineer.sip_uri, display_name="")
        except (ValueError, OSError) as e:
            log.warning("call %s: cannot ring %s at %s: %s", self.call_id, engineer.name, engineer.sip_uri, e)
            self.attempts.append(EngineerAttempt(engineer, _NoLeg(), f"bad address: {e}"))  # type: ignore[arg-type]
            self._release(engineer.name)
            return "failed"
        attempt = EngineerAttempt(engineer, leg)
        self.attempts.append(attempt)
        self.observer.engineer_ringing(self.call_id, engineer)
        ringback = self.prompts.ringback(ring_limit_s + 1.0)
        position = 0

        def feed_ringback() -> None:
            nonlocal position
            # The call thread looks in every 100 ms (``run_until``): keep more than that queued.
            if self.caller.queued_output_s() < 0.3 and position < len(ringback):
                self.caller.write(ringback[position : position + 1600])
                position += 1600

        outcome = self.pump.run_until(
            lambda: leg.answered.is_set() or leg.ended.is_set(), ring_limit_s, feed=feed_ringback
        )
        if self._stopped(outcome, "caller hung up while the engineer rang"):
            leg.hangup("caller hung up")  # CANCEL while it rings
            attempt.result = "caller hung up" if outcome == "caller_gone" else self.reason
            self._release(engineer.name)
            return "caller_gone"
        if outcome == "timeout" or leg.ended.is_set():
            rang_s = self.pump.t - (self.phases[-1][0])
            if leg.state != LegState.ENDED:
                leg.hangup("no answer")
            attempt.result = leg.end_reason if leg.end_reason not in ("", "no answer") else "no answer"
            self.caller.flush_output()
            self._release(engineer.name)
            self.observer.engineer_no_answer(self.call_id, engineer, rang_s)
            return "no_answer"
        ring_time_s = leg.ring_time_s or 0.0
        attempt.result = "answered"
        self._talked_to = engineer.name
        self.observer.engineer_answered(self.call_id, engineer, ring_time_s)
        _quietly(self.call_id, "store the dialogs", lambda: self.observer.dialogs_established(
            self.call_id, {"caller": asdict(self.caller.dialog), "engineer": asdict(leg.dialog)}))
        self._enter(CallPhase.BRIDGED)
        self.pump.bridge(leg)
        ended_by = self.pump.run_until(lambda: False)
        if ended_by == "limit":
            self.reason = self.pump.limit_reason
        else:
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
            "talk_s": self._talk_s(),
            "audio_frames_dropped": self.tap.dropped if self.tap else 0,
            **({"queue": self.queue_record, "queue_wait_s": self.queue_record.get("wait_s")}
               if self.queue_record else {}),
        }


    def _talk_s(self) -> float:
        """Seconds the caller was bridged to an engineer (0 when never)."""
        times = {p: t for t, p in self.phases}
        if CallPhase.BRIDGED not in times:
            return 0.0
        end = times.get(CallPhase.ENDED, self.pump.t if self.pump else 0.0)
        return round(max(0.0, end - times[CallPhase.BRIDGED]), 3)


def _hang_up(leg: InboundLeg | OutboundLeg, reason: str) -> None:
    if leg.state != LegState.ENDED:
        leg.hangup(reason)


def _line_date(moment: datetime, timezone: str) -> str:
    """The call's date where the line is: 07:00 in Shanghai is filed under that day on a UTC host."""
    if not timezone:
        return moment.strftime("%Y-%m-%d")
    aware = moment if moment.tzinfo else moment.astimezone()
    return aware.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d")


def _quietly(call_id: str, what: str, action: Callable[[], object]) -> None:
    try:
        action()
    except Exception:
        log.exception("call %s: could not %s", call_id, what)


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
