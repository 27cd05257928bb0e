"""One callback the node places (issue 14, item 4): the engineer first, then the customer.

    ringing_engineer ─┬─ no answer / busy ─────────────────────────► ended
                      └─ answered ─► ringing_customer ─┬─ no answer / busy / refused ─► ended
                         (engineer hears a beep, then  └─ answered ─► bridged ─► ended
                          ringback while it rings)

The engineer is rung first so that the customer never answers to nobody. The call is
recorded in stereo like an inbound call (left = customer, right = engineer) from the
moment the engineer answers, and the observer hears it as a call with the customer as
"caller" from the moment the customer answers: the rules' greeting window opens then.

``outcome`` says how the attempt ended ("connected", "engineer_no_answer",
"engineer_busy", "customer_no_answer", "customer_busy", "customer_refused",
"engineer_hung_up", "failed"); ``sip_timings()`` goes into the stored call with
``direction = "outbound"`` and the callback's id, which is what keeps the promise.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from .audio_tap import AudioTap
from .bridge import MediaLimits, MediaPump
from .call_session import SessionSettings, _line_date, _quietly
from .contracts import CallLimits, CallObserver, EngineerTarget, LegName, Prompts, Reservations
from .pyvoip_adapter import AGENT_STOPPING, LegState, OutboundLeg
from .recorder import CallRecorder

log = logging.getLogger(__name__)

BUSY_CODES = (486, 600)  # Busy Here, Busy Everywhere
NO_ANSWER_CODES = (408, 480, 487)  # no response, temporarily unavailable, cancelled (our timeout)


class OutboundPhase(enum.Enum):
    RINGING_ENGINEER = "ringing_engineer"
    RINGING_CUSTOMER = "ringing_customer"
    BRIDGED = "bridged"
    ENDED = "ended"


@dataclass(frozen=True)
class CallbackRequest:
    """What to dial: who owns the callback, whom to call and how long each may ring."""

    callback_id: int
    line_id: str
    engineer: EngineerTarget
    customer_number: str  # as stored with the promise (the record's "caller")
    customer_uri: str  # sip:<digits>@<trunk>
    caller_id: str  # the user part the customer sees
    engineer_ring_s: float = 20.0
    customer_ring_s: float = 30.0
    timezone: str = ""


class _CustomerFirstRecorder:
    """The pump's first leg is the engineer here; the file keeps the inbound layout
    (left = customer, right = engineer) so players, peaks and the analysis read it alike."""

    def __init__(self, inner: CallRecorder) -> None:
        self.inner = inner

    def add(self, engineer: np.ndarray, customer: np.ndarray) -> None:
        self.inner.add(customer, engineer)

    def close(self) -> None:
        self.inner.close()


class _CustomerFirstTap:
    """Names the pump's legs for the observer: its first leg (the engineer) is "engineer"."""

    SWAP: dict[str, LegName] = {"caller": "engineer", "engineer": "caller"}  # noqa: RUF012 - constant

    def __init__(self, inner: AudioTap) -> None:
        self.inner = inner

    @property
    def dropped(self) -> int:
        return self.inner.dropped

    def put(self, leg: LegName, t: float, pcm: np.ndarray) -> None:
        self.inner.put(self.SWAP[leg], t, pcm)

    def close(self) -> None:
        self.inner.close()


