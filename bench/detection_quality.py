"""Detection quality on the labelled development set (bench/devset), as JSON.

For each condition (``clean``: the synthetic line as recorded; ``noisy``: 15 dB SNR white
noise and 3 % of 20 ms frames lost) every call of the set is assembled in memory, its
engineer leg goes through the product's recognition path (``transcribe_leg``: VAD and
Whisper base, as ``deskline analyze`` runs it), the lexicon step and the rules
(``check_call``), and the findings are compared with the labels:

- per 3.5 clause: precision and recall over engineer utterances (a finding counts for
  the labelled utterance its time falls in);
- greeting (3.4(a)) and closing (3.4(b)) verdict accuracy per call;
- promise (3.3(4)) accuracy per utterance: none / vague / definite with the labelled due
  time (to the minute), over the utterances labelled as promises or holds and over all;
- character error rate of the engineer's transcript before and after the lexicon step,
  on the set and on the synthetic fixture clips (tests/fixtures/audio/tts).

The dev part (rules were written looking at it) and the held-out part (never looked at
while writing rules) are reported separately. Recognition is the slow part (about one
CPU-second per utterance): its output is cached in ``bench/devset/transcripts/`` keyed
by the audio's SHA-256, so re-running after a rule change takes seconds; ``--transcribe``
forces it. Only the engineer leg is recognised (the caller leg carries no label).

    .venv/bin/python bench/detection_quality.py [--transcribe] [--condition clean|noisy]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench" / "devset"))

import make_devset as devset  # noqa: E402

from models.records import Utterance, Word  # noqa: E402
from speech.qa.checker import check_call  # noqa: E402
from speech.qa.rulefile import load_rules  # noqa: E402
from speech.text import normalize_transcript  # noqa: E402

CACHE = REPO / "bench" / "devset" / "transcripts"
CLAUSES = [f"3.5({i})" for i in range(1, 8)]
SNR_DB = 15.0
FRAME_LOSS = 0.03


def leg_audio(call: devset.Call, stereo: np.ndarray, condition: str) -> np.ndarray:
    pcm = stereo[:, 1].copy()
    if condition == "noisy":
        seed = int(hashlib.sha256(call.id.encode()).hexdigest()[:8], 16)
        pcm = devset.line_noise(pcm, SNR_DB, FRAME_LOSS, seed)
    return pcm


def label_texts() -> dict[str, list[Utterance]]:
    """The labelled text itself as the transcript: what the rules make of perfect recognition."""
    return {
        call.id: [Utterance("engineer", t.start, t.end, t.line.text, engine="text")
                  for t in call.turns if t.speaker == "engineer"]
        for call in devset.plan_calls(devset.clip_lengths())
    }


def transcripts(condition: str, force: bool, cached_only: bool = False) -> dict[str, list[Utterance]]:
    """Engineer-leg utterances of every call, from the cache when the audio is unchanged."""
    from speech.transcribe import transcribe_leg

    if condition == "text":
        return label_texts()
    path = CACHE / f"{condition}.json"
    cache = json.loads(path.read_text(encoding="utf-8")) if path.exists() and not force else {}
    out: dict[str, list[Utterance]] = {}
    changed = False
    for call, stereo in devset.build_calls():
        pcm = leg_audio(call, stereo, condition)
        digest = hashlib.sha256(pcm.tobytes()).hexdigest()
        entry = cache.get(call.id)
        if cached_only and (entry is None or entry["sha256"] != digest):
            continue  # reported as fewer calls scored
        if entry is None or entry["sha256"] != digest:
            utts = transcribe_leg(pcm, devset.RATE, "engineer", "whisper")
            entry = {"sha256": digest, "utterances": [asdict(u) for u in utts]}
            cache[call.id] = entry
            changed = True
            print(f"{condition} {call.id}: {len(utts)} utterances", file=sys.stderr)
            _save(path, cache)  # after every call: recognition is the slow part
        out[call.id] = [
            Utterance(**{**u, "words": [Word(**w) for w in u.get("words", [])]}) for u in entry["utterances"]
        ]
    if changed:
        _save(path, cache)
    return out


def _save(path: Path, cache: dict) -> None:
    CACHE.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cache, ensure_ascii=False, indent=0), encoding="utf-8")
    tmp.replace(path)


def reference_text(text: str) -> str:
    """The label's text as a transcript should show it: a name that sounds like a roster
    name (the set says 王方 where the engineer is 王芳, same syllables) in the roster's spelling."""
    from speech.qa.matching import syllables

    for name in devset.ROSTER:
        sound = [s[0] for s in syllables(name)]
        for i in range(len(text) - len(name) + 1):
            if [s[0] for s in syllables(text[i:i + len(name)])] == sound:
                text = text[:i] + name + text[i + len(name):]
    return text


def cer(ref: str, hyp: str) -> tuple[int, int]:
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(ref, hyp), len(ref)


