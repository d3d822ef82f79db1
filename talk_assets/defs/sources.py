"""Source assets: one per (system, datatype), read incrementally (S9), stored in DuckDB.

The cursor of a datatype is derived from its stored snapshot (the newest last-changed value in
it, `TenantStore.newest`, the same answer the change sensor gets; kept beside the snapshot and
written in the same transaction, `store/cursors.py`), so snapshot and cursor can never
disagree after a crash. A source stores its snapshot itself, by key, in one transaction
with the `snapshot_changes` row that tells planning something changed (`progress.py`); it has
no IO-manager value, so an unchanged datatype costs one cursor query and one read request.
"""

from collections.abc import Iterable

import polars as pl
from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, asset

from talk_assets.defs import connectors
from talk_assets.defs.metadata import datatype_schema, markdown_table
from talk_assets.defs.progress import (
    CHANGED_RECORDS,
    CHANGES,
    change_row,
    changed_ids,
    changed_rows,
    changed_this_run,
)
from talk_assets.defs.recovery import recover_inserts
from talk_assets.defs.settings import SyncSettings
from talk_assets.engine import mark_gone
from talk_assets.engine.identity import record_key
from talk_assets.engine.schemas import conform as conform_to
from talk_assets.engine.state import SyncState
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore, q
from talk_assets.systems import Datatype, datatype
from talk_assets.systems.derived import derive_records

OWNERS = ["team:integrations"]


def source_key(dt: Datatype) -> AssetKey:
    return AssetKey([dt.system, dt.name])


def input_name(dt: Datatype) -> str:
    return f"{dt.system}__{dt.name}"


def conform(dt: Datatype, frame: pl.DataFrame) -> pl.DataFrame:
    """Exactly the datatype's columns and types, whatever the reader returned."""
    return conform_to(frame, dt.polars_schema())


def _read_source(context: AssetExecutionContext, dt: Datatype, settings: SyncSettings) -> dict:
    """Read `dt` since its cursor and store what changed (upsert by id); returns metadata.

    Nothing whole is loaded or rewritten unless this is a full read: the cursor is one query,
    the changed records replace their stored rows, and an unchanged datatype writes nothing.
    """
    store = settings.store()
    run_id = context.run.run_id
    exists = dt.name in store.table_names(dt.system)
    full = settings.full_read or not exists
    since = None if full else store.newest(dt.system, dt.name, dt.last_changed_field)
    client = getattr(context.resources, dt.system)
    recovered = recover_inserts(store, connectors.client_of(client), dt)
    if recovered:
        context.log.warning(
            f"{dt.key}: {recovered} insert(s) of a run that stopped before recording them were "
            "found in the system and linked (S10)"
        )
    read = connectors.read_records(client, dt, since)
    changed = conform(dt, read.frame).unique(subset=[dt.id_field], keep="last", maintain_order=True)
    gone = _newly_gone(store, dt, changed, run_id) if full and exists else None
    if full or changed.height or recovered or (gone is not None and gone.height):
        # What planning must cover: these records' clusters, or everything after a full read
        # or recovered inserts (their new links join clusters planning has not seen).
        keys = None if full or recovered else changed_keys(dt, changed)
        append = {
            CHANGES: change_row(run_id, dt.key, changed.height),
            CHANGED_RECORDS: changed_rows(run_id, keys),
        }
        if gone is not None and gone.height:
            append["gone"] = gone
            context.log.warning(
                f"{dt.key}: {gone.height} record(s) disappeared (S8); partners left alone"
            )
        store.store_snapshot(
            dt.system,
            dt.name,
            changed,
            key=None if full else dt.id_field,
            append=append,
            cursor=dt.last_changed_field,
        )
    problems = read.problems
    if problems.height:
        context.log.warning(
            f"{dt.key}: {problems.height} value(s) did not fit the schema and were read as empty"
        )
    return {
        "dagster/row_count": store.count(dt.system, dt.name),
        "read": changed.height,
        "read_mode": "full" if full else "incremental",
        "cursor_before": since or "",
        "cursor_after": read.cursor or since or "",
        "disappeared": 0 if gone is None else gone.height,
        "recovered_inserts": recovered,
        "value_problems": problems.height,
        "value_problems_preview": markdown_table(problems),
        "preview": markdown_table(changed),
    }


