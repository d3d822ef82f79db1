"""The plan a process saved is what its sinks and its report use, from memory (reading it
back costs a few tenths of a second at 100k records), and only for that tenant and run."""

from __future__ import annotations

import polars as pl
import pytest
from dagster import Failure

from talk_assets.defs import plan_memory
from talk_assets.defs.plan_memory import commit_state, load_plan, remember_plan, store_plan
from talk_assets.defs.run_state import RunState
from talk_assets.engine import SyncPlan, SyncState
from talk_assets.store.tenant import TenantStore


def save_plan(
    store: TenantStore, plan: SyncPlan, run_id: str, planned_from: SyncState | None = None
) -> None:
    """What a run does with its plan: kept in memory, then stored (`plan_this_run`)."""
    remember_plan(store, plan, run_id, planned_from)
    store_plan(store, plan, run_id)


def a_plan() -> SyncPlan:
    empty = SyncPlan.empty()
    notes = pl.DataFrame({"flow": ["f"], "note": ["a note"]}).cast(dict(empty.notes.schema))
    return SyncPlan(**{**empty.frames(), "notes": notes})


def test_the_saved_plan_is_used_from_memory_until_the_report_releases_it(tmp_path, monkeypatch):
    monkeypatch.setattr(plan_memory, "_last_saved", None)
    store = TenantStore(tmp_path / "t.duckdb")
    plan = a_plan()
    save_plan(store, plan, "run-1")

    assert load_plan(store, "run-1") is plan  # the sinks: from memory
    assert load_plan(store, "run-1", release=True) is plan  # the report: last use
    read_back = load_plan(store, "run-1")  # released: read from the tenant file
    assert read_back is not plan
    assert read_back.notes["note"].to_list() == ["a note"]


def test_a_remembered_plan_serves_neither_another_run_nor_another_tenant(tmp_path, monkeypatch):
    monkeypatch.setattr(plan_memory, "_last_saved", None)
    store = TenantStore(tmp_path / "t.duckdb")
    other = TenantStore(tmp_path / "other.duckdb")
    save_plan(store, a_plan(), "run-1")
    save_plan(other, SyncPlan.empty(), "run-9")

    with pytest.raises(Failure, match="no plan from this run"):
        load_plan(store, "run-2")
    assert load_plan(store, "run-1").notes.height == 1  # read back: memory holds run-9's
    assert load_plan(other, "run-9").notes.height == 0


def a_state() -> SyncState:
    links = pl.DataFrame({"flow": ["f", "f"], "source": ["a:1", "a:2"], "target": ["b:1", "b:2"]})
    inserted = pl.DataFrame({"flow": ["f"], "source": ["a:3"], "target": ["b:3"]})
    return SyncState.from_frames({"links": links, "inserted": inserted})


def test_the_commit_state_is_that_of_the_run_that_saved_the_plan(tmp_path, monkeypatch):
    monkeypatch.setattr(plan_memory, "_last_saved", None)
    store = TenantStore(tmp_path / "t.duckdb")
    save_plan(store, a_plan(), "run-1", a_state())

    assert commit_state(store, "run-2") is None  # another run reads the file
    kept = commit_state(store, "run-1")
    assert kept is not None
    found = kept.of(pl.Series(["b:2", "x:9"]), ["links"])
    assert found.links["source"].to_list() == ["a:2"]
    save_plan(store, a_plan(), "run-3")  # a plan saved without its state: none kept
    assert commit_state(store, "run-3") is None


def test_the_commit_state_adds_what_commits_appended(tmp_path):
    kept = RunState(a_state())
    records = pl.Series(["a:3", "b:4", "b:5"])
    # insert tracking is looked up by source only
    assert kept.of(records, ["inserted"], by_source=("inserted",)).inserted.height == 1
    assert kept.of(pl.Series(["b:3"]), ["inserted"], by_source=("inserted",)).inserted.is_empty()

    kept.add(
        {
            "links": SyncState.from_frames(
                {"links": pl.DataFrame({"flow": ["f"], "source": ["a:4"], "target": ["b:4"]})}
            ).links,
            "synced": pl.DataFrame({"flow": ["f"]}),  # not kept: never read by a commit
        }
    )
    state = kept.of(records, ["links", "inserted"], by_source=("inserted",))
    assert state.links["target"].to_list() == ["b:4"]
    assert state.inserted["source"].to_list() == ["a:3"]
    with pytest.raises(KeyError, match="synced"):
        kept.of(records, ["synced"])


def deciding(rejected: dict[str, str], skipped: dict[str, str]) -> SyncPlan:
    """A plan rejecting and skipping records (record -> reason)."""
    empty = SyncPlan.empty()

    def rows(frame: pl.DataFrame, reasons: dict[str, str]) -> pl.DataFrame:
        made = pl.DataFrame(
            {"flow": "f", "record": list(reasons), "reason": list(reasons.values())}
        )
        return pl.concat([frame, made], how="diagonal_relaxed").cast(dict(frame.schema))

    return SyncPlan(
        **{
            **empty.frames(),
            "rejects": rows(empty.rejects, rejected),
            "skipped": rows(empty.skipped, skipped),
        }
    )


def test_an_incremental_plan_replaces_only_its_scopes_decisions(tmp_path):
    """The stored rejects and skips change by record: outside the scope they are the last
    plan's (an incremental plan carries them over), inside it they are the new plan's, and a
    decision of the scope that the new plan no longer makes is gone."""
    store = TenantStore(tmp_path / "t.duckdb")
    first = deciding({"a:1": "too long", "a:2": "too long"}, {"a:3": "no target", "a:4": "x"})
    store_plan(store, first, "run-1")
    # a plan of the clusters of a:2 and a:4 alone: it says nothing about a:1 and a:3
    second = deciding({"a:2": "not a number"}, {})
    store_plan(store, second, "run-2", scope=pl.Series(["a:2", "a:4", "b:9"]))

    stored, made_by = plan_memory.stored_plan(store)
    assert made_by == "run-2"
    assert stored is not None
    rejected = dict(stored.rejects.select("record", "reason").iter_rows())
    assert rejected == {"a:1": "too long", "a:2": "not a number"}
    assert stored.skipped["record"].to_list() == ["a:3"]  # a:4's skip ended with its cluster

    store_plan(store, second, "run-3")  # a full plan: every table replaced
    stored = plan_memory.stored_plan(store)[0]
    assert stored is not None
    assert stored.rejects["record"].to_list() == ["a:2"]
    assert stored.skipped.is_empty()
