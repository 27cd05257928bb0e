"""Call recordings: 8 kHz PCM16 WAV written as the call goes, header kept valid.

The RIFF and data sizes are rewritten and the file flushed to disk at least every
second, so a crash (or ``kill -9``) loses at most the last second of audio and the file
still opens in any WAV reader. A call recording is stereo: left the caller, right the
engineer, sample-aligned on the call clock; a voicemail is mono.

With ``queued=True`` (what calls use) the frames are handed to the node's one disk
thread (``DiskQueue``): the media thread, which moves every call's audio, never waits
on a write or an ``fsync``.
"""

from __future__ import annotations

import logging
import os
import queue
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import numpy as np

SAMPLE_RATE = 8000
HEADER_BYTES = 44
log = logging.getLogger(__name__)


class DiskQueue:
    """The node's disk thread: runs queued writes in order. Unbounded on purpose: audio is never dropped."""

    _shared: DiskQueue | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[..., object], tuple]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="recording writer", daemon=True)
        self._thread.start()

    @classmethod
    def shared(cls) -> DiskQueue:
        with cls._lock:
            if cls._shared is None or not cls._shared._thread.is_alive():
                cls._shared = cls()
            return cls._shared

    def submit(self, action: Callable[..., object], *args: object) -> None:
        self._queue.put((action, args))

    def backlog(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            action, args = self._queue.get()
            try:
                action(*args)
            except Exception:  # noqa: BLE001 - one file's failure (disk full) must not stop the others
                log.exception("recording write failed")


def wav_header(channels: int, data_bytes: int, rate: int = SAMPLE_RATE) -> bytes:
    block = channels * 2
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


class IncrementalWavWriter:
    """Append int16 frames; sizes rewritten every ``sync_every_s`` seconds of wall time."""

    def __init__(self, path: Path, channels: int, sync_every_s: float = 1.0, queued: bool = False):
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, not {channels}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.channels = channels
        self.sync_every_s = sync_every_s
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(wav_header(channels, 0))
        self.data_bytes = 0
        self.sync()  # a valid (empty) WAV on disk from the first moment
        self._disk = DiskQueue.shared() if queued else None

    @property
    def duration_s(self) -> float:
        return self.data_bytes / (2 * self.channels * SAMPLE_RATE)

    def write(self, frames: np.ndarray) -> None:
        samples = np.asarray(frames)
        expected = (samples.shape[0], self.channels) if self.channels == 2 else (samples.shape[0],)
        if samples.dtype != np.int16 or samples.shape != expected:
            raise ValueError(f"want int16 of shape {expected}, got {samples.dtype} {samples.shape}")
        data = samples.astype("<i2", copy=False).tobytes()
        if self._disk is not None:
            self._disk.submit(self._append, data)
        else:
            self._append(data)

    def _append(self, data: bytes) -> None:
        if self._file.closed:
            return
        self._file.write(data)
        self.data_bytes += len(data)
        if time.monotonic() - self._last_sync >= self.sync_every_s:
            self.sync()

    def sync(self) -> None:
        """Make the file on disk a complete WAV of everything written so far."""
        self._file.flush()
        end = self._file.tell()
        self._file.seek(0)
        self._file.write(wav_header(self.channels, self.data_bytes))
        self._file.seek(end)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._last_sync = time.monotonic()

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued, make the header final, close; waits for the disk thread if queued."""
        if self._disk is None:
            self._close_now()
            return
        done = threading.Event()
        self._disk.submit(lambda: (self._close_now(), done.set()))
        if not done.wait(timeout_s):
            log.error("recording %s: the disk thread did not finish it within %.0f s", self.path, timeout_s)

    def _close_now(self) -> None:
        if self._file.closed:
            return
        self.sync()
        self._file.close()

    def __enter__(self) -> IncrementalWavWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class CallRecorder:
    """Stereo recording of one call: ``add(caller_frame, engineer_frame)`` every 20 ms."""

    def __init__(self, path: Path, sync_every_s: float = 1.0, queued: bool = True):
        self.writer = IncrementalWavWriter(path, channels=2, sync_every_s=sync_every_s, queued=queued)
        self.path = self.writer.path

    def add(self, caller: np.ndarray, engineer: np.ndarray) -> None:
        if len(caller) != len(engineer):
            raise ValueError(f"legs out of step: {len(caller)} caller vs {len(engineer)} engineer samples")
        self.writer.write(np.column_stack([caller, engineer]).astype(np.int16, copy=False))

    def close(self) -> None:
        self.writer.close()
