"""Shared test settings: where the committed fixtures live."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
AUDIO = FIXTURES / "audio"


@pytest.fixture(scope="session")
def audio_dir() -> Path:
    return AUDIO


# --- Session hygiene -------------------------------------------------------------------
# Every process a test starts inherits this marker, even one that detaches with setsid
# (podman's API service, a daemonised peer). At the end of the session the survivors are
# named and stopped, and the interpreter leaves without running native finalisers, so no
# stray process and no library's exit-time hang can keep CI waiting after the summary.
SESSION_MARKER = "DESKLINE_TEST_SESSION"
_exit_status: list[int] = []


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault(SESSION_MARKER, f"{os.getpid()}-{time.time_ns()}")


def _marked_processes(marker: str) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            if f"{SESSION_MARKER}={marker}".encode() not in environ.split(b"\0"):
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if command:  # zombies have no command line and hold nothing
            found.append((int(entry.name), command[:200]))
    return found


def stop_stray_processes(marker: str, grace_s: float = 5.0) -> list[tuple[int, str]]:
    """Stop what the session left running; returns what was found."""
    strays = _marked_processes(marker)
    for pid, _ in strays:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _marked_processes(marker):
        time.sleep(0.1)
    for pid, _ in _marked_processes(marker):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return strays


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    marker = os.environ.get(SESSION_MARKER, "")
    if not marker.startswith(f"{os.getpid()}-"):  # a nested pytest (pytester) or no session
        return
    strays = stop_stray_processes(marker)
    if strays:
        sys.stderr.write(f"tests left {len(strays)} process(es) running; stopped them:\n")
        for pid, command in strays:
            sys.stderr.write(f"  {pid}: {command}\n")
    sys.stdout.flush()
    sys.stderr.flush()
    if _exit_status:
        os._exit(_exit_status[0])
