"""An emulator's append-only journal: one JSON line per change, on disk before it is answered.

The first line is a header `{"journal": TOKEN}` naming the snapshot the changes follow (the
data file stores the same token beside that snapshot); a journal whose token is not the
snapshot's is left over from before a compaction (its changes are in the snapshot) or from
another data file, and is not replayed. A write appends its line and fsyncs it: O(1) in the
number of records. A kill during an append leaves at most the last line torn (no newline,
or not JSON): reading ignores it with a warning and keeps every line before it.
"""

from __future__ import annotations

import json
import logging
import os
import weakref
from pathlib import Path
from typing import Any

Json = dict[str, Any]

log = logging.getLogger(__name__)

_sync = getattr(os, "fdatasync", os.fsync)
"""fdatasync where there is one: the appended bytes and the file size, not the timestamps."""


class JournalError(ValueError):
    """A journal line before the last is not a change: the file was damaged, not torn."""


def encode(entry: Json) -> bytes:
    return (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def fsync_directory(path: Path) -> None:
    """Make a rename or a new file in `path` durable (where directories can be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_changes(path: Path, token: str | None) -> list[Json]:
    """The changes of the journal at `path` that follow the snapshot stamped `token`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    tail = lines.pop()  # after the last newline: empty, or a line torn by a kill
    if tail:
        lines.append(tail)
    entries: list[Json] = []
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
        except ValueError:
            if number < len(lines):
                raise JournalError(
                    f"{path}: line {number} of {len(lines)} is not a change; the journal is "
                    "damaged (move it away to start from the snapshot alone)"
                ) from None
            log.warning(
                "%s: ignored a torn last line (%d bytes, a write cut off by a kill); the %d "
                "complete line(s) before it are kept",
                path,
                len(line),
                number - 1,
            )
            break
        entries.append(entry)
    if not entries:
        return []
    header, changes = entries[0], entries[1:]
    if token is None or header.get("journal") != token:
        log.info("%s follows another snapshot (already compacted into it): not replayed", path)
        return []
    return changes


class Journal:
    """An open journal: `append` writes one change and fsyncs it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._close = weakref.finalize(self, os.close, self._fd)
        self.size = os.fstat(self._fd).st_size

    @classmethod
    def start(cls, path: Path, token: str) -> Journal:
        """A new journal holding only the header for the snapshot `token`, atomically in
        place of the old one."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            fh.write(encode({"journal": token}))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_directory(path.parent)
        return cls(path)

    def append(self, change: Json) -> None:
        data = memoryview(encode(change))
        while data:
            written = os.write(self._fd, data)
            self.size += written
            data = data[written:]
        _sync(self._fd)

    def close(self) -> None:
        self._close()
