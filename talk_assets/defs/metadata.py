"""Asset metadata shared by the factories: column schemas, previews, per-property lineage."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from dagster import (
    MetadataValue,
    TableColumn,
    TableSchema,
)

from talk_assets.lineage import PropertyEdge
from talk_assets.systems import Datatype, Field

PREVIEW_ROWS = 5


def field_description(dt: Datatype, f: Field) -> str:
    """What the schema says of one field: type, id/cursor/parent role, read-only, required."""
    notes = [f"{dt.system} {f.type}"]
    if f.path == dt.id_field:
        notes.append("record id")
    elif f.identity:
        notes.append("identity")
    if f.path == dt.last_changed_field:
        notes.append("last changed (the read cursor, S9)")
    if f.path == dt.parent:
        notes.append("parent record id")
    notes.append("read-only" if not f.writable else "writable")
    if f.path in dt.required:
        notes.append("required on insert")
    if f.aliases:
        notes.append("document names: " + ", ".join(f.aliases))
    return "; ".join(notes)


def datatype_schema(dt: Datatype) -> TableSchema:
    """`dagster/column_schema` of a source asset: its fields, described from the schema."""
    return TableSchema(
        columns=[
            TableColumn(name=f.path, type=f.type, description=field_description(dt, f))
            for f in dt.fields
        ]
    )


def described_schema(frame: pl.DataFrame, descriptions: dict[str, str]) -> TableSchema:
    """`dagster/column_schema` of a published frame, with a description per column."""
    return TableSchema(
        columns=[
            TableColumn(name=n, type=str(t), description=descriptions.get(n))
            for n, t in frame.schema.items()
        ]
    )


def key_columns_first(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """The frame with the columns a reader looks rows up by on the left."""
    first = [k for k in keys if k in frame.columns]
    return frame.select(*first, *(c for c in frame.columns if c not in first))


def markdown_table(frame: pl.DataFrame, rows: int = PREVIEW_ROWS) -> MetadataValue:
    """A small markdown table: the open-source UI renders it in the asset's metadata."""
    head = frame.head(rows)
    if head.is_empty():
        return MetadataValue.md("_(no rows)_")
    cols = head.columns

    def cell(v: object) -> str:
        text = "" if v is None else str(v)
        return text.replace("|", "\\|").replace("\n", " ")[:80]

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in head.iter_rows()]
    if frame.height > rows:
        lines.append(f"\n_{rows} of {frame.height} rows_")
    return MetadataValue.md("\n".join(lines))


def lineage_table(edges: Sequence[PropertyEdge]) -> MetadataValue:
    """The same lineage as a readable table (the open-source UI does not draw column lineage)."""
    frame = pl.DataFrame(
        {
            "target property": [e.target for e in edges],
            "source property": [e.source for e in edges],
            "target type": [e.target_type for e in edges],
            "rule": [e.rule for e in edges],
            "direction": [e.direction for e in edges],
            "flow": [e.flow for e in edges],
        },
        schema={
            c: pl.String
            for c in (
                "target property",
                "source property",
                "target type",
                "rule",
                "direction",
                "flow",
            )
        },
    )
    return markdown_table(frame, rows=max(frame.height, 1))
