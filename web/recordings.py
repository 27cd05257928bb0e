"""Which file the console may serve as a call's recording.

A call's ``audio_path`` comes from whoever stored the call, and nodes and supervisors can
post calls over the API, so the path is not trusted: with recording roots configured, a
recording is served only if its real path (symlinks resolved) lies inside one of them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from fastapi import HTTPException

from models.records import CallRecord

log = logging.getLogger(__name__)


def resolve_roots(roots: Sequence[str | Path] | None) -> tuple[Path, ...] | None:
    """The roots as real paths (a symlinked recordings folder compares by its target)."""
    return None if roots is None else tuple(Path(r).expanduser().resolve() for r in roots)


def recording_file(call: CallRecord, roots: Sequence[Path] | None) -> Path:
    """The real path of the call's ``.wav``, or 404. ``roots`` None means no confinement."""
    missing = HTTPException(status_code=404, detail=f"call {call.id!r} has no recording")
    if not call.audio_path:
        raise missing
    try:
        real = Path(call.audio_path).resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        raise missing from None
    # Confinement is checked before existence, so the answer says nothing about files elsewhere.
    if roots is not None and not any(real.is_relative_to(root) for root in roots):
        log.warning(
            "call %r: recording %r is outside the recordings directories; not served",
            call.id,
            call.audio_path,
        )
        raise HTTPException(
            status_code=404,
            detail=f"call {call.id!r}: the recording is outside the recordings directory; not served",
        )
    if real.suffix.lower() != ".wav" or not real.is_file():
        raise missing
    # Open the checked path, not the stored one, so its links are not followed a second time.
    return real
