"""The read cursor of each snapshot table: its newest last-changed value, kept in
`state.cursors` and written in the transaction that stores the snapshot.

A datatype's cursor is the newest instant in its stored records (`newest_sql`: the value as
written whose instant is latest), so snapshot and cursor never disagree after a crash. Asking a
snapshot for it scans one column and casts every value: at 100k records per datatype about
0.3 s a run for the nine datatypes, in a run that otherwise costs what changed. So the value
is kept beside the snapshot and advanced by what each store writes.

One difference from a scan: the kept cursor never goes back. When a record's last-changed value
moves back in time, a scan would answer an older newest value and read more again; the kept
cursor stays (the periodic full read, S8/S9, covers changes dated before a cursor either way).
"""

from __future__ import annotations

import duckdb
import polars as pl

from talk_assets.store.names import STATE_SCHEMA, q

CURSORS = "cursors"
"""The state table: one row per (snapshot schema, table, last-changed column)."""
CURSOR_COLUMNS = "snapshot_schema varchar, snapshot_table varchar, field varchar, newest varchar"
WRITTEN = "cursor_written"
"""The name the rows just stored are registered under while their newest value is found."""


def newest_sql(column: str, source: str) -> str:
    """The value of the text `column` in `source` whose instant is latest (NULL-instant values,
    not timestamps, are skipped); one cast per row and no sort."""
    col = q(column)
    return f"select arg_max({col}, try_cast({col} as timestamptz)) from {source}"


def kept_cursor(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, column: str, *, has_table: bool
) -> tuple[bool, str | None]:
    """(found, value) of the kept cursor; `has_table`: whether `state.cursors` exists."""
    if not has_table:
        return False, None
    rows = con.execute(
        f"select newest from {STATE_SCHEMA}.{CURSORS} "
        "where snapshot_schema = ? and snapshot_table = ? and field = ?",
        [schema, table, column],
    ).fetchall()
    return (True, rows[0][0]) if rows else (False, None)


def advance(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    column: str,
    *,
    written: pl.DataFrame,
    whole: bool,
) -> None:
    """Keep the cursor of `schema.table` after a store in this transaction: `written`, the
    rows just stored; `whole`: they are the whole table now. A table without a kept cursor
    (older tenant files) is scanned once."""
    con.execute(f"create table if not exists {STATE_SCHEMA}.{CURSORS} ({CURSOR_COLUMNS})")
    found, before = kept_cursor(con, schema, table, column, has_table=True)
    key = [schema, table, column]
    if whole or found:
        con.register(WRITTEN, written.select(column).to_arrow())
        try:
            union, args = ("", []) if whole else (" union all select ?", [before])
            newest = con.execute(
                "select arg_max(v, try_cast(v as timestamptz)) "
                f"from ({newest_sql(column, WRITTEN)}{union}) as c(v)",
                args,
            ).fetchall()[0][0]
        finally:
            con.unregister(WRITTEN)
    else:
        newest = con.execute(newest_sql(column, f"{q(schema)}.{q(table)}")).fetchall()[0][0]
    con.execute(
        f"delete from {STATE_SCHEMA}.{CURSORS} "
        "where snapshot_schema = ? and snapshot_table = ? and field = ?",
        key,
    )
    con.execute(f"insert into {STATE_SCHEMA}.{CURSORS} values (?, ?, ?, ?)", [*key, newest])
