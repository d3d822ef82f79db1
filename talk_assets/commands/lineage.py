"""`talk-assets lineage SYSTEM.DATATYPE.PROPERTY [--id RECORD]`.

Without --id: the mapping chain of the property across all flows (no Dagster, no state).
With --id: that record's value history from the sync log. The state is opened read-only, for
a moment, with a short lock wait: it never holds up a running sync (if a sync is writing, it
says so and exits 1).
"""

from __future__ import annotations

import argparse
import sys

import polars as pl

from talk_assets.commands.environment import load_environment
from talk_assets.commands.tenants import read_state, tenant_name
from talk_assets.errors import UserError
from talk_assets.flows.catalog import active_flows
from talk_assets.lineage import all_edges, connected, field_key, resolve_property
from talk_assets.store.tenant import STATE_SCHEMA, StateLocked, TenantStore, q
from talk_assets.systems import Datatype, SchemaError


def lineage_command(args: argparse.Namespace) -> int:
    load_environment()
    try:
        dt, f = resolve_property(args.property)
    except SchemaError as exc:
        print(f"talk-assets lineage: {exc}", file=sys.stderr)
        return 2
    start = field_key(dt, f)
    flags = [x for x, on in (("identity", f.identity), ("read-only", f.read_only)) if on]
    if f.not_in_api:
        flags.append(f"not in the API: {f.not_in_api}")
    print(f"{start} ({f.type}{', ' + ', '.join(flags) if flags else ''})")
    if f.aliases:
        print(f"  named in documents as: {', '.join(f.aliases)}")
    edges = connected(start, all_edges(active_flows()))
    if not edges:
        print("  no flow maps this property")
    else:
        print("\nmapping chain (each line: document source <-> target, how values move):")
        for e in edges:
            print(f"  {e.source}  <->  {e.target}   [{e.target_type}; {e.direction}; {e.rule}]")
            print(f"      flow: {e.flow_title}")
    if args.record_id is None:
        return 0
    store = read_state(tenant_name(args.tenant))
    _require_record(store, dt, str(args.record_id))
    partners = {e.target for e in edges if e.source == start} | {
        e.source for e in edges if e.target == start
    }
    return _history(store, args, dt.key, f.path, partners)


def _require_record(store: TenantStore, dt: Datatype, record_id: str) -> None:
    """An unknown record is an error (exit 1), not an empty history."""
    try:
        known = (
            dt.name in store.table_names(dt.system)
            and store.query(
                f"select 1 from {q(dt.system)}.{q(dt.name)} "
                f"where cast({q(dt.id_field)} as varchar) = (select id from p) limit 1",
                p=pl.DataFrame({"id": [record_id]}),
            ).height
        )
    except StateLocked:
        raise UserError(
            "a sync is writing the state right now", fix="try again in a moment"
        ) from None
    if not known:
        raise UserError(
            f"unknown record {dt.key}:{record_id}: the tenant's state has no such record",
            fix=f"ids of {dt.key} as read by the last sync; `talk-assets log` lists written ones",
        )


def _history(
    store: TenantStore, args: argparse.Namespace, datatype: str, path: str, partners: set[str]
) -> int:
    """Values written into this record's property, and values it sent to partner properties."""
    try:
        values = store.read_table(STATE_SCHEMA, "sync_values")
    except StateLocked:
        print("\na sync is writing the state right now; try again in a moment", file=sys.stderr)
        return 1
    record = f"{datatype}:{args.record_id}"
    print(f"\nvalue history of {record} {path}:")
    if values is None:
        print("  (no writes recorded yet)")
        return 0
    rid = str(args.record_id)
    into = values.filter(
        (pl.col("datatype") == datatype)
        & (pl.col("record_id") == rid)
        & (pl.col("property") == path)
    ).with_columns(what=pl.format("written here from {}", pl.col("source_record")))
    out_of = values.filter(
        (pl.col("source_record") == record)
        & pl.format("{}.{}", "datatype", "property").is_in(sorted(partners))
    ).with_columns(
        what=pl.format(
            "sent to {}:{} {}", pl.col("datatype"), pl.col("record_id"), pl.col("property")
        )
    )
    rows = pl.concat([into, out_of]).sort("time")
    if rows.is_empty():
        print("  (no value of this property was written to or from this record)")
        return 0
    for r in rows.iter_rows(named=True):
        print(
            f"  {r['time']:%Y-%m-%d %H:%M:%S}  run {r['run_id'][:8]}  {r['direction']:<9}  "
            f"{r['old_value']!r} -> {r['new_value']!r}  {r['what']}  ({r['reason']}; flow {r['flow']})"
        )
    return 0
