"""The run's plan, kept where its users read it: in memory for the run's own sinks and report
(at 100k records reading it back costs a few tenths of a second), and in the tenant file's
`plan` schema, where the next run finds what this one did not confirm
(`plan_scope.carried_over`).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from dagster import Failure

from talk_assets.defs.run_state import RunState
from talk_assets.engine import SyncPlan, SyncState
from talk_assets.engine.scope import DECISIONS
from talk_assets.store.tenant import TenantStore

PLAN_SCHEMA = "plan"


@dataclass(frozen=True)
class _SavedPlan:
    """The plan this process made last, with what its run's commits read (`commit_state`)."""

    tenant: str  # the tenant file, resolved
    run_id: str
    plan: SyncPlan
    commit_state: RunState | None


_last_saved: _SavedPlan | None = None
"""The plan this process saved last: the sinks and the report of that run take it from here
instead of reading it back (at 100k records a few tenths of a second per read). One plan at
most; the run's report releases it (`load_plan(release=True)`)."""


def _remembered(store: TenantStore, run_id: str) -> _SavedPlan | None:
    """The plan kept in memory when it is `run_id`'s plan of this tenant file, else None."""
    saved = _last_saved
    if saved is not None and (saved.tenant, saved.run_id) == (str(store.path.resolve()), run_id):
        return saved
    return None


def remember_plan(
    store: TenantStore, plan: SyncPlan, run_id: str, planned_from: SyncState | None = None
) -> None:
    """Keep the plan of `run_id` in memory for the run's sinks and report, with the part of
    the state it was `planned_from` that their commits read (`commit_state`; none kept
    without it)."""
    global _last_saved
    kept = None if planned_from is None else RunState(planned_from)
    _last_saved = _SavedPlan(str(store.path.resolve()), run_id, plan, kept)


def store_plan(
    store: TenantStore, plan: SyncPlan, run_id: str, scope: pl.Series | None = None
) -> None:
    """Store the plan of `run_id` in the tenant file, replacing the last one: the next run
    carries over what it did not confirm (`plan_scope.carried_over`).

    `scope`: the records an incremental plan covered. Its rejects and skips outside them are
    the last plan's, carried unchanged (`scope.kept_decisions`), so only the scope's rows of
    those tables are replaced, by record: the standing rejects of a large tenant (some 45k at
    100k records) are not rewritten by every run that changed a few records."""
    frames = dict(plan.frames())
    frames["meta"] = pl.DataFrame({"run_id": [run_id]})
    if scope is None or not _decisions_stored_alike(store, frames):
        store.write_tables(replace=frames, schema=PLAN_SCHEMA)
        return
    records = scope.cast(pl.String).unique()
    inside = records.implode()
    decisions = {
        name: frames.pop(name).filter(pl.col("record").is_in(inside)) for name in DECISIONS
    }
    keys = records.to_frame("record"), ["record"]
    store.write_tables(
        replace=frames,
        remove=dict.fromkeys(DECISIONS, keys),
        append=decisions,
        schema=PLAN_SCHEMA,
    )


def _decisions_stored_alike(store: TenantStore, frames: dict[str, pl.DataFrame]) -> bool:
    """Whether the stored decision tables have the plan's columns (not so before the first
    plan, or after an upgrade changed them: then they are replaced whole, once)."""
    return all(store.column_names(PLAN_SCHEMA, n) == frames[n].columns for n in DECISIONS)


def commit_state(store: TenantStore, run_id: str) -> RunState | None:
    """The state rows the commits of `run_id` read, when this process made its plan (else
    None): those naming a record of the planned clusters (`run_state.RunState`)."""
    saved = _remembered(store, run_id)
    return None if saved is None else saved.commit_state


def _plan_run(store: TenantStore) -> str | None:
    """The run that made the stored plan (None before the first plan): one tiny read."""
    meta = store.read_table(PLAN_SCHEMA, "meta")
    return None if meta is None or meta.is_empty() else meta["run_id"][0]


def stored_plan(
    store: TenantStore, frames: Sequence[str] | None = None
) -> tuple[SyncPlan | None, str | None]:
    """The last plan stored and the run that made it; (None, None) before the first plan.
    `frames`: only these of the plan's tables are read (the others empty), e.g. what
    `carried_over` needs: the last full plan's clusters and mapped values are large."""
    made_by = _plan_run(store)
    if made_by is None:
        return None, None
    empty = SyncPlan.empty().frames()
    wanted = list(empty) if frames is None else [n for n in empty if n in frames]
    read = store.read_tables(PLAN_SCHEMA, wanted)
    plan = SyncPlan(**{n: empty[n] if read.get(n) is None else read[n] for n in empty})
    return plan, made_by


def load_plan(
    store: TenantStore, run_id: str, frames: Sequence[str] | None = None, *, release: bool = False
) -> SyncPlan:
    """The plan made in this run, for its report (`frames`: only these of its tables are
    read, the others empty; a plan this process saved comes whole from memory); refuses a plan
    of another run (the run skipped planning or stopped before it) before reading any of it.
    `release`: the last use in this run, the memory of it is dropped."""
    global _last_saved
    saved = _remembered(store, run_id)
    if saved is not None:
        if release:
            _last_saved = None
        return saved.plan
    plan = stored_plan(store, frames)[0] if _plan_run(store) == run_id else None
    if plan is None:
        raise Failure(
            description=(
                "no plan from this run: it skipped planning or stopped before it; "
                "`talk-assets log --run last` shows what it did"
            )
        )
    return plan
