"""Source assets: one per (system, datatype), read incrementally (S9), stored in DuckDB.

The cursor of a datatype is derived from its stored snapshot (the newest last-changed value in
it, `TenantStore.newest`, the same query the change sensor asks), so snapshot and cursor can
never disagree after a crash: the IO manager stores both at once.
"""

from collections.abc import Iterable

import polars as pl
from dagster import AssetExecutionContext, AssetIn, AssetKey, AssetsDefinition, Output, asset

from talk_assets.defs import connectors
from talk_assets.defs.metadata import datatype_schema, markdown_table
from talk_assets.defs.recovery import recover_inserts
from talk_assets.defs.settings import SyncSettings
from talk_assets.engine import mark_gone, merge_incremental
from talk_assets.engine.schemas import conform as conform_to
from talk_assets.engine.state import SyncState
from talk_assets.store.tenant import STATE_SCHEMA
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


def _read_source(context: AssetExecutionContext, dt: Datatype, settings: SyncSettings):
    store = settings.store()
    previous = store.read_table(dt.system, dt.name)
    full = settings.full_read or previous is None
    since = None if full else store.newest(dt.system, dt.name, dt.last_changed_field)
    client = getattr(context.resources, dt.system)
    recovered = recover_inserts(store, connectors.client_of(client), dt)
    if recovered:
        context.log.warning(
            f"{dt.key}: {recovered} insert(s) of a run that stopped before recording them were "
            "found in the system and linked (S10)"
        )
    read = connectors.read_records(client, dt, since)
    changed = conform(dt, read.frame)
    snapshot = changed if full else merge_incremental(conform(dt, previous), changed, dt.id_field)
    gone = 0
    if full and previous is not None and previous.height:
        state = SyncState.from_frames(store.read_tables(STATE_SCHEMA, ["gone"]))
        marked = mark_gone(state, dt.key, previous, snapshot, dt.id_field, context.run.run_id)
        new_gone = marked.gone.join(state.gone.select("record"), on="record", how="anti")
        gone = new_gone.height
        if gone:
            store.write_tables(append={"gone": new_gone})
            context.log.warning(f"{dt.key}: {gone} record(s) disappeared (S8); partners left alone")
    problems = read.problems
    if problems.height:
        context.log.warning(
            f"{dt.key}: {problems.height} value(s) did not fit the schema and were read as empty"
        )
    return snapshot, {
        "dagster/row_count": snapshot.height,
        "read": changed.height,
        "read_mode": "full" if full else "incremental",
        "cursor_before": since or "",
        "cursor_after": read.cursor or since or "",
        "disappeared": gone,
        "recovered_inserts": recovered,
        "value_problems": problems.height,
        "value_problems_preview": markdown_table(problems),
        "preview": markdown_table(snapshot),
    }


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
    def _source(context: AssetExecutionContext) -> Output[pl.DataFrame]:
        snapshot, metadata = _read_source(context, dt, context.resources.settings)
        return Output(snapshot, metadata=metadata)

    return _source


def build_derived_asset(dt: Datatype, pool: str) -> AssetsDefinition:
    parent_dt = datatype(f"{dt.system}.{dt.derived_from[0]}")

    @asset(
        pool=pool,
        key=source_key(dt),
        group_name=dt.system,
        kinds={dt.system, "polars", "duckdb"},
        owners=OWNERS,
        ins={"parent": AssetIn(source_key(parent_dt))},
        description=f"{dt.system} {dt.name}: the `{dt.embedded_as}` objects embedded in {parent_dt.name}.",
        metadata={"dagster/column_schema": datatype_schema(dt)},
    )
    def _derived(parent: pl.DataFrame) -> Output[pl.DataFrame]:
        frame = derive_records(dt, parent_dt, conform(parent_dt, parent))
        return Output(
            frame, metadata={"dagster/row_count": frame.height, "preview": markdown_table(frame)}
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