@dataclass
class OutboundCallSession:
    request: CallbackRequest
    place_call: Callable[..., OutboundLeg]
    observer: CallObserver
    prompts: Prompts
    settings: SessionSettings
    now: Callable[[], datetime] = datetime.now
    call_id: str = field(default_factory=lambda: "cb" + uuid.uuid4().hex[:14])
    reservations: Reservations | None = None
    limits: CallLimits | None = None

    def __post_init__(self) -> None:
        self.phase = OutboundPhase.RINGING_ENGINEER
        self.phases: list[tuple[float, OutboundPhase]] = []
        self.outcome = ""
        self.reason = ""
        self.engineer_leg: OutboundLeg | None = None
        self.customer_leg: OutboundLeg | None = None
        self.recording_path: Path | None = None
        self.recording_refused = ""
        self.pump: MediaPump | None = None
        self.tap: AudioTap | None = None
        self.recorder: CallRecorder | None = None
        self.started_at: datetime | None = None
        self.customer_answered_at: datetime | None = None
        self._held = False
        self._reported = False  # the observer heard call_started: it must hear call_ended

    @property
    def stored_call(self) -> bool:
        """Whether a call record exists for this attempt (the engineer answered)."""
        return self._reported

    def _enter(self, phase: OutboundPhase) -> None:
        self.phase = phase
        self.phases.append((self.pump.t if self.pump else 0.0, phase))
        log.info("callback %s (%s): %s", self.request.callback_id, self.call_id, phase.value)

    def run(self) -> None:
        """The whole attempt; whatever fails, both legs are ended and the engineer released."""
        try:
            self._run()
        except Exception as e:
            log.exception("callback %s: failed in phase %s", self.call_id, self.phase.value)
            self.outcome = self.outcome if self.outcome == "connected" else "failed"
            self.reason = f"internal error in {self.phase.value}: {type(e).__name__}: {e}"[:300]
        finally:
            self._finish()

    # -- the engineer ------------------------------------------------------------------
    def _run(self) -> None:
        req = self.request
        self.started_at = self.now()
        self._enter(OutboundPhase.RINGING_ENGINEER)
        if self.reservations is not None and not self.reservations.reserve(req.engineer.name):
            self.outcome, self.reason = "engineer_busy", f"{req.engineer.name} is on another call"
            return
        self._held = True
        try:
            leg = self.place_call(req.engineer.sip_uri, from_user=_user_part(req.customer_number))
        except (ValueError, OSError) as e:
            self.outcome, self.reason = "failed", f"cannot ring {req.engineer.sip_uri}: {e}"
            return
        self.engineer_leg = leg
        if not leg.wait_answered(req.engineer_ring_s):
            if leg.state != LegState.ENDED:
                leg.hangup("no answer")
            busy = leg.final_status in BUSY_CODES
            self.outcome = "engineer_busy" if busy else "engineer_no_answer"
            self.reason = f"engineer {leg.end_reason or 'did not answer'}"
            return
        self._start_recording()
        self._call_customer(leg)

    def _start_recording(self) -> None:
        assert self.engineer_leg is not None and self.started_at is not None
        req = self.request
        self.recording_refused = self.limits.recording_refusal() if self.limits else ""
        if not self.recording_refused:
            day = _line_date(self.started_at, req.timezone)
            path = self.settings.recordings_dir / day / f"{self.call_id}.wav"
            try:
                self.recorder = CallRecorder(path)
                self.recording_path = path
            except OSError as e:
                self.recording_refused = f"cannot record: {e}"
        if self.recording_refused:
            log.warning("callback %s: not recorded: %s", self.call_id, self.recording_refused)
        self.tap = AudioTap(self.observer, self.call_id, self.settings.observer_queue_frames)
        limits = MediaLimits(self.settings.rtp_timeout_s, self.settings.max_call_s)
        recorder = _CustomerFirstRecorder(self.recorder) if self.recorder is not None else None
        self.pump = MediaPump(self.engineer_leg, recorder, _CustomerFirstTap(self.tap), limits)  # type: ignore[arg-type]
        self.observer.call_started(self.call_id, req.line_id, req.customer_number, self.started_at)
        self._reported = True

    # -- the customer ------------------------------------------------------------------
    def _call_customer(self, engineer_leg: OutboundLeg) -> None:
        assert self.pump is not None
        req = self.request
        if self.pump.play(self.prompts.beep()) in ("caller_gone", "limit"):
            self.outcome, self.reason = "engineer_hung_up", "engineer hung up before the customer was called"
            return
        self._enter(OutboundPhase.RINGING_CUSTOMER)
        try:
            customer = self.place_call(req.customer_uri, from_user=req.caller_id)
        except (ValueError, OSError) as e:
            self.outcome, self.reason = "failed", f"cannot call {req.customer_uri}: {e}"
            return
        self.customer_leg = customer
        ringback = self.prompts.ringback(req.customer_ring_s + 1.0)
        position = 0

        def feed_ringback() -> None:
            nonlocal position
            if engineer_leg.queued_output_s() < 0.3 and position < len(ringback):
                engineer_leg.write(ringback[position : position + 1600])
                position += 1600

        outcome = self.pump.run_until(
            lambda: customer.answered.is_set() or customer.ended.is_set(), req.customer_ring_s,
            feed=feed_ringback)
        if outcome in ("caller_gone", "limit"):
            customer.hangup("engineer hung up")
            self.outcome = "engineer_hung_up"
            self.reason = (self.pump.limit_reason if outcome == "limit"
                           else "engineer hung up while the customer rang")
            return
        if outcome == "timeout" or customer.ended.is_set():
            if customer.state != LegState.ENDED:
                customer.hangup("no answer")
            code = customer.final_status
            if code in BUSY_CODES:
                self.outcome = "customer_busy"
            elif code is None or code in NO_ANSWER_CODES or outcome == "timeout":
                self.outcome = "customer_no_answer"
            else:
                self.outcome = "customer_refused"
            self.reason = f"customer {customer.end_reason or 'did not answer'}"
            engineer_leg.flush_output()
            return
        self._bridge(engineer_leg, customer)

    def _bridge(self, engineer_leg: OutboundLeg, customer: OutboundLeg) -> None:
        assert self.pump is not None
        self.customer_answered_at = self.now().astimezone()
        self.outcome = "connected"
        self.observer.engineer_answered(self.call_id, self.request.engineer, customer.ring_time_s or 0.0)
        _quietly(self.call_id, "store the dialogs", lambda: self.observer.dialogs_established(
            self.call_id, {"caller": asdict(customer.dialog), "engineer": asdict(engineer_leg.dialog)}))
        self._enter(OutboundPhase.BRIDGED)
        self.pump.bridge(customer)
        ended_by = self.pump.run_until(lambda: False)
        if ended_by == "limit":
            self.reason = self.pump.limit_reason
        else:
            self.reason = "engineer hung up" if ended_by == "caller_gone" else "customer hung up"

    # -- the end -------------------------------------------------------------------------
    def _finish(self) -> None:
        for what, leg in (("customer", self.customer_leg), ("engineer", self.engineer_leg)):
            if leg is not None and leg.state != LegState.ENDED:
                reason = self.reason or "call over"
                _quietly(self.call_id, f"hang up the {what}", lambda lg=leg, r=reason: lg.hangup(r))
        if self.engineer_leg is not None and self.engineer_leg.end_reason == AGENT_STOPPING:
            self.reason = "the hotline stopped during the call"
        if self._held and self.reservations is not None:
            talked = self.outcome == "connected"
            _quietly(self.call_id, "release the engineer", lambda: self.reservations.release(  # type: ignore[union-attr]
                self.request.engineer.name, self.now(), talked=talked))
        if self.recorder is not None:
            _quietly(self.call_id, "close the recording", self.recorder.close)
            if self.limits is not None and self.recording_path is not None:
                path = self.recording_path
                _quietly(self.call_id, "count the recording", lambda: self.limits.recorded(path))  # type: ignore[union-attr]
        if self.tap is not None:
            _quietly(self.call_id, "close the audio tap", self.tap.close)
        self._enter(OutboundPhase.ENDED)
        if not self._reported:
            return
        timings = self.sip_timings()
        _quietly(self.call_id, "report the end", lambda: self.observer.call_ended(
            self.call_id, self.recording_path, timings, self.reason or self.outcome))

    def sip_timings(self) -> dict:
        def leg_info(leg: OutboundLeg | None) -> dict:
            if leg is None:
                return {}
            return {"sip_call_id": leg.call_id, "codec": leg.codec, "final_status": leg.final_status,
                    "end_reason": leg.end_reason,
                    "ring_time_s": None if leg.ring_time_s is None else round(leg.ring_time_s, 3)}

        info: dict = {
            "direction": "outbound",
            "callback_id": self.request.callback_id,
            "outcome": self.outcome,
            "engineer_leg": leg_info(self.engineer_leg),
            "customer_leg": leg_info(self.customer_leg),
            "customer_answered_at": (self.customer_answered_at.isoformat()
                                     if self.customer_answered_at else None),
            "phases": [(round(t, 3), p.value) for t, p in self.phases],
            "talk_s": self._talk_s(),
            "audio_frames_dropped": self.tap.dropped if self.tap else 0,
        }
        if self.recording_refused:
            info["recording_refused"] = self.recording_refused
        if self.pump is not None and self.pump.recording_error:
            info["recording_error"] = self.pump.recording_error
        return info

    def _talk_s(self) -> float:
        times = {p: t for t, p in self.phases}
        if OutboundPhase.BRIDGED not in times:
            return 0.0
        end = times.get(OutboundPhase.ENDED, self.pump.t if self.pump else 0.0)
        return round(max(0.0, end - times[OutboundPhase.BRIDGED]), 3)


def _user_part(number: str) -> str:
    """The customer's number as the From user the engineer's phone shows (digits only)."""
    digits = "".join(c for c in number if c.isdigit())
    return digits or "callback"
