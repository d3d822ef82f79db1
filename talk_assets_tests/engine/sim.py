"""A tiny in-memory stand-in for the systems: executes a plan's writes like the sinks would."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping

import polars as pl

from talk_assets.engine import RESULTS, SyncPlan, SyncState, apply, make_plan
from talk_assets.systems import datatype

_ids = itertools.count(1000)


def frame(key: str, rows: list[dict]) -> pl.DataFrame:
    """Records of a datatype with the schema's columns (missing ones null)."""
    dt = datatype(key)
    schema = dt.polars_schema()
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema, orient="row")


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
