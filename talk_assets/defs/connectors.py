"""The Dagster layer's only contact with the connectors: read a datatype, execute writes.

Kept in one place so the assets stay free of HTTP details: records come back as polars frames,
write results as frames in the engine's RESULTS shape.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from talk_assets.engine import RESULTS
from talk_assets.systems import Datatype
from talk_assets.systems.connector import (
    AuthError,
    ConnectorClient,
    SystemUnavailable,
    WriteOp,
    WriteResult,
)

PROBLEMS = {"record_id": pl.String, "field": pl.String, "value": pl.String, "reason": pl.String}
OUTCOMES = {
    "write_id": pl.String,
    "outcome": pl.String,
    "new_id": pl.String,
    "status": pl.Int64,
    "error": pl.String,
    "recovered": pl.Boolean,
}


@dataclass(frozen=True)
class Read:
    frame: pl.DataFrame
    problems: pl.DataFrame
    cursor: str | None


def client_of(resource: Any) -> ConnectorClient:
    """The connector client behind a Dagster resource (or a client passed as is)."""
    return resource if isinstance(resource, ConnectorClient) else resource.get_client()


def read_records(resource: Any, dt: Datatype, since: str | None) -> Read:
    result = client_of(resource).read(dt, since)
    problems = pl.DataFrame(
        [
            {
                "record_id": None if p.record_id is None else str(p.record_id),
                "field": p.field,
                "value": None if p.value is None else str(p.value),
                "reason": p.reason,
            }
            for p in result.problems
        ],
        schema=PROBLEMS,
    )
    return Read(frame=result.frame, problems=problems, cursor=result.cursor)


def insert_reference(tenant: str, datatype: str, source_record: str) -> str:
    """A stable reference for the insert of `source_record` into `datatype`.

    Written with the insert (ExternalImportReference, ExternalCode, Idempotency-Key) so that an
    insert whose answer was lost, or that a crash kept out of the state, is found again instead
    of being inserted twice: the same source record always gets the same reference.
    """
    digest = hashlib.sha256(f"{tenant}|{datatype}|{source_record}".encode()).hexdigest()
    return f"talk-{digest[:24]}"


def build_ops(
    writes: pl.DataFrame,
    dt: Datatype,
    tenant: str,
    sources: pl.DataFrame,
) -> list[WriteOp]:
    """WriteOps for plan writes of one datatype. sources: write_id -> first source record."""
    first = dict(
        sources.group_by("write_id", maintain_order=True).agg(pl.col("source").first()).iter_rows()
    )
    ops = []
    for row in writes.iter_rows(named=True):
        values = json.loads(row["values"] or "{}")
        if row["op"] == "insert":
            reference = insert_reference(
                tenant, dt.key, first.get(row["write_id"], row["write_id"])
            )
            ops.append(
                WriteOp.insert(
                    dt,
                    values,
                    reference=reference,
                    parent_id=row["parent_id"],
                    key=row["write_id"],
                )
            )
        else:
            ops.append(
                WriteOp.update(
                    dt, row["record_id"], values, parent_id=row["parent_id"], key=row["write_id"]
                )
            )
    return ops


INTENTS = {
    "reference": pl.String,
    "datatype": pl.String,
    "write_id": pl.String,
    "run_id": pl.String,
    "time": pl.Datetime("us", "UTC"),
    "values": pl.String,
    "sources": pl.String,
}
"""Write-ahead rows of inserts about to be sent. sources: JSON list of [flow, source record]
the insert serves, so a recovered insert is linked like a confirmed one (`recovery.py`)."""


def intents(
    ops: list[WriteOp], datatype: str, run_id: str, insert_sources: pl.DataFrame
) -> pl.DataFrame:
    """Write-ahead rows for the inserts about to be sent (see `sinks.run_sink`)."""
    inserts = [op.key for op in ops if op.kind == "insert"]
    if not inserts:
        return pl.DataFrame(schema=INTENTS)
    served: dict[str, list[list[str]]] = {}
    mine = insert_sources.filter(pl.col("write_id").is_in(inserts))  # this batch's, not the plan's
    for write_id, flow, source in mine.select("write_id", "flow", "source").iter_rows():
        served.setdefault(write_id, []).append([flow, source])
    time = datetime.now(UTC)
    rows = [
        {
            "reference": op.reference,
            "datatype": datatype,
            "write_id": op.key,
            "run_id": run_id,
            "time": time,
            "values": json.dumps(dict(op.values), ensure_ascii=False, default=str),
            "sources": json.dumps(served.get(op.key, [])),
        }
        for op in ops
        if op.kind == "insert"
    ]
    return pl.DataFrame(rows, schema=INTENTS)


def settled_references(results: list[WriteResult]) -> list[str]:
    """Inserts whose fate is known: landed and answered, or refused. A failed or unknown one
    keeps its intent, so the next run looks it up before inserting again."""
    return [
        r.op.reference
        for r in results
        if r.op.kind == "insert" and r.outcome in ("inserted", "rejected")
    ]


def unsent(ops: list[WriteOp] | None, results: list[WriteResult]) -> list[str]:
    """References of prepared inserts that a fatal answer kept from being sent (`ops`; their
    intents can go), but none that an unsettled insert of the answered batch shares."""
    if not ops:
        return []
    settled = set(settled_references(results))
    pending = {r.op.reference for r in results if r.op.kind == "insert"} - settled
    return [op.reference for op in ops if op.kind == "insert" and op.reference not in pending]


def execute(resource: Any, ops: list[WriteOp]) -> list[WriteResult]:
    return client_of(resource).write_many_blocking(ops)


def results_frames(results: list[WriteResult]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(RESULTS for the engine's apply, OUTCOMES for the sync log)."""
    columns: dict[str, list[Any]] = {
        "write_id": [r.op.key for r in results],
        "ok": [r.ok for r in results],
        "new_id": [
            str(r.record_id) if r.op.kind == "insert" and r.ok and r.record_id is not None else None
            for r in results
        ],
        "record": [
            json.dumps(r.record, ensure_ascii=False, default=str) if r.record else None
            for r in results
        ],
        "status": [r.status for r in results],
        "error": [None if r.ok else _error_text(r) for r in results],
        "outcome": [r.outcome for r in results],
        "recovered": [r.recovered for r in results],
    }
    schema = {**RESULTS, "outcome": pl.String, "recovered": pl.Boolean}
    frame = pl.DataFrame({name: columns[name] for name in schema}, schema=schema)
    return frame.select(list(RESULTS)), frame.select(list(OUTCOMES))


def _error_text(r: WriteResult) -> str:
    parts = [r.message or (str(r.error) if r.error else r.outcome)]
    if r.field:
        parts.append(f"field {r.field}")
    return "; ".join(parts)


def fatal_error(results: list[WriteResult]) -> str | None:
    """The error that means the system cannot be used (unreachable, credentials refused).

    Other failures (a record refused, retries of one record exhausted) are logged and the run
    goes on (S10)."""
    for r in results:
        if isinstance(r.error, AuthError | SystemUnavailable):
            return _error_text(r)
    return None
