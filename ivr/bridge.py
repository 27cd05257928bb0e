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

import threading
from collections.abc import Callable

import numpy as np

from .audio_tap import AudioTap
from .pyvoip_adapter import FRAME_SAMPLES, Leg, LegStateError
from .pyvoip_adapter.media_engine import MediaEngine
from .recorder import CallRecorder, IncrementalWavWriter

FRAME_S = FRAME_SAMPLES / 8000
SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.int16)
ENGINE_STALL_S = 10.0  # no tick for this long: the media engine is gone, end the call


class MediaEngineStalled(RuntimeError):
    pass


class MediaPump:
    def __init__(
        self,
        caller: Leg,
        recorder: CallRecorder | None = None,
        tap: AudioTap | None = None,
        engine: MediaEngine | None = None,
    ):
        self.caller = caller
        self.recorder = recorder
        self.tap = tap
        self.engine = engine or MediaEngine.shared()
        self.engineer: Leg | None = None
        self.bridged = False
        self.voicemail: IncrementalWavWriter | None = None
        self.frames = 0
        self.caller_gone = False
        self.engineer_gone = False
        self._ticked = threading.Condition()

    @property
    def t(self) -> float:
        """Seconds on the call clock (0 = the caller was answered)."""
        return self.frames * FRAME_S

    def bridge(self, engineer: Leg) -> None:
        """Connect caller and engineer: audio both ways, DTMF passed through."""
        self.engineer = engineer
        self.engineer_gone = False
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
            self.recorder.add(caller_frame, engineer_frame)
        if self.voicemail is not None:
            self.voicemail.write(caller_frame)
        if self.tap is not None:
            self.tap.put("caller", t, caller_frame)
            if self.bridged:
                self.tap.put("engineer", t, engineer_frame)
        with self._ticked:
            self.frames += 1
            self._ticked.notify_all()

    def run_until(
        self, done: Callable[[], bool], timeout_s: float | None = None, feed: Callable[[], None] | None = None
    ) -> str:
        """Let the media flow until ``done()``; returns "done", "caller_gone", "engineer_gone" or "timeout".

        ``timeout_s`` is on the call clock (ticks), ``feed`` runs once per tick to queue audio.
        """
        end = None if timeout_s is None else self.t + timeout_s
        self.engine.add_pump(self.tick)
        try:
            while True:
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
                    ticked = self._ticked.wait_for(lambda seen=seen: self.frames > seen, ENGINE_STALL_S)
                    if not ticked:
                        raise MediaEngineStalled(f"no media tick for {ENGINE_STALL_S:.0f} s")
        finally:
            self.engine.remove_pump(self.tick)

    def play(self, pcm: np.ndarray) -> str:
        """Play a prompt to the caller and tick until it has been sent."""
        self.caller.write(pcm)
        return self.run_until(lambda: self.caller.queued_output_s() <= 0, timeout_s=len(pcm) / 8000 + 2)
