"""Asset metadata shared by the factories: column schemas, previews, per-property lineage."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from dagster import (
    AssetKey,
    MetadataValue,
    TableColumn,
    TableColumnDep,
    TableColumnLineage,
    TableSchema,
)

from talk_assets.lineage import PropertyEdge
from talk_assets.systems import Datatype

PREVIEW_ROWS = 5


def column_schema(frame: pl.DataFrame) -> TableSchema:
    return TableSchema(columns=[TableColumn(name=n, type=str(t)) for n, t in frame.schema.items()])


def datatype_schema(dt: Datatype) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(
                name=f.path,
                type=f.type,
                description=", ".join(
                    x
                    for x in (
                        "identity" if f.identity else "",
                        "read-only" if f.read_only and not f.identity else "",
                        ("aliases: " + ", ".join(f.aliases)) if f.aliases else "",
                    )
                    if x
                )
                or None,
            )
            for f in dt.fields
        ]
    )


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


def asset_key_of(field_key: str) -> tuple[AssetKey, str]:
    """`system.datatype.Address.City` -> (asset key, column)."""
    system, datatype, column = field_key.split(".", 2)
    return AssetKey([system, datatype]), column


def column_lineage(
    edges: Sequence[PropertyEdge], *, target_side: bool = True
) -> TableColumnLineage:
    """`dagster/column_lineage`: each property <- the other side's asset and property.

    Flows sync both ways, so a property depends on its partner property in either direction;
    `target_side` picks which end of each edge is the column of the asset being described.
    """
    deps: dict[str, list[TableColumnDep]] = {}
    for edge in edges:
        mine, other = (edge.target, edge.source) if target_side else (edge.source, edge.target)
        _, column = asset_key_of(mine)
        key, other_column = asset_key_of(other)
        dep = TableColumnDep(asset_key=key, column_name=other_column)
        if dep not in deps.setdefault(column, []):
            deps[column].append(dep)
    return TableColumnLineage(deps_by_column=deps)


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
