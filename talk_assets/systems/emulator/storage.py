"""Emulator persistence: one JSON file holding every system's data."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

Json = dict[str, Any]


class DataFile:
    """One JSON file holding every system's data, rewritten atomically on every change."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._content: Json = {}
        if self.path.exists():
            self._content = json.loads(self.path.read_text(encoding="utf-8"))

    def load(self, system: str) -> Json | None:
        with self._lock:
            return self._content.get(system)

    def save(self, system: str, snapshot: Json) -> None:
        with self._lock:
            self._content[system] = snapshot
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with tmp.open("w", encoding="utf-8") as fh:
                json.dump(self._content, fh, ensure_ascii=False, separators=(",", ":"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
