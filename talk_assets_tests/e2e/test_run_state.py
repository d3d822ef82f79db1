"""The state rows a sink's commit reads from memory (`run_state.RunState`) equal those the
tenant file holds at that moment, in real runs: an initial load (inserts, merges), edits on
both sides and a new record (an incremental plan), and a full read."""

from __future__ import annotations

import polars as pl
import pytest

from talk_assets.defs import run_state, sink_writes
from talk_assets.defs.state_rows import state_of
from talk_assets_tests.e2e.conftest import World
from talk_assets_tests.e2e.test_rules import linked_pair

pytestmark = pytest.mark.e2e


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


def test_s10_commits_read_the_state_of_the_file_from_memory(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    compared: list[int] = []
    real_of = run_state.RunState.of

    def checked_of(self, records, tables, *, by_source=()):
        remembered = real_of(self, records, tables, by_source=by_source)
        stored = state_of(world.store, records, tables, by_source=by_source)
        for table in tables:
            mine, theirs = getattr(remembered, table), getattr(stored, table)
            assert _sorted(mine).equals(_sorted(theirs)), f"{table}:\n{mine}\nfile:\n{theirs}"
            compared.append(theirs.height)
        return remembered

    monkeypatch.setattr(run_state.RunState, "of", checked_of)
    uses_memory = []
    real_commit = sink_writes._commit

    def spy_commit(*args, memory=None, **kwargs):
        uses_memory.append(memory is not None)
        return real_commit(*args, memory=memory, **kwargs)

    monkeypatch.setattr(sink_writes, "_commit", spy_commit)

    world.settle()
    assert compared and all(uses_memory)
    rows_after_load = sum(compared)
    assert rows_after_load > 0  # commits found links of earlier batches and merges

    emp, contact = linked_pair(world, "powerofficego.employees", "crmoffice.contacts")
    world.crm_patch(f"/contacts/{contact}", familyName="Minne")
    world.po_patch(f"/Employees/{emp}", PhoneNumber="+47 11 22 33 44")
    with world.emu.powerofficego.client() as client:
        client.post(
            "/Customers", json={"IsPerson": True, "FirstName": "Mina", "LastName": "Minne"}
        ).raise_for_status()
    calls = len(compared)
    rep = world.sync()
    assert rep.success and rep.writes >= 2, rep.error
    assert len(compared) > calls
    world.settle()
    calls = len(compared)
    world.po_patch(f"/Employees/{emp}", PhoneNumber="+47 55 66 77 88")
    assert world.sync(full_read=True).success
    assert len(compared) > calls
    assert all(uses_memory)
