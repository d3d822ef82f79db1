"""The sync engine: pure polars, no Dagster, HTTP or DuckDB.

    state = SyncState.empty()
    plan = make_plan(records, flows, state)        # records: {datatype key: frame}
    ...sinks execute plan.writes, answer a RESULTS frame...
    state = apply(state, plan, results)

Record keys are `"{datatype.key}:{id}"`. Frame schemas are documented in `schemas.py`.
"""

from talk_assets.engine.apply import apply
from talk_assets.engine.identity import record_key
from talk_assets.engine.plan import PLAN_SCHEMAS, SyncPlan, check_circuit_breaker
from talk_assets.engine.planner import make_plan
from talk_assets.engine.schemas import RESULTS
from talk_assets.engine.snapshot import mark_gone, merge_incremental
from talk_assets.engine.state import STATE_SCHEMAS, SyncState

__all__ = [
    "PLAN_SCHEMAS",
    "RESULTS",
    "STATE_SCHEMAS",
    "SyncPlan",
    "SyncState",
    "apply",
    "check_circuit_breaker",
    "make_plan",
    "mark_gone",
    "merge_incremental",
    "record_key",
]
