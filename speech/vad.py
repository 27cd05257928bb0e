"""Where speech is on one leg: a streaming segmenter over webrtcvad.

Feed int16 frames of any length with the leg time of their first sample; get back
finished speech segments. A segment starts a little before the first voiced frame
(pre-roll) and ends a little after the last one (tail), so the recogniser gets whole
words; it closes only after a stretch of non-speech (hangover), so a short pause
inside a sentence does not split it. Works at 8 and 16 kHz (phone and file).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import webrtcvad

VAD_RATES = (8000, 16000, 32000, 48000)


@dataclass
class SpeechSegment:
    start: float  # leg time of the first sample in ``pcm`` (pre-roll included)
    end: float  # leg time just after the last sample in ``pcm``
    pcm: np.ndarray  # int16
    speech_start: float  # first voiced frame
    speech_end: float  # end of the last voiced frame


@dataclass
class _Frame:
    t: float
    pcm: np.ndarray
    voiced: bool


class SpeechSegmenter:
    """Streaming VAD for one leg. Not thread-safe: one leg, one feeder."""

    def __init__(
        self,
        sample_rate: int,
        *,
        aggressiveness: int = 2,
        frame_ms: int = 30,
        pre_roll_s: float = 0.3,
        tail_s: float = 0.25,
        hangover_s: float = 0.6,
        start_voiced: int = 3,  # voiced frames among the last ``start_window`` that start speech
        start_window: int = 5,
        max_segment_s: float = 25.0,  # Whisper decodes at most 30 s at once
        min_speech_s: float = 0.15,  # less voiced time than this is a click or the VAD settling
        max_gap_fill_s: float = 1.0,
    ) -> None:
        if sample_rate not in VAD_RATES:
            raise ValueError(f"VAD needs 8000, 16000, 32000 or 48000 Hz audio, got {sample_rate} Hz")
        if frame_ms not in (10, 20, 30):
            raise ValueError(f"VAD frames are 10, 20 or 30 ms, got {frame_ms} ms")
        self.sample_rate = sample_rate
        self.frame_len = sample_rate * frame_ms // 1000
        self.frame_s = frame_ms / 1000
        self._vad = webrtcvad.Vad(aggressiveness)
        self._pre_roll_frames = max(1, round(pre_roll_s / self.frame_s))
        self._tail_frames = round(tail_s / self.frame_s)
        self._hangover_frames = max(1, round(hangover_s / self.frame_s))
        self._start_voiced = start_voiced
        self._max_frames = round(max_segment_s / self.frame_s)
        self._max_gap_fill_s = max_gap_fill_s
        self._min_voiced_frames = max(1, round(min_speech_s / self.frame_s))
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_t: float | None = None  # leg time of _pending[0]
        self._idle: deque[_Frame] = deque(maxlen=self._pre_roll_frames + start_window)
        self._start_window = start_window
        self._speech: list[_Frame] = []  # frames of the open segment
        self._trailing_unvoiced = 0

    @property
    def in_speech(self) -> bool:
        return bool(self._speech)

    @property
    def open_segment_start(self) -> float | None:
        """Leg time where the speech still being collected began (None between segments)."""
        return self._speech[0].t if self._speech else None

    def feed(self, pcm: np.ndarray, t: float) -> list[SpeechSegment]:
        """Add samples starting at leg time ``t``; return the segments this closed."""
        pcm = np.asarray(pcm)
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(f"VAD needs 1-D int16 samples, got {pcm.dtype} with shape {pcm.shape}")
        out: list[SpeechSegment] = []
        if self._pending_t is None:
            self._pending_t = t
        else:
            expected = self._pending_t + len(self._pending) / self.sample_rate
            gap = t - expected
            if gap > self._max_gap_fill_s:
                # A long hole in the stream (the leg was on hold, packets stopped):
                # close what was open and restart the clock at the new time.
                out += self.flush()
                self._pending_t = t
            elif gap > 0.5 / self.sample_rate:
                # Lost packets: fill with silence so times stay right.
                fill = np.zeros(round(gap * self.sample_rate), dtype=np.int16)
                self._pending = np.concatenate([self._pending, fill])
        self._pending = np.concatenate([self._pending, pcm]) if len(self._pending) else pcm
        n_frames = len(self._pending) // self.frame_len
        for i in range(n_frames):
            chunk = self._pending[i * self.frame_len:(i + 1) * self.frame_len]
            frame_t = self._pending_t + i * self.frame_s
            voiced = self._vad.is_speech(chunk.tobytes(), self.sample_rate)
            segment = self._step(_Frame(frame_t, chunk, voiced))
            if segment is not None:
                out.append(segment)
        consumed = n_frames * self.frame_len
        self._pending = self._pending[consumed:].copy()
        self._pending_t += consumed / self.sample_rate
        return out

    def flush(self) -> list[SpeechSegment]:
        """End of the stream: close an open segment (the partial last frame is dropped)."""
        out: list[SpeechSegment] = []
        if self._speech and (segment := self._close(len(self._speech))) is not None:
            out.append(segment)
        self._speech = []
        self._idle.clear()
        self._trailing_unvoiced = 0
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_t = None
        return out

    def _step(self, frame: _Frame) -> SpeechSegment | None:
        if not self._speech:
            self._idle.append(frame)
            recent = list(self._idle)[-self._start_window:]
            if sum(f.voiced for f in recent) >= self._start_voiced:
                self._speech = list(self._idle)
                self._idle.clear()
                self._trailing_unvoiced = 0
            return None
        self._speech.append(frame)
        self._trailing_unvoiced = 0 if frame.voiced else self._trailing_unvoiced + 1
        if self._trailing_unvoiced >= self._hangover_frames:
            last_voiced = len(self._speech) - self._trailing_unvoiced
            keep = min(len(self._speech), last_voiced + self._tail_frames)
            leftover = self._speech[keep:]
            segment = self._close(keep)
            self._speech = []
            self._idle.extend(leftover)
            return segment
        if len(self._speech) >= self._max_frames:
            # Too long for one decode: cut here and carry on in a new segment.
            segment = self._close(len(self._speech))
            self._speech = []
            self._trailing_unvoiced = 0
            return segment
        return None

    def _close(self, keep: int) -> SpeechSegment | None:
        frames = self._speech[:keep]
        voiced = [f for f in frames if f.voiced]
        if len(voiced) < self._min_voiced_frames:
            return None
        return SpeechSegment(
            start=frames[0].t,
            end=frames[-1].t + self.frame_s,
            pcm=np.concatenate([f.pcm for f in frames]),
            speech_start=voiced[0].t,
            speech_end=voiced[-1].t + self.frame_s,
        )


def find_speech(pcm: np.ndarray, sample_rate: int, **options: float) -> list[SpeechSegment]:
    """All speech segments of a whole leg (the file path's convenience)."""
    segmenter = SpeechSegmenter(sample_rate, **options)  # type: ignore[arg-type]
    return segmenter.feed(np.asarray(pcm, dtype=np.int16), 0.0) + segmenter.flush()
