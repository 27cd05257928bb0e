"""Calls a stopped hotline left behind: still ``live`` in the store when the node starts.

A node that is killed mid-call (power, OOM, kill -9) cannot finish its calls. What it had
already written survives: the recording (its header is rewritten at least every second) and
every utterance and finding the live analysis stored. At the next start each such call is
closed as ``failed`` with its recording and real duration attached, so the console shows it
with what was heard instead of a call that never ends.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import soundfile as sf

log = logging.getLogger("deskline.recovery")

INTERRUPTED = "interrupted: the hotline stopped during the call"


def _recording_of(call_id: str, recordings_dir: Path) -> Path | None:
    # Recordings are kept as <recordings_dir>/<date>/<call id>.wav.
    found = sorted(recordings_dir.glob(f"*/{call_id}.wav"))
    return found[0] if found else None


def recover_interrupted_calls(store: Any, recordings_dir: Path) -> list[str]:
    """Close every call left ``live``; return their ids."""
    recovered: list[str] = []
    for call_id in store.call_ids(status="live"):
        call = store.get_call(call_id)
        if call is None:
            continue
        recording = _recording_of(call_id, recordings_dir)
        if recording is not None:
            call.audio_path = str(recording)
            try:
                call.duration_s = round(sf.info(str(recording)).duration, 3)
            except RuntimeError as e:
                log.warning("call %s: recording %s unreadable (%s)", call_id, recording, e)
        call.sip_timings = {**call.sip_timings, "end_reason": INTERRUPTED}
        store.fail_call(call)
        recovered.append(call_id)
    if recovered:
        log.warning("%d call(s) were interrupted by the last stop and are kept as failed, with their "
                    "recordings and live findings: %s", len(recovered), ", ".join(recovered))
    return recovered
