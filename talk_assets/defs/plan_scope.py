"""What planning reads: everything (a full plan) or only the clusters that need planning.

Sources append the keys of the records they stored to `changed_records` (`progress.py`; a
NULL key: plan everything, e.g. after a full read or recovered inserts). Planning then covers the whole
clusters of those records plus what the last plan left open (writes not confirmed, rejects,
skips: `engine.scope.carried_over`), reading only their records and state rows, and clears
the keys it consumed when it records its plan. Planning them gives the same writes as a full
plan (`talk_assets_tests/engine/test_incremental_plan.py`); the periodic full read (S8/S9)
plans everything as a safety net.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from talk_assets.defs.progress import CHANGED_RECORDS, CHANGED_SCHEMA
from talk_assets.defs.scope_queries import id_in, stored_closure
from talk_assets.defs.sources import conform
from talk_assets.defs.state_rows import load_state, state_of
from talk_assets.defs.synclog import confirmed_writes
from talk_assets.engine import SyncPlan, SyncState
from talk_assets.engine.flows import prepare
from talk_assets.engine.scope import LINKED_PAIR_TABLES, carried_over, decided, kept_decisions
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore, q
from talk_assets.systems import Datatype, ResolvedFlow

CARRIED_FRAMES = ("writes", "insert_sources", "rejects", "skipped", "baselines", "merges")
"""The tables of the previous plan that `carried_over` and `kept_decisions` read (the
others may be large)."""


@dataclass(frozen=True)
class PlanInputs:
    """The records and state a plan reads, and what it covered (for the log and metadata)."""

    records: dict[str, pl.DataFrame]
    state: SyncState
    scope: str
    """`full`, or `N records in the clusters of M changed or open ones`."""
    consumed_runs: list[str]
    """Runs whose `changed_records` this plan covers: cleared when the plan is recorded."""
    kept: dict[str, pl.DataFrame] = field(default_factory=dict)
    """The previous plan's rejects and skips outside the scope (`scope.kept_decisions`): the
    plan made of these inputs adds them (`scope.with_decisions`)."""
    planned: pl.Series | None = None
    """The records an incremental plan covers (its scope); None for a full plan."""


def plan_inputs(
    store: TenantStore,
    flows: Sequence[ResolvedFlow],
    datatypes: Sequence[Datatype],
    previous: SyncPlan | None,
    previous_run: str | None,
    *,
    full: bool,
    recheck: bool = False,
) -> PlanInputs:
    """Read what the plan needs: everything when `full` (or when a source asked for it or
    there is no earlier plan to continue from), else the clusters that need planning; with
    `recheck` (retrying rejects) those of the previous plan's rejects and skips too."""
    pending = _pending(store)
    runs = pending["run_id"].unique().to_list()
    if full or previous is None or pending["record"].is_null().any():
        return PlanInputs(load_snapshots(store, datatypes), load_state(store), "full", runs)
    confirmed = confirmed_writes(store, previous_run)
    seeds = pl.concat([pending["record"], carried_over(previous, confirmed)])
    if recheck:
        seeds = pl.concat([seeds, decided(previous)])
    seeds = seeds.unique()
    scope = stored_closure(store, seeds, datatypes, prepare(list(flows)))
    records = {dt.key: _rows_of(store, dt, scope) for dt in datatypes}
    return PlanInputs(
        records,
        state_of(store, scope, by_source=LINKED_PAIR_TABLES),  # the scope is closed
        f"{scope.len()} records in the clusters of {seeds.len()} changed or open ones",
        runs,
        kept_decisions(previous, scope),
        scope,
    )


def consumed(inputs: PlanInputs) -> dict:
    """The `TenantStore.write_tables` removal that clears the changes a plan covered."""
    keys = pl.DataFrame({"run_id": inputs.consumed_runs}, schema={"run_id": pl.String})
    return {CHANGED_RECORDS: (keys, ["run_id"])}


def load_snapshots(store: TenantStore, datatypes: Sequence[Datatype]) -> dict[str, pl.DataFrame]:
    """Every datatype's stored records, with the schema's columns (empty if never read)."""
    frames = {}
    for dt in datatypes:
        stored = store.read_table(dt.system, dt.name)
        frames[dt.key] = dt.empty_frame() if stored is None else conform(dt, stored)
    return frames


def _pending(store: TenantStore) -> pl.DataFrame:
    if CHANGED_RECORDS not in store.table_names(STATE_SCHEMA):
        return pl.DataFrame(schema=CHANGED_SCHEMA)
    return store.read_table(STATE_SCHEMA, CHANGED_RECORDS).cast(CHANGED_SCHEMA)


def _rows_of(store: TenantStore, dt: Datatype, scope: pl.Series) -> pl.DataFrame:
    """The stored records of `dt` whose keys are in `scope`."""
    prefix = dt.key + ":"
    ids = scope.filter(scope.str.starts_with(prefix)).str.slice(len(prefix))
    if ids.is_empty() or dt.name not in store.table_names(dt.system):
        return dt.empty_frame()
    matching, wanted = id_in(dt, dt.id_field, pl.DataFrame({"id": ids}), "wanted")
    frame = store.query(
        f"select * from {q(dt.system)}.{q(dt.name)} where {matching}", wanted=wanted
    )
    return conform(dt, frame)
