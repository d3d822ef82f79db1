"""A tiny in-memory stand-in for the systems: executes a plan's writes like the sinks would."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import replace

import polars as pl

from talk_assets.engine import RESULTS, SyncPlan, SyncState, apply, make_plan
from talk_assets.engine.apply import batch_plan
from talk_assets.systems import datatype

_ids = itertools.count(1000)


def frame(key: str, rows: list[dict]) -> pl.DataFrame:
    """Records of a datatype with the schema's columns (missing ones null)."""
    dt = datatype(key)
    schema = dt.polars_schema()
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema, orient="row")


def edit_first_names(
    customers: pl.DataFrame, edits: list[tuple[int, str]], changed: str
) -> pl.DataFrame:
    """Customers with `FirstName` edited at each (row, value) of `edits` (rows past the end are
    left out); an edit stamps every row's `LastChangedDateTimeOffset` with `changed`."""
    for idx, value in edits:
        if idx < customers.height:
            customers = customers.with_columns(
                FirstName=pl.when(pl.int_range(pl.len()) == idx)
                .then(pl.lit(value, pl.String))
                .otherwise("FirstName"),
                LastChangedDateTimeOffset=pl.lit(changed),
            )
    return customers


def execute(
    records: Mapping[str, pl.DataFrame],
    plan: SyncPlan,
    *,
    now: str = "2024-06-01T00:00:00+00:00",
    fail: set[str] = frozenset(),
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """(new records, RESULTS) after executing plan.writes; write ids in `fail` fail."""
    tables = {k: v.to_dicts() for k, v in records.items()}
    results = []
    for w in plan.writes.iter_rows(named=True):
        dt = datatype(w["datatype"])
        rows = tables.setdefault(dt.key, [])
        values = json.loads(w["values"])
        if w["write_id"] in fail:
            results.append({"write_id": w["write_id"], "ok": False, "status": 400, "error": "no"})
            continue
        if w["op"] == "insert":
            rec = {c: None for c in dt.polars_schema()}
            new_id = next(_ids)
            rec.update(values)
            rec[dt.id_field] = new_id if dt.id.type == "integer" else f"n{new_id}"
            if dt.parent:
                rec[dt.parent] = int(w["parent_id"])
            rows.append(rec)
        else:
            rec = next(r for r in rows if str(r[dt.id_field]) == w["record_id"])
            rec.update(values)
        rec[dt.last_changed_field] = now
        results.append(
            {
                "write_id": w["write_id"],
                "ok": True,
                "new_id": str(rec[dt.id_field]),
                "record": json.dumps(rec),
                "status": 200,
            }
        )
    new = {
        k: pl.DataFrame(v, schema=datatype(k).polars_schema(), orient="row")
        for k, v in tables.items()
    }
    res = pl.DataFrame(
        [{c: r.get(c) for c in RESULTS} for r in results], schema=RESULTS, orient="row"
    )
    return new, res


def run(records, flows, state, **kw) -> tuple[dict[str, pl.DataFrame], SyncState, SyncPlan]:
    """One sync run: plan, execute, apply."""
    plan = make_plan(records, flows, state)
    new, res = execute(records, plan, **kw)
    return new, apply(state, plan, res), plan


def recover(state: SyncState, plan: SyncPlan, write_id: str, new_key: str) -> SyncState:
    """What `defs/recovery.py` does for an insert that landed but was never recorded: link the
    new record to every (flow, source) the insert served."""
    served = plan.insert_sources.filter(pl.col("write_id") == write_id)
    links = served.select("source", target=pl.lit(new_key), origin=pl.lit("insert"), flow="flow")
    inserted = served.select("flow", "source", target=pl.lit(new_key))
    return state.replace(
        links=pl.concat([state.links, links]).unique(maintain_order=True),
        inserted=pl.concat([state.inserted, inserted]).unique(maintain_order=True),
    )


def run_cut(
    records: Mapping[str, pl.DataFrame],
    flows,
    state: SyncState,
    *,
    sink_order: list[str],
    cut_after: int,
    recorded: bool,
    now: str = "2024-06-01T00:00:00+00:00",
    confirmed: list[str] | None = None,
) -> tuple[dict[str, pl.DataFrame], SyncState, int]:
    """One run the way the sinks execute it, one write per committed batch, sinks in
    `sink_order` (datatypes first, the rest after), killed after write number `cut_after`.

    recorded: the last write's batch was committed before the kill; if not, the write landed
    in the system but the state never heard of it (an insert is then recovered by reference
    the way the next run's source asset does). Returns (records, state, writes planned);
    `confirmed`, if given, receives the write ids the state recorded as confirmed."""
    plan = make_plan(records, flows, state)
    rank = {d: i for i, d in enumerate(sink_order)}
    writes = plan.writes.with_columns(
        sink=pl.col("datatype").replace_strict(rank, default=len(rank), return_dtype=pl.Int64)
    ).sort("sink", "write_id")
    records = dict(records)
    confirmed = [] if confirmed is None else confirmed
    for number, write in enumerate(writes.iter_rows(named=True), start=1):
        if number > cut_after:
            break
        one = plan.writes.filter(pl.col("write_id") == write["write_id"])
        records, result = execute(records, replace(plan, writes=one), now=now)
        if number == cut_after and not recorded:
            if write["op"] == "insert":
                new_key = f"{write['datatype']}:{result['new_id'][0]}"
                state = recover(state, plan, write["write_id"], new_key)
            break
        # as the sinks commit: the batch's part of the plan, merges and agreements first
        batch = batch_plan(plan, [write["write_id"]], standing=number == 1)
        state = apply(state, batch, result, confirmed_earlier=confirmed)
        confirmed.extend(result.filter(pl.col("ok"))["write_id"].to_list())
    return records, state, plan.writes.height