def _label_of(call: devset.Call, t0: float, t1: float) -> devset.Turn | None:
    """The labelled engineer turn a span [t0, t1] overlaps most."""
    best, overlap = None, 0.0
    for turn in call.turns:
        if turn.speaker != "engineer":
            continue
        o = min(t1, turn.end + 0.3) - max(t0, turn.start - 0.3)
        if o > overlap:
            best, overlap = turn, o
    return best


def score(condition: str, heard: dict[str, list[Utterance]], rules, lexicon) -> dict:  # noqa: ANN001
    calls = devset.plan_calls(devset.clip_lengths())
    parts: dict[str, dict] = {}
    for part in ("dev", "held"):
        counts = {c: {"tp": 0, "fp": 0, "fn": 0} for c in CLAUSES}
        greet_ok = greet_n = close_ok = close_n = 0
        prom_ok = prom_n = prom_all_ok = prom_all_n = 0
        errors = defaultdict(list)
        cer_raw = [0, 0]
        cer_lex = [0, 0]
        for call in [c for c in calls if c.part == part and c.id in heard]:
            utts = heard[call.id]
            corrected = [lexicon(u) for u in utts] if lexicon else utts
            result = check_call(corrected, rules, call.engineer, call.started_at, call.duration_s,
                                roster_names=devset.ROSTER)
            # the text heard per labelled turn, raw and corrected
            by_turn: dict[str, list[str]] = defaultdict(list)
            by_turn_lex: dict[str, list[str]] = defaultdict(list)
            for raw, cor in zip(utts, corrected, strict=True):
                turn = _label_of(call, raw.start, raw.end)
                if turn is not None:
                    by_turn[turn.line.id].append(raw.text)
                    by_turn_lex[turn.line.id].append(cor.text)
            found: dict[str, set[str]] = defaultdict(set)
            for f in result.findings:
                if f.clause in CLAUSES and f.verdict == "fail":
                    turn = _label_of(call, f.start, f.end)
                    if turn is not None:
                        found[turn.line.id].add(f.clause)
            for turn in [t for t in call.turns if t.speaker == "engineer"]:
                line = turn.line
                ref = normalize_transcript(reference_text(line.text))
                for acc, texts in ((cer_raw, by_turn), (cer_lex, by_turn_lex)):
                    d, n = cer(ref, normalize_transcript("".join(texts[line.id])))
                    acc[0] += d
                    acc[1] += n
                if line.kind != "body":
                    continue
                for c in CLAUSES:
                    want, got = c in line.clauses, c in found[line.id]
                    if want and got:
                        counts[c]["tp"] += 1
                    elif got:
                        counts[c]["fp"] += 1
                        errors[f"fp {c}"].append(f"{line.id} {line.text} | {''.join(by_turn[line.id])}")
                    elif want:
                        counts[c]["fn"] += 1
                        errors[f"fn {c}"].append(f"{line.id} {line.text} | {''.join(by_turn[line.id])}")
                # promise verdict of this utterance
                said_at = call.started_at.timestamp() + turn.start
                expected = line.promise
                # The 3.3(4) finding spans the commitment's words, so it lands on the right turn
                # even when the recogniser ran two turns together.
                promises = [f for f in result.findings if f.clause == "3.3(4)"
                            and _label_of(call, f.start, f.end) is turn]
                if not promises:
                    got_p = "none"
                elif promises[0].verdict == "pass":
                    got_p = "definite " + str(promises[0].detail.get("due_at") or "")[:16]
                else:
                    got_p = "vague"
                if expected == "none":
                    want_p = "none"
                elif expected == "vague":
                    want_p = "vague"
                else:
                    due = devset.expected_due(
                        expected, datetime.fromtimestamp(said_at, call.started_at.tzinfo)
                    )
                    want_p = "definite " + due.isoformat()[:16] if due else "?"
                ok = want_p == got_p
                prom_all_n += 1
                prom_all_ok += ok
                is_promise_case = expected != "none" or got_p != "none" or any(
                    w in line.text for w in ("稍等", "稍候", "挂机", "马上")
                )
                if is_promise_case:
                    prom_n += 1
                    prom_ok += ok
                    if not ok:
                        errors["promise"].append(
                            f"{line.id} {line.text} | {''.join(by_turn[line.id])} | want {want_p} got {got_p}"
                        )
            g = next((f for f in result.findings if f.clause == "3.4(a)"), None)
            greet_n += 1
            if g is not None and g.verdict == call.greeting.verdict:
                greet_ok += 1
            else:
                errors["greeting"].append(
                    f"{call.id} {call.greeting.id} {call.engineer} {call.greeting.text} want "
                    f"{call.greeting.verdict} got {g.verdict if g else None}: {g.message if g else ''}"
                )
            cl = next((f for f in result.findings if f.clause == "3.4(b)"), None)
            close_n += 1
            if cl is not None and cl.verdict == call.closing.verdict:
                close_ok += 1
            else:
                errors["closing"].append(f"{call.id} {call.closing.text} want {call.closing.verdict}")
        per_clause = {}
        for c, k in counts.items():
            tp, fp, fn = k["tp"], k["fp"], k["fn"]
            per_clause[c] = {
                "precision": round(tp / (tp + fp), 3) if tp + fp else None,
                "recall": round(tp / (tp + fn), 3) if tp + fn else None,
                "tp": tp, "fp": fp, "fn": fn,
            }
        tp = sum(k["tp"] for k in counts.values())
        fp = sum(k["fp"] for k in counts.values())
        fn = sum(k["fn"] for k in counts.values())
        if not greet_n:
            parts[part] = {"calls": 0}
            continue
        parts[part] = {
            "forbidden_per_clause": per_clause,
            "forbidden_all": {"precision": round(tp / (tp + fp), 3) if tp + fp else None,
                              "recall": round(tp / (tp + fn), 3) if tp + fn else None},
            "greeting_accuracy": round(greet_ok / greet_n, 3), "calls": greet_n,
            "closing_accuracy": round(close_ok / close_n, 3),
            "promise_accuracy": round(prom_ok / prom_n, 3), "promise_cases": prom_n,
            "promise_accuracy_all_utterances": round(prom_all_ok / prom_all_n, 3),
            "cer_raw": round(cer_raw[0] / cer_raw[1], 4),
            "cer_lexicon": round(cer_lex[0] / cer_lex[1], 4),
            "errors": dict(errors),
        }
    return parts