def changed_keys(dt: Datatype, frame: pl.DataFrame) -> list[str]:
    """The record keys (`datatype:id`) of stored rows, as the engine names records."""
    return (
        frame.select(record_key(dt.key, dt.id_field).alias("record"))["record"]
        .drop_nulls()
        .to_list()
    )


def _newly_gone(
    store: TenantStore, dt: Datatype, full_read: pl.DataFrame, run_id: str
) -> pl.DataFrame:
    """Records a full read no longer returns and that are not marked gone yet (S8)."""
    previous = store.query(f"select {q(dt.id_field)} from {q(dt.system)}.{q(dt.name)}")
    state = SyncState.from_frames(store.read_tables(STATE_SCHEMA, ["gone"]))
    marked = mark_gone(
        state,
        dt.key,
        conform_to(previous, {dt.id_field: dt.polars_schema()[dt.id_field]}),
        full_read,
        dt.id_field,
        run_id,
    )
    return marked.gone.join(state.gone.select("record"), on="record", how="anti")


def build_source_asset(dt: Datatype, pool: str) -> AssetsDefinition:
    @asset(
        pool=pool,
        key=source_key(dt),
        group_name=dt.system,
        kinds={dt.system, "polars", "duckdb"},
        owners=OWNERS,
        description=(
            f"{dt.system} {dt.name}: every record, read since the last run's cursor (S9); "
            "a full read detects disappearances (S8)."
        ),
        metadata={"dagster/column_schema": datatype_schema(dt), "endpoint": dt.endpoint or ""},
        required_resource_keys={dt.system, "settings"},
    )
    def _source(context: AssetExecutionContext) -> MaterializeResult:
        return MaterializeResult(metadata=_read_source(context, dt, context.resources.settings))

    return _source


def build_derived_asset(dt: Datatype, pool: str) -> AssetsDefinition:
    parent_dt = datatype(f"{dt.system}.{dt.derived_from[0]}")

    @asset(
        pool=pool,
        key=source_key(dt),
        group_name=dt.system,
        kinds={dt.system, "polars", "duckdb"},
        owners=OWNERS,
        deps=[source_key(parent_dt)],
        required_resource_keys={"settings"},
        description=f"{dt.system} {dt.name}: the `{dt.embedded_as}` objects embedded in {parent_dt.name}.",
        metadata={"dagster/column_schema": datatype_schema(dt)},
    )
    def _derived(context: AssetExecutionContext) -> MaterializeResult:
        store = context.resources.settings.store()
        run_id = context.run.run_id
        stale = dt.name not in store.table_names(dt.system)
        if not stale and not changed_this_run(store, run_id, parent_dt.key):
            return MaterializeResult(
                metadata={"dagster/row_count": store.count(dt.system, dt.name), "read": 0}
            )
        # Only the changed parents' objects, unless the table is new or the parent was read
        # whole: then all of them, replacing the table.
        parents = None if stale else changed_ids(store, run_id, parent_dt.key)
        if parents is None:
            parent = store.read_table(parent_dt.system, parent_dt.name)
        else:
            parent = store.query(
                f"select * from {q(parent_dt.system)}.{q(parent_dt.name)} "
                f"where cast({q(parent_dt.id_field)} as varchar) in (select id from changed)",
                changed=pl.DataFrame({"id": parents}, schema={"id": pl.String}),
            )
        parent = parent_dt.empty_frame() if parent is None else conform(parent_dt, parent)
        frame = derive_records(dt, parent_dt, parent)
        store.store_snapshot(
            dt.system,
            dt.name,
            frame,
            key=None if parents is None else dt.id_field,
            append={
                CHANGES: change_row(run_id, dt.key, frame.height),
                CHANGED_RECORDS: changed_rows(
                    run_id, None if parents is None else changed_keys(dt, frame)
                ),
            },
        )
        return MaterializeResult(
            metadata={
                "dagster/row_count": store.count(dt.system, dt.name),
                "read": frame.height,
                "preview": markdown_table(frame),
            }
        )

    return _derived


def build_sources(datatypes: Iterable[Datatype], pool: str) -> list[AssetsDefinition]:
    """Source assets for these datatypes, plus the parents of derived ones."""
    wanted: dict[str, Datatype] = {}
    for dt in datatypes:
        wanted[dt.key] = dt
        for parent in dt.derived_from:
            p = datatype(f"{dt.system}.{parent}")
            wanted.setdefault(p.key, p)
    return [
        build_derived_asset(dt, pool) if dt.derived_from else build_source_asset(dt, pool)
        for dt in wanted.values()
    ]
