"""Recovering inserts a crashed run sent but never recorded (S10: nothing doubled).

Sinks record each insert as intended (table `state.pending_inserts`) before sending it, and
drop the intent in the transaction that records the confirmed write. An intent left behind
means the run died in between: the system may hold a record the state does not know. Before
anything is planned, the source asset of that datatype asks the system for the record by the
insert's reference; if it is there, it is linked to the records the insert served, exactly as
a confirmed insert would have been, so no flow inserts it (or its reverse partner) again.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from talk_assets.defs.state_rows import remove_keys, state_of
from talk_assets.engine import STATE_SCHEMAS
from talk_assets.engine.schemas import conform
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore
from talk_assets.systems import Datatype

INTENTS_TABLE = "pending_inserts"


def recover_inserts(store: TenantStore, client: Any, dt: Datatype) -> int:
    """Settle the intents of `dt`: link the records that landed, forget the ones that did not.
    Returns how many landed inserts were recovered. Reads only this datatype's intents and the
    state rows naming their sources: a run with no intent pending costs one small query."""
    if INTENTS_TABLE not in store.table_names(STATE_SCHEMA):
        return 0
    mine = store.query(
        f"select * from {STATE_SCHEMA}.{INTENTS_TABLE} "
        "where datatype in (select datatype from this)",
        this=pl.DataFrame({"datatype": [dt.key]}),
    )
    if mine.is_empty():
        return 0
    links, inserted = [], []
    for row in mine.iter_rows(named=True):
        record = client.find_inserted(dt, row["reference"], json.loads(row["values"]), row["time"])
        if record is None:
            continue
        target = f"{dt.key}:{record[dt.id_field]}"
        for flow, source in json.loads(row["sources"]):
            links.append({"source": source, "target": target, "origin": "insert", "flow": flow})
            inserted.append({"flow": flow, "source": source, "target": target})
    append = {}
    if links:
        sources = pl.Series("record", [r["source"] for r in links], pl.String)
        known = state_of(store, sources)
        for name, rows in (("links", links), ("inserted", inserted)):
            new = conform(pl.DataFrame(rows), STATE_SCHEMAS[name]).unique(maintain_order=True)
            old = getattr(known, name)
            append[name] = new.join(old, on=list(new.columns), how="anti", nulls_equal=True)
    store.write_tables(append=append, remove={INTENTS_TABLE: remove_keys("datatype", [dt.key])})
    return len({r["target"] for r in inserted})