def fixture_cer(lexicon) -> dict:  # noqa: ANN001
    """CER of Whisper on the committed fixture clips, before and after the lexicon step."""
    import csv

    import soundfile as sf

    from speech.transcribe import transcribe_leg

    tts = REPO / "tests" / "fixtures" / "audio" / "tts"
    path = CACHE / "fixtures.json"
    cache = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    raw_d = lex_d = n = 0
    changed = False
    with open(tts / "manifest.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["speaker"] != "engineer":
                continue
            pcm, rate = sf.read(tts / f"{row['id']}.wav", dtype="int16")
            digest = hashlib.sha256(pcm.tobytes()).hexdigest()
            if cache.get(row["id"], {}).get("sha256") != digest:
                utts = transcribe_leg(pcm, rate, "engineer", "whisper")
                cache[row["id"]] = {"sha256": digest, "utterances": [asdict(u) for u in utts]}
                changed = True
            utts = [Utterance(**{**u, "words": [Word(**w) for w in u.get("words", [])]})
                    for u in cache[row["id"]]["utterances"]]
            ref = normalize_transcript(row["text"])
            raw = normalize_transcript("".join(u.text for u in utts))
            lex = normalize_transcript("".join(lexicon(u).text for u in utts)) if lexicon else raw
            raw_d += cer(ref, raw)[0]
            lex_d += cer(ref, lex)[0]
            n += len(ref)
    if changed:
        CACHE.mkdir(exist_ok=True)
        path.write_text(json.dumps(cache, ensure_ascii=False, indent=0), encoding="utf-8")
    return {"cer_raw": round(raw_d / n, 4), "cer_lexicon": round(lex_d / n, 4), "chars": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--transcribe", action="store_true", help="recognise again even if cached")
    ap.add_argument("--condition", choices=["text", "clean", "noisy"], action="append",
                    help="text = the labels' own text without a recogniser (default: clean and noisy)")
    ap.add_argument("--errors", action="store_true", help="list the misclassified utterances (dev only)")
    ap.add_argument("--no-lexicon", action="store_true")
    ap.add_argument("--cached-only", action="store_true",
                    help="score only the calls already recognised (the JSON says how many)")
    args = ap.parse_args()
    rules = load_rules()
    lexicon = None
    if not args.no_lexicon:
        from speech.lexicon import load_lexicon

        lex = load_lexicon()
        roster = devset.ROSTER

        def lexicon(u: Utterance) -> Utterance:
            return lex.correct_utterance(u, roster)

    report: dict = {"set": {"utterances_per_part": {}, "snr_db": SNR_DB, "frame_loss": FRAME_LOSS}}
    for condition in args.condition or ["clean", "noisy"]:
        heard = transcripts(condition, args.transcribe, args.cached_only)
        result = score(condition, heard, rules, lexicon)
        for part in result.values():
            if not args.errors:
                part.pop("errors", None)
        if args.errors:
            result["held"].pop("errors", None)
        report[condition] = result
    calls = devset.plan_calls(devset.clip_lengths())
    for part in ("dev", "held"):
        report["set"]["utterances_per_part"][part] = sum(
            1 for c in calls if c.part == part for t in c.turns if t.speaker == "engineer"
        )
    if args.condition is None or set(args.condition) - {"text"}:
        report["fixtures"] = fixture_cer(lexicon)
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
