"""The data file on its own: snapshots, journals replayed on load, torn and stale journals,
compaction (`storage.py`, `journal.py`)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from talk_assets.systems.emulator import storage
from talk_assets.systems.emulator.journal import JournalError
from talk_assets.systems.emulator.storage import DataFile, journal_path, remove_data_file

Json = dict[str, Any]


class Table:
    """A system's state as an emulator keeps it: records by id, next ids, idempotency keys."""

    def __init__(self, data_file: DataFile, system: str = "s") -> None:
        self.data_file, self.system = data_file, system
        self.rows: dict[int, Json] = {1: {"id": 1, "v": "a"}, 2: {"id": 2, "v": "b"}}
        self.next_ids = {"t": 3}
        self.idempotency: dict[str, Json] = {}
        data_file.save(system, self.snapshot())

    def snapshot(self) -> Json:
        records = {"t": list(self.rows.values())}
        return {
            "records": records,
            "next_ids": dict(self.next_ids),
            "idempotency": self.idempotency,
        }

    def write(self, record_id: int, record: Json | None, **additions: Json) -> None:
        if record is None:
            self.rows.pop(record_id)
        else:
            self.rows[record_id] = record
        for name, entries in additions.items():
            getattr(self, name).update(entries)
        change = {"table": "t", "id": record_id, "record": record, "next_ids": self.next_ids}
        self.data_file.append(self.system, {**change, **additions}, self.snapshot)

    def create(self, value: str, key: str | None = None) -> None:
        record_id = self.next_ids["t"]
        self.next_ids["t"] += 1
        record = {"id": record_id, "v": value}
        self.write(record_id, record, **({"idempotency": {key: {"id": record_id}}} if key else {}))


def edited(data_file: DataFile) -> Table:
    table = Table(data_file)
    table.write(1, {"id": 1, "v": "A"})
    table.create("c")
    table.write(2, None)
    return table


def loaded(path: Path, system: str = "s") -> Json | None:
    return DataFile(path).load(system, "id")


def test_changes_are_replayed_after_the_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    table = edited(DataFile(path))
    assert loaded(path) == table.snapshot()
    assert loaded(path)["records"]["t"] == [{"id": 1, "v": "A"}, {"id": 3, "v": "c"}]
    assert loaded(path)["next_ids"] == {"t": 4}
    assert len(journal_path(path, "s").read_text().splitlines()) == 4  # header + 3 changes


def test_maps_a_change_adds_to_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    table = Table(DataFile(path))
    table.create("k", key="key-1")
    assert loaded(path)["idempotency"] == {"key-1": {"id": 3}}


def test_a_torn_last_line_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "data.json"
    table = edited(DataFile(path))
    with journal_path(path, "s").open("ab") as fh:
        fh.write(b'{"table":"t","id":4,"record":{"id":4,"v')  # a write cut off by a kill
    with caplog.at_level(logging.WARNING):
        assert loaded(path) == table.snapshot()
    assert "ignored a torn last line" in caplog.text
    assert "the 4 complete line(s) before it are kept" in caplog.text


def test_a_damaged_line_before_the_last_stops_the_load(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    edited(DataFile(path))
    journal = journal_path(path, "s")
    lines = journal.read_bytes().split(b"\n")
    lines[2] = lines[2][:10]
    journal.write_bytes(b"\n".join(lines))
    with pytest.raises(JournalError, match="line 3 of 4 is not a change"):
        DataFile(path).load("s", "id")


def test_compaction_keeps_everything_and_restarts_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "COMPACT_FLOOR", 0)
    path = tmp_path / "data.json"
    table = Table(DataFile(path))
    journal = journal_path(path, "s")
    header = journal.read_text()
    for n in range(40):  # the journal outgrows twice the snapshot a few times
        table.create(f"record {n}", key=f"key {n}")
        table.write(1, {"id": 1, "v": f"edit {n}"})
    assert journal.read_text() != header  # compacted with a new token
    assert journal.stat().st_size <= 2 * path.stat().st_size + 100  # one line over, at most
    assert loaded(path) == table.snapshot()
    assert len(loaded(path)["records"]["t"]) == 42
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_journal_older_than_its_snapshot_is_not_replayed(tmp_path: Path) -> None:
    """A kill between the snapshot's rename and the new journal's leaves the old journal."""
    path = tmp_path / "data.json"
    data_file = DataFile(path)
    table = edited(data_file)
    old_journal = tmp_path / "old.journal"
    shutil.copy(journal_path(path, "s"), old_journal)
    table.write(3, {"id": 3, "v": "after"})
    data_file.save("s", table.snapshot())
    shutil.copy(old_journal, journal_path(path, "s"))
    assert loaded(path) == table.snapshot()


def test_another_systems_compaction_keeps_this_systems_journal(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    data_file = DataFile(path)
    first, second = Table(data_file, "first"), Table(data_file, "second")
    second.create("only in the journal")
    first.create("x")
    data_file.save("first", first.snapshot())
    assert loaded(path, "second") == second.snapshot()
    assert loaded(path, "first") == first.snapshot()


def test_a_file_without_journals_loads_as_before(tmp_path: Path) -> None:
    """The format before journals: one JSON object of snapshots, no tokens."""
    path = tmp_path / "data.json"
    snapshot = {"records": {"t": [{"id": 7, "v": "old"}]}, "next_ids": {"t": 9}}
    path.write_text(json.dumps({"s": snapshot}))
    assert loaded(path) == snapshot
    assert loaded(path, "other") is None


def test_a_journal_without_its_snapshot_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    edited(DataFile(path))
    path.unlink()
    assert loaded(path) is None
    remove_data_file(path)
    assert not list(tmp_path.iterdir())
