"""Emulator persistence: a snapshot file holding every system's data, and per system a journal
of the changes since its snapshot.

- `<data file>`: `{"<system>": snapshot, ...}`, each snapshot `{"records": {table: [record,
  ...]}, "next_ids": {...}, ...}` plus `"journal": TOKEN` naming the journal that follows it
  (a file without tokens, the format before journals, loads as it is).
- `<data file>.<system>.journal`: JSON lines (`journal.py`), one per stored change: `{"table",
  "id", "record"}` (`record` null: deleted) with the system's `next_ids` at that moment and
  any other map the change adds to (`idempotency`: the keys it stored).

A write appends one line and fsyncs it (O(1) in the number of records). Compaction writes the
system's whole snapshot with a new token (temp file, fsync, atomic rename) and then a new
journal: at startup, on reset, and when the journal grows past `COMPACT_FACTOR` times the
snapshot (so its cost, O(records), is spread over as many writes: amortised O(1)). A kill
between the two renames leaves a journal with the old token: its changes are all in the new
snapshot and it is not replayed.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from talk_assets.systems.emulator.journal import Journal, fsync_directory, read_changes

Json = dict[str, Any]

TOKEN = "journal"
COMPACT_FACTOR = 2
"""Compact when the journal is larger than this many times the snapshot ..."""
COMPACT_FLOOR = 1 << 20
"""... and larger than this many bytes (a small snapshot is not rewritten every few writes)."""


def journal_path(path: Path, system: str) -> Path:
    return path.with_name(f"{path.name}.{system}.journal")


def remove_data_file(path: str | os.PathLike[str]) -> None:
    """Delete a data file and its journals."""
    path = Path(path)
    for stale in (path, *path.parent.glob(f"{path.name}.*.journal")):
        stale.unlink(missing_ok=True)


def replay(snapshot: Json, changes: list[Json], id_field: str) -> Json:
    """`snapshot` with `changes` applied in order (records keep their places, new ones go last)."""
    if not changes:
        return {k: v for k, v in snapshot.items() if k != TOKEN}
    tables = {
        name: {r[id_field]: r for r in rows} for name, rows in snapshot.get("records", {}).items()
    }
    merged = {k: v for k, v in snapshot.items() if k not in ("records", TOKEN)}
    next_ids: dict[str, int] = dict(snapshot.get("next_ids", {}))
    for change in changes:
        rows = tables.setdefault(change["table"], {})
        if change.get("record") is None:
            rows.pop(change["id"], None)
        else:
            rows[change["id"]] = change["record"]
        for name, value in change.get("next_ids", {}).items():
            next_ids[name] = max(next_ids.get(name, value), value)
        for key, additions in change.items():
            if key not in ("table", "id", "record", "next_ids") and isinstance(additions, dict):
                merged[key] = {**merged.get(key, {}), **additions}
    merged["records"] = {name: list(rows.values()) for name, rows in tables.items()}
    merged["next_ids"] = next_ids
    return merged


class DataFile:
    """The snapshot file and the systems' journals; one instance serves every emulator (each
    in its own thread) of a process."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stored: dict[str, Json] = {}
        """Snapshots as read, until their system loads them."""
        self._texts: dict[str, str] = {}
        """Every system's snapshot as the file holds it (a compaction rewrites the others')."""
        self._journals: dict[str, Journal] = {}
        if self.path.exists():
            self._stored = json.loads(self.path.read_text(encoding="utf-8"))
            self._texts = {name: _dumps(snapshot) for name, snapshot in self._stored.items()}

    def load(self, system: str, id_field: str) -> Json | None:
        """`system`'s snapshot with its journal replayed, or None when the file has none."""
        with self._lock:
            snapshot = self._stored.pop(system, None)
            if snapshot is None:
                return None
            changes = read_changes(journal_path(self.path, system), snapshot.get(TOKEN))
            return replay(snapshot, changes, id_field)

    def save(self, system: str, snapshot: Json) -> None:
        """Compact: `snapshot` is all of `system`'s data; its journal starts empty."""
        with self._lock:
            self._compact(system, snapshot)

    def append(self, system: str, change: Json, snapshot: Callable[[], Json]) -> None:
        """Store one change durably; compact with `snapshot()` when the journal has grown."""
        with self._lock:
            journal = self._journals.get(system)
            if journal is None:  # no snapshot of this system yet
                self._compact(system, snapshot())
                return
            journal.append(change)
            if journal.size > max(COMPACT_FLOOR, COMPACT_FACTOR * len(self._texts[system])):
                self._compact(system, snapshot())

    def close(self) -> None:
        with self._lock:
            for journal in self._journals.values():
                journal.close()
            self._journals.clear()

    def _compact(self, system: str, snapshot: Json) -> None:
        token = uuid.uuid4().hex
        self._texts[system] = _dumps({**snapshot, TOKEN: token})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write("{")
            for n, (name, text) in enumerate(self._texts.items()):
                fh.write(f"{',' if n else ''}{json.dumps(name)}:")
                fh.write(text)
            fh.write("}")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        fsync_directory(self.path.parent)
        old = self._journals.pop(system, None)
        if old is not None:
            old.close()
        self._journals[system] = Journal.start(journal_path(self.path, system), token)


def _dumps(snapshot: Json) -> str:
    return json.dumps(snapshot, ensure_ascii=False, separators=(",", ":"))
