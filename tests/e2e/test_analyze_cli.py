"""`deskline analyze` end to end: real recogniser on the stereo call fixtures, and bad input.

The call fixtures and the findings each must produce are described in
tests/fixtures/audio/calls/{manifest.tsv,expected.toml}.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import wave
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

CALLS = Path(__file__).parents[1] / "fixtures" / "audio" / "calls"
EXPECTED = tomllib.loads((CALLS / "expected.toml").read_text(encoding="utf-8"))
REPO = Path(__file__).parents[2]


def deskline(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DESKLINE_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "deskline.cli", *args], capture_output=True,
                          text=True, cwd=cwd or REPO, env=env, timeout=900)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Each fixture analysed once with the real Whisper engine, stored in one database."""
    work = tmp_path_factory.mktemp("analyze")
    results = {}
    for name, exp in EXPECTED.items():
        wav = CALLS / exp.get("file", f"{name}.wav")
        proc = deskline("analyze", str(wav), "--engineer", exp["engineer"], "--format", "json",
                        "--engine", "whisper", "--started-at", exp["started_at"], "--save",
                        "--db", str(work / "calls.db"), cwd=work)
        assert proc.returncode == 0, proc.stderr
        results[name] = json.loads(proc.stdout)
    results["_work"] = {"path": str(work)}
    return results


def _verdicts(call: dict, clause: str) -> set[str]:
    return {f["verdict"] for f in call["findings"] if f["clause"] == clause}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXPECTED))
def test_fixture_findings(analysed: dict[str, dict], name: str) -> None:
    call, exp = analysed[name], EXPECTED[name]
    for clause in exp.get("fail", []):
        assert "fail" in _verdicts(call, clause), f"{name}: expected a failing {clause}"
    for clause in exp.get("pass", []):
        verdicts = _verdicts(call, clause)
        assert "pass" in verdicts and "fail" not in verdicts, f"{name}: {clause} {verdicts}"
    for clause in exp.get("never", []):
        assert "fail" not in _verdicts(call, clause), f"{name}: unexpected {clause}"


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in EXPECTED if "promises" in EXPECTED[n]])
def test_fixture_promises(analysed: dict[str, dict], name: str) -> None:
    promises = analysed[name]["promises"]
    expected = EXPECTED[name]["promises"]
    assert len(promises) == len(expected), promises
    for got, want in zip(promises, expected, strict=True):
        assert got["definite"] == want["definite"]
        if "due_at" in want:
            assert datetime.fromisoformat(got["due_at"]) == datetime.fromisoformat(want["due_at"])


@pytest.mark.slow
def test_evidence_and_feedback(analysed: dict[str, dict]) -> None:
    bad = analysed["bad_zhangwei"]
    refusal = next(f for f in bad["findings"] if f["clause"] == "3.5(2)" and f["verdict"] == "fail")
    # 不清楚 is said in e06, 6.29–7.71 s into the call (manifest.tsv).
    assert 5.8 <= refusal["start"] <= 7.8 and refusal["end"] <= 8.3
    assert "清楚" in refusal["heard"]
    assert refusal["recommended"].startswith("您反映的问题存在一定的特殊性")
    assert 0 < refusal["confidence"] <= 1
    assert "3.5(2)" in bad["feedback"] and "建议" in bad["feedback"]
    assert bad["scorecard"]["overall"] < analysed["good_zhangwei"]["scorecard"]["overall"]
    speakers = {u["speaker"] for u in bad["utterances"]}
    assert speakers == {"caller", "engineer"}


@pytest.mark.slow
def test_saved_calls_are_in_the_store(analysed: dict[str, dict]) -> None:
    from models.store import Store

    store = Store(Path(analysed["_work"]["path"]) / "calls.db")
    call = store.get_call(analysed["good_zhangwei"]["id"])
    assert call is not None and call.engineer == "张伟"
    assert Path(call.audio_path).exists()
    assert [f.clause for f in call.findings] == [f["clause"] for f in analysed["good_zhangwei"]["findings"]]


@pytest.mark.slow
def test_text_report_names_the_engine(tmp_path: Path) -> None:
    proc = deskline("analyze", str(CALLS / "bad_zhangwei.wav"), "--engineer", "张伟",
                    "--started-at", "2026-11-24T10:00:00+08:00", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Engine: whisper" in proc.stderr
    assert "3.5(2)" in proc.stdout and "建议改说" in proc.stdout
    assert "Transcript" in proc.stdout and "Score" in proc.stdout


# --- bad input: a clear error, a non-zero exit, nothing written -----------------------


def _write_wav(path: Path, sampwidth: int, rate: int = 8000, channels: int = 2) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(sampwidth)
        w.setframerate(rate)
        w.writeframes(np.zeros(rate * channels * sampwidth, dtype=np.uint8).tobytes())
    return path


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    good = CALLS / "good_zhangwei.wav"
    truncated = tmp / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:20000])
    empty = tmp / "empty.wav"
    empty.write_bytes(b"")
    text = tmp / "notes.wav"
    text.write_text("这不是录音文件\n", encoding="utf-8")
    rules = tmp / "broken_rules.toml"
    rules.write_text('[[rule]]\nid = "x"\nkind = "must_not_say"\nclause = \n', encoding="utf-8")
    return {
        "truncated": ([str(truncated), "--engineer", "张伟"], "truncated"),
        "24-bit": ([str(_write_wav(tmp / "s24.wav", 3)), "--engineer", "张伟"], "24-bit"),
        "empty": ([str(empty), "--engineer", "张伟"], "empty"),
        "not audio": ([str(text), "--engineer", "张伟"], "not a WAV"),
        "bad rate": ([str(_write_wav(tmp / "r44.wav", 2, 44100)), "--engineer", "张伟"], "44100"),
        "broken rules": ([str(good), "--engineer", "张伟", "--rules", str(rules)], "broken_rules.toml:4"),
        "unknown engineer": ([str(good), "--engineer", "赵六"], "unknown engineer"),
        "missing file": ([str(tmp / "nope.wav"), "--engineer", "张伟"], "no such file"),
    }


@pytest.mark.parametrize("case", ["truncated", "24-bit", "empty", "not audio", "bad rate",
                                  "broken rules", "unknown engineer", "missing file"])
def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path: Path, case: str) -> None:
    args, expected = _bad_inputs(tmp_path)[case]
    work = tmp_path / "work"
    work.mkdir()
    proc = deskline("analyze", *args, "--save", "--db", str(work / "calls.db"), cwd=work)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert expected in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert list(work.iterdir()) == [], "nothing may be written on error"
