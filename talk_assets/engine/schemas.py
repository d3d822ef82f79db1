"""Fixed schemas of every frame the engine takes or returns.

Record keys are `"{datatype.key}:{id}"` (`acme.customers:17`); values are canonical
strings (null = empty) in the flow's target data type, see `mapping.py`. Every frame below is
flat (no lists or structs) so it can be stored as a DuckDB table as is.
"""

from __future__ import annotations

import polars as pl

STRING = pl.String()
BOOLEAN = pl.Boolean()
INT64 = pl.Int64()

Schema = dict[str, pl.DataType]

# --- state (persisted between runs) -------------------------------------------------------

LINKS: Schema = {"source": STRING, "target": STRING, "origin": STRING, "flow": STRING}
"""Edges between record keys. origin: `insert` (insert tracking), `merge` (a merge criterion
matched), `confirmed` (a pair that reached agreement through its cluster, pinned directly).
flow: the flow name that made the link."""

SYNCED: Schema = {
    "flow": STRING,
    "source": STRING,
    "target": STRING,
    "property": STRING,
    "value": STRING,
}
"""Last synced value (Sesam's `$based_on`) per flow, source record, target record and target
property path; canonical string in the mapping's target type, null = agreed empty."""

INSERTED: Schema = {"flow": STRING, "source": STRING, "target": STRING}
"""Insert tracking: (flow, source record) was inserted as target record. Never again (S8)."""

GONE: Schema = {"record": STRING, "datatype": STRING, "run": STRING}
"""Records that disappeared from their system, with the run that saw them gone."""

# --- inputs -------------------------------------------------------------------------------

RESULTS: Schema = {
    "write_id": STRING,
    "ok": BOOLEAN,
    "new_id": STRING,
    "record": STRING,
    "status": INT64,
    "error": STRING,
}
"""What the sinks answer, one row per executed write. new_id: the id an insert got. record: the
record as the system stored it, a JSON object string `{path: value}` (flat, dotted paths)."""

# --- plan (outputs) -----------------------------------------------------------------------

CLUSTERS: Schema = {"record": STRING, "datatype": STRING, "cluster": STRING, "gone": BOOLEAN}
"""Every known record (present, or only known from links/state) -> its cluster id (the
smallest record key of the cluster). gone: not present in its system any more (S8)."""

MAPPED: Schema = {
    "flow": STRING,
    "cluster": STRING,
    "source": STRING,
    "target": STRING,
    "property": STRING,
    "source_property": STRING,
    "type": STRING,
    "writable": BOOLEAN,
    "source_value": STRING,
    "target_value": STRING,
    "synced": STRING,
    "has_synced": BOOLEAN,
}
"""Per flow, linked pair and mapped property: both sides' values coerced to the mapping's
target type (null = empty or not convertible), and the last synced value."""

INSERTS: Schema = {
    "write_id": STRING,
    "flow": STRING,
    "source": STRING,
    "cluster": STRING,
    "datatype": STRING,
    "values": STRING,
    "parent_id": STRING,
}
"""One row per new target record. flow/source: the first contributing flow (document order)
and its source record; all contributors are in INSERT_SOURCES. values: JSON `{path: value}`
with writable non-empty values only. parent_id: id of the parent record for child datatypes."""

INSERT_SOURCES: Schema = {"write_id": STRING, "flow": STRING, "source": STRING}
"""Every (flow, source record) an insert serves (several flows into one target datatype)."""

UPDATES: Schema = {
    "write_id": STRING,
    "flow": STRING,
    "direction": STRING,
    "system": STRING,
    "datatype": STRING,
    "record": STRING,
    "record_id": STRING,
    "property": STRING,
    "old_value": STRING,
    "new_value": STRING,
    "reason": STRING,
}
"""One row per (record to write, property). direction: `to_target` or `to_source`. Values are
canonical strings in the written field's type."""

MERGES: Schema = {"flow": STRING, "source": STRING, "target": STRING, "criterion": STRING}
"""New links found by merge criteria this run (not yet in state)."""

CONFLICTS: Schema = {
    "flow": STRING,
    "source": STRING,
    "target": STRING,
    "property": STRING,
    "source_value": STRING,
    "target_value": STRING,
    "synced": STRING,
    "winner": STRING,
    "value": STRING,
    "reason": STRING,
}
"""Both sides changed to different non-empty values; winner `source` or `target`."""

REJECTS: Schema = {
    "flow": STRING,
    "record": STRING,
    "property": STRING,
    "value": STRING,
    "reason": STRING,
}
"""Values or records that cannot be written (not convertible, required field missing, no
parent). The rest of the record still syncs."""

SKIPPED: Schema = {"flow": STRING, "record": STRING, "reason": STRING}
"""Source records that would need an insert but have nothing to write (S3)."""

NOTES: Schema = {"flow": STRING, "note": STRING}
"""Per flow remarks: `nothing to write` (no writable mapping), unparsed conditions, ..."""

BASELINES: Schema = {
    "flow": STRING,
    "source": STRING,
    "target": STRING,
    "property": STRING,
    "value": STRING,
    "type": STRING,
    "write_id": STRING,
    "written_path": STRING,
    "written_type": STRING,
    "source_write": STRING,
    "target_write": STRING,
}
"""Last synced values the plan establishes once its writes are confirmed (used by `apply`).
source/target null: a record this plan inserts, filled from the new id of the insert
`source_write`/`target_write` (a target null with neither: the insert `write_id`, as before).
write_id null: no write needed (the sides already agree). written_path/type: the field written,
whose stored value becomes the synced value. A row is recorded once all of its writes are
confirmed (`write_id`, `source_write`, `target_write`)."""

