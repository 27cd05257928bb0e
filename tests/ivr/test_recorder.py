"""The recording survives a crash: killed mid-call, the WAV still opens with all but the last second."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ivr.recorder import CallRecorder, IncrementalWavWriter

WRITER = """
import sys, time
import numpy as np
from ivr.recorder import CallRecorder
rec = CallRecorder(sys.argv[1])
deadline = time.monotonic()
i = 0
while True:  # a call that never ends: left = frame index, right = -frame index
    rec.add(np.full(160, i % 30000, dtype=np.int16), np.full(160, -(i % 30000), dtype=np.int16))
    if i == 10:
        print("recording", flush=True)
    i += 1
    deadline += 0.02
    time.sleep(max(0.0, deadline - time.monotonic()))
"""


@pytest.mark.slow
def test_killed_mid_call_the_recording_is_a_valid_wav(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        cwd=root,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == b"recording"
        time.sleep(3.0)
        alive_for = 3.0 + 10 * 0.02
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
    audio, rate = sf.read(str(path), dtype="int16")
    assert rate == 8000 and audio.shape[1] == 2
    seconds = len(audio) / 8000
    assert alive_for - 1.2 <= seconds <= alive_for + 0.1, seconds
    frames = audio.reshape(-1, 160, 2)
    assert np.array_equal(frames[:, 0, 0], np.arange(len(frames)))  # nothing lost or reordered before the cut
    assert np.array_equal(frames[:, 0, 1], -np.arange(len(frames)))


def test_header_is_valid_after_each_sync_and_on_close(tmp_path: Path) -> None:
    writer = IncrementalWavWriter(tmp_path / "vm.wav", channels=1, sync_every_s=3600)
    writer.write(np.arange(800, dtype=np.int16))
    assert sf.info(str(tmp_path / "vm.wav")).frames == 0  # not synced yet: header says empty, still valid
    writer.sync()
    assert sf.info(str(tmp_path / "vm.wav")).frames == 800
    writer.write(np.arange(800, dtype=np.int16))
    writer.close()
    audio, _ = sf.read(str(tmp_path / "vm.wav"), dtype="int16")
    assert np.array_equal(audio, np.concatenate([np.arange(800), np.arange(800)]).astype(np.int16))


def test_bad_frames_are_refused_with_a_clear_error(tmp_path: Path) -> None:
    recorder = CallRecorder(tmp_path / "c.wav")
    with pytest.raises(ValueError, match="out of step"):
        recorder.add(np.zeros(160, np.int16), np.zeros(80, np.int16))
    with pytest.raises(ValueError, match="int16"):
        recorder.writer.write(np.zeros((160, 2), np.float32))
    with pytest.raises(ValueError, match="channels"):
        IncrementalWavWriter(tmp_path / "x.wav", channels=3)
    recorder.close()
