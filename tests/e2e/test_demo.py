"""`deskline demo`, the main job: a real call through sipp peers, checked live, stored, printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from ivr.recorded_prompts import RecordedPrompts
from models.store import Store

REPO = Path(__file__).parents[2]
pytestmark = pytest.mark.slow


def test_demo_places_a_call_and_prints_its_scorecard(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "deskline.cli", "demo", "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=400, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    call_id = re.search(r"^Call (\w+)", out, re.M).group(1)
    # The engineer's phone rang 2 s (sipp pause before 200 OK): one ring, 3.3(2) met.
    ring = float(re.search(r"Ring time ([\d.]+) s", out).group(1))
    assert abs(ring - 2.0) < 0.1
    assert "✓ 3.3(2)" in out and "✓ 3.3(4)" in out
    assert "Console:   http://127.0.0.1:" in out

    call = Store(tmp_path / "deskline.db").get_call(call_id)
    assert call is not None and call.status == "done" and call.engineer == "张伟"
    # The report prints the ring time to 0.1 s: the stored value is within that rounding.
    assert call.ring_time_s == pytest.approx(ring, abs=0.05 + 1e-9) and call.rings == 1
    assert {u.speaker for u in call.utterances} == {"caller", "engineer"}
    assert call.promises and call.promises[0].definite
    assert call.scorecard is not None and call.scorecard.overall > 80
    audio, rate = sf.read(call.audio_path, dtype="int16")
    assert rate == 8000 and audio.shape[1] == 2 and len(audio) / rate > 20
    # Utterances are on the recording's clock: the engineer speaks after the recorded greeting
    # prompt (the generic one: the demo line has no greeting of its own) and 2 s of ringing.
    greeting_s = len(RecordedPrompts().greeting("demo")) / 8000
    assert greeting_s > 4.0
    first_engineer = min(u.start for u in call.utterances if u.speaker == "engineer")
    assert first_engineer > greeting_s + 2.0