WRITES: Schema = {
    "write_id": STRING,
    "op": STRING,
    "system": STRING,
    "datatype": STRING,
    "record": STRING,
    "record_id": STRING,
    "parent_id": STRING,
    "cluster": STRING,
    "flow": STRING,
    "values": STRING,
}
"""What the sinks execute: ONE ROW PER TARGET RECORD. op `insert` (record/record_id null) or
`update`; values JSON `{path: value}` with JSON-typed values (numbers, booleans, strings)."""

COUNTS: Schema = {"datatype": STRING, "inserts": INT64, "updates": INT64, "writes": INT64}


# --- internal frames of one plan (never published or stored) -------------------------------

UINT32 = pl.UInt32()

SIDE_DETAILS: Schema = {
    "source_id": STRING,
    "target_id": STRING,
    "source_parent": STRING,
    "target_parent": STRING,
    "source_changed_at": STRING,
    "target_changed_at": STRING,
}
"""The sides' record ids, parent ids and last-changed timestamps (PAIR_DETAILS, CASCADE_ROW)."""

PAIR_DETAILS: Schema = {"flow_idx": pl.Int32(), "pair": UINT32, **SIDE_DETAILS}
"""Per linked pair (flow_idx, pair): its SIDE_DETAILS, which only the few rows to write need;
joined back to LONG by (flow_idx, pair)."""

LONG: Schema = {
    "flow": STRING,
    "cluster": STRING,
    "source": STRING,
    "target": STRING,
    "property": STRING,
    "source_property": STRING,
    "type": STRING,
    "source_field_type": STRING,
    "target_field_type": STRING,
    "source_datatype": STRING,
    "target_datatype": STRING,
    "source_rendered": STRING,
    "source_value": STRING,
    "target_rendered": STRING,
    "target_value": STRING,
    "synced": STRING,
    "flow_idx": pl.Int32(),
    "flow_rank": UINT32,
    "prop_rank": UINT32,
    "source_node": UINT32,
    "target_node": UINT32,
    "order": pl.UInt64(),
    "label": UINT32,
    "pair": UINT32,
    "writable": BOOLEAN,
    "source_unconvertible": BOOLEAN,
    "target_unconvertible": BOOLEAN,
    "has_synced": BOOLEAN,
}
"""The first pass's pair rows (`pairs.py`): one per flow, linked pair and mapped property.
`source_`/`target_` columns are that side's: field type, datatype key, node id, value as the
field renders it (`rendered`) and whether it failed to convert (`unconvertible`);
source_value/target_value the values in the comparison `type`, synced/has_synced the last
synced value; flow_rank/prop_rank/order the output order; label the pair's cluster label, pair
its row in PAIR_DETAILS."""

CASCADE_ROW: Schema = {
    "flow": STRING,
    "flow_idx": pl.Int32(),
    "label": UINT32,
    "cluster": STRING,
    "source_ref": STRING,
    "target_ref": STRING,
    "source_virtual": BOOLEAN,
    "target_virtual": BOOLEAN,
    "property": STRING,
    "source_property": STRING,
    "type": STRING,
    "source_field_type": STRING,
    "target_field_type": STRING,
    "source_datatype": STRING,
    "target_datatype": STRING,
    "source_rendered_before": STRING,
    "target_rendered_before": STRING,
    "synced_before": STRING,
    "has_synced_before": BOOLEAN,
    **SIDE_DETAILS,
}
"""A pair row of a touched cluster in the cascade (`cascade.py`). source_ref/target_ref: a
record key, or an insert's write_id for a virtual record (source_virtual/target_virtual);
`*_rendered_before` and synced_before/has_synced_before: the values and last synced value
before the rounds."""

OVERLAY: Schema = {
    "ref": STRING,
    "path": STRING,
    "value": STRING,
    "fixed": BOOLEAN,
    "given_by": STRING,
    "writer_flow": STRING,
    "writer_flow_idx": pl.Int32(),
    "write_direction": STRING,
    "write_reason": STRING,
    "written_type": STRING,
    "written_datatype": STRING,
    "written_record_id": STRING,
    "written_parent_id": STRING,
    "value_before_write": STRING,
    "written_cluster": STRING,
    "changed_at": STRING,
}
"""Planned values in the cascade: per record (`ref`, as in CASCADE_ROW) and field path, the
value it holds once the plan's writes are confirmed. fixed: a target filter value of an
insert. The other columns describe the write that gives it (null for an insert's own values):
the record it comes from (`given_by`), the writing flow, its direction and reason, and the
written record's datatype, id, parent id, cluster, field type and value before the write, and
`changed_at`: the last-changed timestamp of the edit the value comes from (the giver's, carried
along the writes), which decides conflicts and competing writes in later rounds (S4)."""

PLANNED_UPDATE: Schema = {
    "write_id": STRING,
    "flow": STRING,
    "flow_idx": pl.Int32(),
    "direction": STRING,
    "system": STRING,
    "datatype": STRING,
    "record": STRING,
    "record_id": STRING,
    "parent_id": STRING,
    "cluster": STRING,
    "path": STRING,
    "field_type": STRING,
    "old_value": STRING,
    "new_value": STRING,
    "reason": STRING,
}
"""Update rows before they are grouped into WRITES: one per (record, field path) with the
field's type (`field_type`); becomes UPDATES (`path` as property)."""


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
