"""``deskline analyze``: score one recording, print it, optionally store it."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from deskline.config import load_config
from deskline.errors import UserError, user_errors
from deskline.report import call_as_json, call_as_text


def _started_at(arg: str | None, wav: Path, duration_s: float, tz: str) -> datetime:
    zone = ZoneInfo(tz)
    if arg:
        try:
            at = datetime.fromisoformat(arg)
        except ValueError:
            raise UserError(
                f"--started-at {arg!r} is not an ISO 8601 time (e.g. 2026-11-24T10:00:00+08:00)"
            ) from None
        return at if at.tzinfo else at.replace(tzinfo=zone)
    # A recorder closes the file at hang-up: the call started one duration earlier.
    return datetime.fromtimestamp(wav.stat().st_mtime - duration_s, tz=zone)


class _ProgressBar:
    """tqdm on a terminal; nothing otherwise (JSON output, pipes, CI logs)."""

    def __init__(self, enabled: bool) -> None:
        self.bar = None
        self.enabled = enabled

    def __call__(self, stage: str, done: float, total: float) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=round(total, 1), unit="s audio", desc=stage, file=sys.stderr,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s audio "
                                       "[{elapsed}<{remaining}]")
        self.bar.n = round(min(done, total), 1)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args: argparse.Namespace) -> int:
    from speech.audio import load_call_audio
    from speech.call_analysis import analyze_call
    from speech.engines import best_engine
    from speech.qa.rulefile import load_rules

    wav = Path(args.wav)
    with user_errors():
        cfg = load_config(args.config)
        line = cfg.line(args.line)
        rules = load_rules(args.rules or cfg.speech.rules or None)
        names = cfg.roster.names() if cfg.roster else []
        if args.engineer not in names:
            raise UserError(f"unknown engineer {args.engineer!r}: the roster in {cfg.source} has "
                            f"{', '.join(names) or 'nobody'}")
        if not wav.exists():
            raise UserError(f"{wav}: no such file")
        audio = load_call_audio(wav, args.engineer_channel)
        engine = args.engine or best_engine()
        configured_model = cfg.speech.vosk_model if engine == "vosk" else cfg.speech.whisper_model
        model = args.model or configured_model or None
        started_at = _started_at(args.started_at, wav, audio.duration_s, line.timezone)
        interactive = args.format == "text" and sys.stderr.isatty()
        if args.format == "text":
            print(f"Engine: {engine}{' (best installed)' if not args.engine else ''}", file=sys.stderr)
        progress = _ProgressBar(interactive)
        try:
            call = analyze_call(audio, engineer=args.engineer, rules=rules, engine=engine,
                                started_at=started_at, line=line.id, model_path=model,
                                roster_names=names, progress=progress)
        finally:
            progress.close()
    if args.save:
        _save(call, cfg, args.db, wav)
    print(call_as_json(call) if args.format == "json" else call_as_text(call), end="")
    if args.save and args.format == "text":
        print(f"Saved as call {call.id}", file=sys.stderr)
    return 0


def _save(call, cfg, db: str | None, wav: Path) -> None:  # type: ignore[no-untyped-def]
    from models.store import Store

    recordings = cfg.hotline.recordings_dir
    recordings.mkdir(parents=True, exist_ok=True)
    # The console serves the recording after the original may have moved: keep a copy.
    kept = recordings / f"{call.id}{wav.suffix.lower() or '.wav'}"
    tmp = kept.with_suffix(".part")
    shutil.copyfile(wav, tmp)
    os.replace(tmp, kept)
    call.audio_path = str(kept.resolve())
    Store(db or cfg.store_path).save_call(call)
