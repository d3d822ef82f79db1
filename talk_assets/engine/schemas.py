"""Fixed schemas of every frame the engine takes or returns.

Record keys are `"{datatype.key}:{id}"` (`powerofficego.customers:17`); values are canonical
strings (null = empty) in the flow's target data type, see `mapping.py`. Every frame below is
flat (no lists or structs) so it can be stored as a DuckDB table as is.
"""

from __future__ import annotations

import polars as pl

S = pl.String()
B = pl.Boolean()
I = pl.Int64()  # noqa: E741

Schema = dict[str, pl.DataType]

# --- state (persisted between runs) -------------------------------------------------------

LINKS: Schema = {"source": S, "target": S, "origin": S, "flow": S}
"""Edges between record keys. origin: `insert` (insert tracking), `merge` (a merge criterion
matched), `confirmed` (a pair that reached agreement through its cluster, pinned directly).
flow: the flow name that made the link."""

SYNCED: Schema = {"flow": S, "source": S, "target": S, "property": S, "value": S}
"""Last synced value (Sesam's `$based_on`) per flow, source record, target record and target
property path; canonical string in the mapping's target type, null = agreed empty."""

INSERTED: Schema = {"flow": S, "source": S, "target": S}
"""Insert tracking: (flow, source record) was inserted as target record. Never again (S8)."""

GONE: Schema = {"record": S, "datatype": S, "run": S}
"""Records that disappeared from their system, with the run that saw them gone."""

# --- inputs -------------------------------------------------------------------------------

RESULTS: Schema = {"write_id": S, "ok": B, "new_id": S, "record": S, "status": I, "error": S}
"""What the sinks answer, one row per executed write. new_id: the id an insert got. record: the
record as the system stored it, a JSON object string `{path: value}` (flat, dotted paths)."""

# --- plan (outputs) -----------------------------------------------------------------------

CLUSTERS: Schema = {"record": S, "datatype": S, "cluster": S, "gone": B}
"""Every known record (present, or only known from links/state) -> its cluster id (the
smallest record key of the cluster). gone: not present in its system any more (S8)."""

MAPPED: Schema = {
    "flow": S,
    "cluster": S,
    "source": S,
    "target": S,
    "property": S,
    "source_property": S,
    "type": S,
    "writable": B,
    "source_value": S,
    "target_value": S,
    "synced": S,
    "has_synced": B,
}
"""Per flow, linked pair and mapped property: both sides' values coerced to the mapping's
target type (null = empty or not convertible), and the last synced value."""

INSERTS: Schema = {
    "write_id": S,
    "flow": S,
    "source": S,
    "cluster": S,
    "datatype": S,
    "values": S,
    "parent_id": S,
}
"""One row per new target record. flow/source: the first contributing flow (document order)
and its source record; all contributors are in INSERT_SOURCES. values: JSON `{path: value}`
with writable non-empty values only. parent_id: id of the parent record for child datatypes."""

INSERT_SOURCES: Schema = {"write_id": S, "flow": S, "source": S}
"""Every (flow, source record) an insert serves (several flows into one target datatype)."""

UPDATES: Schema = {
    "write_id": S,
    "flow": S,
    "direction": S,
    "system": S,
    "datatype": S,
    "record": S,
    "record_id": S,
    "property": S,
    "old_value": S,
    "new_value": S,
    "reason": S,
}
"""One row per (record to write, property). direction: `to_target` or `to_source`. Values are
canonical strings in the written field's type."""

MERGES: Schema = {"flow": S, "source": S, "target": S, "criterion": S}
"""New links found by merge criteria this run (not yet in state)."""

CONFLICTS: Schema = {
    "flow": S,
    "source": S,
    "target": S,
    "property": S,
    "source_value": S,
    "target_value": S,
    "synced": S,
    "winner": S,
    "value": S,
    "reason": S,
}
"""Both sides changed to different non-empty values; winner `source` or `target`."""

REJECTS: Schema = {"flow": S, "record": S, "property": S, "value": S, "reason": S}
"""Values or records that cannot be written (not convertible, required field missing, no
parent). The rest of the record still syncs."""

SKIPPED: Schema = {"flow": S, "record": S, "reason": S}
"""Source records that would need an insert but have nothing to write (S3)."""

NOTES: Schema = {"flow": S, "note": S}
"""Per flow remarks: `nothing to write` (no writable mapping), unparsed conditions, ..."""

BASELINES: Schema = {
    "flow": S,
    "source": S,
    "target": S,
    "property": S,
    "value": S,
    "type": S,
    "write_id": S,
    "written_path": S,
    "written_type": S,
    "source_write": S,
    "target_write": S,
}
"""Last synced values the plan establishes once its writes are confirmed (used by `apply`).
source/target null: a record this plan inserts, filled from the new id of the insert
`source_write`/`target_write` (a target null with neither: the insert `write_id`, as before).
write_id null: no write needed (the sides already agree). written_path/type: the field written,
whose stored value becomes the synced value. A row is recorded once all of its writes are
confirmed (`write_id`, `source_write`, `target_write`)."""

WRITES: Schema = {
    "write_id": S,
    "op": S,
    "system": S,
    "datatype": S,
    "record": S,
    "record_id": S,
    "parent_id": S,
    "cluster": S,
    "flow": S,
    "values": S,
}
"""What the sinks execute: ONE ROW PER TARGET RECORD. op `insert` (record/record_id null) or
`update`; values JSON `{path: value}` with JSON-typed values (numbers, booleans, strings)."""

COUNTS: Schema = {"datatype": S, "inserts": I, "updates": I, "writes": I}


def empty(schema: Schema) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def conform(df: pl.DataFrame, schema: Schema) -> pl.DataFrame:
    """The frame with exactly the schema's columns, in order and type (missing ones null)."""
    return df.select(
        [
            (pl.col(c) if c in df.columns else pl.lit(None)).cast(t).alias(c)
            for c, t in schema.items()
        ]
    )
