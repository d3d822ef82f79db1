"""Duplicate inserts (S10/S11): insert tracking rows that point two inserts of one source
record into one datatype. Every sink's `no_duplicate_inserts` check asks, every run.

Insert tracking (`state.inserted`) is only ever appended to, so while its row count stays the
same, so do its duplicates: the whole check's answer is kept with the row count it read
(`state.duplicate_inserts`), and a run that inserted nothing answers from it instead of
grouping every tracking row again (1.4M rows at 100k records per datatype). A full read checks
the whole table anyway.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

import polars as pl

from talk_assets.store.tenant import STATE_SCHEMA, TenantStore

CHECKED = "duplicate_inserts"
"""The last whole check: one row per duplicate, plus one row with no datatype that holds the
number of tracking rows the check read (`checked_rows`)."""

DUPLICATES = {"datatype": pl.String, "flow": pl.String, "source": pl.String, "n": pl.UInt32}
CHECKED_SCHEMA = {"checked_rows": pl.Int64, **DUPLICATES}

_GROUPED = (
    "select split_part(target, ':', 1) as datatype, flow, source, count(*) as n "
    f"from {STATE_SCHEMA}.inserted where starts_with(target, (select prefix from this)) "
    "group by all having count(*) > 1"
)


def duplicate_inserts(store: TenantStore, prefix: str) -> pl.DataFrame:
    """(datatype, flow, source, n) of the inserts whose target key starts with `prefix`: a
    query over the whole tracking table (it is never loaded whole)."""
    if "inserted" not in store.table_names(STATE_SCHEMA):
        return pl.DataFrame(schema=DUPLICATES)
    found = store.query(_GROUPED, this=pl.DataFrame({"prefix": [prefix]}))
    return found.cast(DUPLICATES)


def known_duplicates(
    store: TenantStore,
    *,
    whole: bool = False,
    write_lock: AbstractContextManager[object] | None = None,
    keep: bool = True,
) -> pl.DataFrame:
    """Duplicate inserts of every datatype: the last whole check's while the tracking table
    has the row count it read, else (or with `whole`) a whole check, which is then kept
    (written holding `write_lock`, the run's state commit lock: the check itself does not;
    not with `keep` False, e.g. in a dry run)."""
    if not store.exists():
        return pl.DataFrame(schema=DUPLICATES)
    with store.connect() as con:  # the count and the check it stands for: one snapshot
        con.execute("begin transaction")
        try:
            present = store.tables(con, STATE_SCHEMA)
            if "inserted" not in present:
                return pl.DataFrame(schema=DUPLICATES)
            rows = con.execute(f"select count(*) from {STATE_SCHEMA}.inserted").fetchall()
            tracked = int(rows[0][0])
            if not whole and CHECKED in present:
                kept = con.sql(f"select * from {STATE_SCHEMA}.{CHECKED}").pl()
                counted = kept.filter(pl.col("datatype").is_null())["checked_rows"].to_list()
                if counted == [tracked]:
                    found = kept.filter(pl.col("datatype").is_not_null())
                    return found.select(list(DUPLICATES)).cast(DUPLICATES)
            con.register("this", pl.DataFrame({"prefix": [""]}).to_arrow())
            found = con.sql(_GROUPED).pl().cast(DUPLICATES)
        finally:
            con.execute("commit")
    if not keep:
        return found
    count_row = pl.DataFrame({"checked_rows": [tracked]})
    checked = pl.concat([count_row, found], how="diagonal_relaxed").cast(CHECKED_SCHEMA)
    with write_lock or contextlib.nullcontext():
        store.write_tables(replace={CHECKED: checked.select(list(CHECKED_SCHEMA))})
    return found
