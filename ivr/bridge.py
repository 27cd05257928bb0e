"""The per-call media step: every 20 ms, move audio between the legs.

One ``MediaPump`` per call. Its ``tick`` runs on the node's media thread
(``pyvoip_adapter.media_engine``), between receiving and sending RTP: it reads one frame
from the caller and (when there is one) the engineer, forwards each to the other side
once they are bridged, hands both to the stereo recording and to the observer, all
stamped with the same call-clock time ``t`` so the legs stay aligned. The call's own
thread only decides (``run_until``: wait for an answer, a hang-up, a timeout) and queues
prompts and ringback on the caller leg; it never moves audio itself, so a call thread
that is slow to wake costs no gap.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .audio_tap import AudioTap
from .pyvoip_adapter import FRAME_SAMPLES, Leg, LegStateError
from .pyvoip_adapter.media_engine import MediaEngine
from .recorder import CallRecorder, IncrementalWavWriter

log = logging.getLogger(__name__)
FRAME_S = FRAME_SAMPLES / 8000
SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.int16)
ENGINE_STALL_S = 10.0  # no tick for this long: the media engine is gone, end the call
# The call thread is woken every this many ticks (100 ms), not every tick: a hundred call
# threads contending for the GIL 50 times a second delayed the media thread's sends.
WAKE_EVERY_TICKS = 5


class MediaEngineStalled(RuntimeError):
    pass


@dataclass(frozen=True)
class MediaLimits:
    """When a call is ended however it is going: no RTP from a leg for ``rtp_timeout_s``, or
    ``max_call_s`` on the call clock. None = no limit."""

    rtp_timeout_s: float | None = None
    max_call_s: float | None = None


def _packets_received(leg: Leg) -> int | None:
    rtp = getattr(leg, "rtp", None)
    return getattr(rtp, "packets_received", None)


class MediaPump:
    def __init__(
        self,
        caller: Leg,
        recorder: CallRecorder | None = None,
        tap: AudioTap | None = None,
        limits: MediaLimits | None = None,
        engine: MediaEngine | None = None,
    ):
        self.caller = caller
        self.limits = limits or MediaLimits()
        self.recording_error = ""  # why writing the recording stopped, if it did
        self.limit_reason = ""  # set once a limit is hit: every run_until then returns "limit"
        # Per leg: the RTP packet count last seen and the call-clock time it last changed.
        self._heard: dict[str, tuple[int | None, float]] = {"caller": (_packets_received(caller), 0.0)}
        self.recorder = recorder
        self.tap = tap
        self.engine = engine or MediaEngine.shared()
        self._ticked = threading.Condition()
        self.failure: BaseException | None = None  # what the media step raised, re-raised in run_until
        self.engineer: Leg | None = None
        self.bridged = False
        self.voicemail: IncrementalWavWriter | None = None
        self.frames = 0
        self.caller_gone = False
        self.engineer_gone = False

    @property
    def t(self) -> float:
        """Seconds on the call clock (0 = the caller was answered)."""
        return self.frames * FRAME_S

    def bridge(self, engineer: Leg) -> None:
        """Connect caller and engineer: audio both ways, DTMF passed through."""
        self.engineer = engineer
        self.engineer_gone = False
        self._heard["engineer"] = (_packets_received(engineer), self.t)
        self.caller.flush_output()  # stop ringback at once
        self.bridged = True
        self.caller.on_dtmf(lambda digit: self._relay_dtmf(engineer, digit))
        engineer.on_dtmf(lambda digit: self._relay_dtmf(self.caller, digit))

    def _relay_dtmf(self, to: Leg, digit: str) -> None:
        if self.bridged:
            try:
                to.send_dtmf(digit)
            except (LegStateError, ValueError):
                pass  # the other side did not negotiate telephone-event, or just hung up

    def tick(self) -> None:
        """Move one frame each way (on the media thread, once per 20 ms)."""
        caller_frame = self.caller.read_frame()
        if caller_frame is None:
            self.caller_gone = True
            caller_frame = SILENCE
        engineer_frame = SILENCE
        if self.engineer is not None and self.bridged:
            frame = self.engineer.read_frame()
            if frame is None:
                self.engineer_gone = True
            else:
                engineer_frame = frame
                self.engineer.write(caller_frame)
                self.caller.write(engineer_frame)
        t = self.t
        if self.recorder is not None:
            try:
                self.recorder.add(caller_frame, engineer_frame)
            except OSError as e:  # disk full, say: the call goes on unrecorded
                log.error("recording stopped at %.1f s: %s", t, e)
                self.recording_error = str(e)
                self.recorder = None
        if self.voicemail is not None:
            try:
                self.voicemail.write(caller_frame)
            except OSError as e:
                log.error("voicemail recording stopped at %.1f s: %s", t, e)
                self.recording_error = str(e)
                self.voicemail = None
        if self.tap is not None:
            self.tap.put("caller", t, caller_frame)
            if self.bridged:
                self.tap.put("engineer", t, engineer_frame)
        self._check_limits()
        self.frames += 1
        if self.frames % WAKE_EVERY_TICKS == 0 or self.caller_gone or self.engineer_gone or self.limit_reason:
            with self._ticked:
                self._ticked.notify_all()

    def _check_limits(self) -> None:
        if self.limit_reason:
            return
        t = self.t
        if self.limits.max_call_s is not None and t >= self.limits.max_call_s:
            self.limit_reason = f"maximum call length ({self.limits.max_call_s:g} s)"
            return
        timeout = self.limits.rtp_timeout_s
        if timeout is None:
            return
        legs = {"caller": self.caller, "engineer": self.engineer if self.bridged else None}
        for name, leg in legs.items():
            if leg is None or name not in self._heard:
                continue
            count = _packets_received(leg)
            last_count, heard_at = self._heard[name]
            if count is None:
                continue  # not a leg with RTP (yet): nothing to measure
            if count != last_count:
                self._heard[name] = (count, t)
            elif t - heard_at >= timeout:
                # A phone sends RTP all the time, silence included: a leg that sends nothing
                # is gone or hostile, and must not hold an engineer (or a line) any longer.
                self.limit_reason = f"no audio from the {name} for {timeout:g} s"
                return

    def run_until(
        self, done: Callable[[], bool], timeout_s: float | None = None, feed: Callable[[], None] | None = None
    ) -> str:
        """Let the media flow until ``done()``; returns "done", "caller_gone", "engineer_gone",
        "timeout", or "limit" once a ``MediaLimits`` limit was hit (``limit_reason`` says which).

        ``timeout_s`` is on the call clock (ticks); ``feed`` runs once per tick to queue audio.
        """
        end = None if timeout_s is None else self.t + timeout_s
        self.engine.add_pump(self.tick, self._failed)
        try:
            while True:
                if self.failure is not None:
                    raise self.failure
                if self.limit_reason:
                    return "limit"
                if done():
                    return "done"
                if self.caller_gone:
                    return "caller_gone"
                if self.engineer_gone:
                    return "engineer_gone"
                if end is not None and self.t >= end:
                    return "timeout"
                if feed is not None:
                    feed()
                seen = self.frames
                with self._ticked:
                    ticked = self._ticked.wait_for(
                        lambda seen=seen: self.frames > seen or self.failure is not None, ENGINE_STALL_S
                    )
                    if not ticked:
                        raise MediaEngineStalled(f"no media tick for {ENGINE_STALL_S:.0f} s")
        finally:
            self.engine.remove_pump(self.tick)

    def _failed(self, error: BaseException) -> None:
        with self._ticked:
            self.failure = error
            self._ticked.notify_all()

    def play(self, pcm: np.ndarray) -> str:
        """Play a prompt to the caller and tick until it has been sent."""
        self.caller.write(pcm)
        return self.run_until(lambda: self.caller.queued_output_s() <= 0, timeout_s=len(pcm) / 8000 + 2)
