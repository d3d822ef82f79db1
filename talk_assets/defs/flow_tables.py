"""Flow assets as tables: a short key per flow and one column per mapped target property.

A flow asset's value is a wide table: one row per linked pair of the plan's (any subset of)
clusters, the key columns first (`source_record`, `target_record`, `cluster`), then one column
per mapped target property holding the value the target record has once this run's writes
land (the planned value where the plan writes it, else the target's current value), in the
mapping's data type. `dagster/column_schema` and `dagster/column_lineage` name exactly these
columns, so the lineage of `givenName` attaches to the `givenName` column.

Keys are `flows/<source system>_to_<target system>/<source>_to_<target>`: the last part, the
name the asset graph shows, is short; the middle part (the document's system pair) keeps keys
unique across documents, and a key depends only on its own flow, so adding or removing other
flows never renames an asset.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from dagster import (
    AssetKey,
    TableColumn,
    TableColumnDep,
    TableColumnLineage,
    TableSchema,
)

from talk_assets.defs.metadata import lineage_table, markdown_table
from talk_assets.defs.sources import source_key
from talk_assets.flows.catalog import FlowsError
from talk_assets.flows.model import slug
from talk_assets.lineage import edges_of
from talk_assets.systems import Datatype, ResolvedFlow
from talk_assets.systems.schema import FIELD_TYPES

KEY_COLUMNS: dict[str, str] = {
    "source_record": "The flow's source record (`system.datatype:id`).",
    "target_record": "The linked target record (`system.datatype:id`).",
    "cluster": "The cluster both records belong to (S1).",
}


def flow_key(flow: ResolvedFlow) -> AssetKey:
    """`flows/acme_to_crm/customers_person_to_contacts`: the last part, the name the asset graph
    shows, is short."""
    f = flow.flow
    systems = f"{slug(flow.source.system)}_to_{slug(flow.target.system)}"
    return AssetKey(["flows", systems, f"{slug(f.source.label)}_to_{slug(f.target.label)}"])


def check_unique_keys(flows: Sequence[ResolvedFlow]) -> None:
    """Refuse two flows with one asset key (names the documents spell differently, e.g. with
    and without the system part, can resolve to the same datatypes), naming both."""
    seen: dict[AssetKey, ResolvedFlow] = {}
    for f in flows:
        first = seen.setdefault(flow_key(f), f)
        if first is not f:
            raise FlowsError(
                f"flows {first.flow.title!r} and {f.flow.title!r} resolve to the same datatypes "
                f"and asset {flow_key(f).to_user_string()}: keep one of them"
            )


def property_columns(flow: ResolvedFlow) -> list[tuple[str, str, str]]:
    """(column = target property path, source property path, mapping type), in the flow's
    order; a target property mapped twice keeps its first mapping (the engine's first too)."""
    out: dict[str, tuple[str, str, str]] = {}
    for source, target, typ in flow.properties:
        if target.path in KEY_COLUMNS:
            raise ValueError(
                f"flow {flow.flow.title!r}: target property {target.path!r} has the name of a "
                "key column of the flow table"
            )
        out.setdefault(target.path, (target.path, source.path, typ))
    return list(out.values())


def _direction(source_writable: bool, target_writable: bool) -> str:
    if source_writable and target_writable:
        return "both ways"
    if target_writable:
        return "source -> target"
    return "target -> source" if source_writable else "compared only"


def flow_table_schema(flow: ResolvedFlow) -> TableSchema:
    """`dagster/column_schema` of the flow table, with a description per column."""
    fields: dict[str, tuple] = {}
    for source, target, _ in flow.properties:
        fields.setdefault(target.path, (source, target))
    columns = [TableColumn(name=n, type="string", description=d) for n, d in KEY_COLUMNS.items()]
    for column, source_path, typ in property_columns(flow):
        source, target = fields[column]
        columns.append(
            TableColumn(
                name=column,
                type=typ,
                description=(
                    f"{flow.target.key}.{column} <- {flow.source.key}.{source_path} "
                    f"({source.type} -> {typ}); rule {flow.flow.rule.value}, "
                    f"{_direction(source.writable, target.writable)}"
                ),
            )
        )
    return TableSchema(columns=columns)


def flow_column_lineage(flow: ResolvedFlow) -> TableColumnLineage:
    """`dagster/column_lineage`: each property column <- the source property it maps and the
    target's own property (both sides feed the synced value)."""
    return TableColumnLineage(
        deps_by_column={
            column: list(  # once each: a flow within one datatype maps a column onto itself
                dict.fromkeys(
                    [
                        TableColumnDep(asset_key=source_key(flow.source), column_name=source_path),
                        TableColumnDep(asset_key=source_key(flow.target), column_name=column),
                    ]
                )
            )
            for column, source_path, _ in property_columns(flow)
        }
    )


def written_properties_lineage(flows: Sequence[ResolvedFlow], dt: Datatype) -> TableColumnLineage:
    """`dagster/column_lineage` of the sink receipt of `dt`: its `properties` (the written
    values) <- the flow table columns whose values the sink writes into `dt`, either way."""
    deps = [
        TableColumnDep(asset_key=flow_key(f), column_name=target.path)
        for f in flows
        for source, target, _ in f.properties
        if (f.target.key == dt.key and target.writable)
        or (f.source.key == dt.key and source.writable)
    ]
    return TableColumnLineage(
        deps_by_column={"properties": list(dict.fromkeys(deps))} if deps else {}
    )


def _typed(value: pl.Expr, typ: str) -> pl.Expr:
    """A canonical string (engine/mapping.py) as the column type of its mapping type."""
    if typ == "boolean":
        return pl.when(value == "true").then(True).when(value == "false").then(False)
    return value.cast(FIELD_TYPES.get(typ, pl.String()), strict=False)


def flow_table(flow: ResolvedFlow, mapped: pl.DataFrame, updates: pl.DataFrame) -> pl.DataFrame:
    """The wide table of one flow from its long mapped rows (`SyncPlan.mapped_for`, any subset
    of clusters) and the plan's updates: one row per linked pair, key columns first."""
    planned = (
        updates.filter(pl.col("direction") == "to_target")
        .select(target="record", property="property", planned="new_value")
        .unique(subset=["target", "property"], keep="first")
    )
    rows = (
        mapped.select("source", "target", "cluster", "property", "target_value")
        .join(planned, on=["target", "property"], how="left")
        .with_columns(value=pl.coalesce("planned", "target_value"))
    )
    columns = property_columns(flow)
    wide = rows.group_by("source", "target", "cluster", maintain_order=True).agg(
        _typed(pl.col("value").filter(pl.col("property") == column).first(), typ).alias(column)
        for column, _, typ in columns
    )
    key_types = dict.fromkeys(KEY_COLUMNS, pl.String())
    schema = {**key_types, **{c: FIELD_TYPES.get(t, pl.String()) for c, _, t in columns}}
    return (
        wide.rename({"source": "source_record", "target": "target_record"})
        .select(list(schema))
        .cast(schema)
        .sort("source_record", "target_record")
    )


def flow_asset_metadata(flow: ResolvedFlow) -> dict[str, object]:
    """Definition metadata of a flow asset: what the UI shows before any run."""
    return {
        "flow": flow.flow.title,
        "rule": flow.flow.rule.value,
        "source_datatype": flow.source.key,
        "target_datatype": flow.target.key,
        "dagster/column_schema": flow_table_schema(flow),
        "dagster/column_lineage": flow_column_lineage(flow),
        "property_lineage": lineage_table(edges_of(flow)),
    }


def flow_output(
    flow: ResolvedFlow, mapped: pl.DataFrame, updates: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, object]]:
    """The flow table of this run's mapped rows and its output metadata. The column schema
    stays the definition's: the UI merges a materialization's schema with it and then shows
    every column name in lower case (`givenname`)."""
    table = flow_table(flow, mapped, updates)
    return table, {
        "dagster/row_count": table.height,
        "dagster/column_lineage": flow_column_lineage(flow),
        "preview": markdown_table(table),
    }
