"""One hotline node per store: an exclusive lock on ``<store>.lock`` held while it runs.

A second ``deskline serve`` on the same store would close the first one's live calls as
"interrupted" (call recovery) and then fail on the busy SIP port. Taking this lock first,
before anything reads or writes the store, makes it refuse at once, with one line. The
lock is the kernel's (``flock``): it is released when the process ends, however it ends,
so a crashed node never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class StoreLocked(RuntimeError):
    """Another process holds the store's lock."""


class StoreLock:
    def __init__(self, store_path: str | Path) -> None:
        self.path = Path(f"{store_path}.lock")
        self._fd: int | None = None

    def acquire(self) -> StoreLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StoreLocked(
                f"the store {str(self.path)[:-5]} is in use by a running hotline node (pid {holder}); "
                "stop it first, or give this node its own [store] path"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
