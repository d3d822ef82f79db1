"""OS file locks (fcntl.flock) that serialize work between processes on one machine.

The kernel drops a flock when its process dies, so a killed process never leaves a lock behind.
Used around the first creation of the Dagster instance's storages and of a tenant's DuckDB file
(two first syncs at once must not both create them), and by `talk-assets sync` to hold its
tenant for the length of a run.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class LockTimeout(TimeoutError):
    """The lock stayed held by another process for longer than we were willing to wait."""

    def __init__(self, path: Path, holder: int | None) -> None:
        super().__init__(f"{path} is held by {f'pid {holder}' if holder else 'another process'}")
        self.path = path
        self.holder = holder


class FileLock:
    """An exclusive flock on one file, taken without blocking: `try_acquire` says whether it
    got the lock, `holder` what the lock file says about the process holding it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder(self) -> int | None:
        """The pid the current holder wrote into the file (None if unknown)."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None


@contextmanager
def file_lock(
    path: str | Path,
    *,
    timeout: float | None = None,
    on_wait: Callable[[int | None], None] | None = None,
    poll: float = 0.05,
) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) while the block runs.

    `timeout=None` waits as long as it takes; otherwise `LockTimeout` after `timeout` seconds.
    While it waits, `on_wait` is called once with the holder's pid. The file itself is never
    deleted: deleting a lock file races with the next process that opens it.
    """
    lock = FileLock(path)
    deadline = None if timeout is None else time.monotonic() + timeout
    announced = False
    while not lock.try_acquire():
        if on_wait is not None and not announced:
            on_wait(lock.holder())
            announced = True
        if deadline is not None and time.monotonic() >= deadline:
            raise LockTimeout(lock.path, lock.holder())
        time.sleep(poll)
    try:
        yield
    finally:
        lock.release()


def write_atomically(path: str | Path, text: str) -> None:
    """Replace `path` with `text` in one step: readers see the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
