"""The read cursor kept beside a snapshot (`store/cursors.py`): it answers what a scan of the
snapshot answers, moves in the snapshot's own transaction, and never goes back."""

from __future__ import annotations

import polars as pl
import pytest

from talk_assets.store.cursors import CURSORS
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore, tenant_path


@pytest.fixture
def store(tmp_path) -> TenantStore:
    return TenantStore(tenant_path("t", tmp_path), lock_timeout=2)


def records(*rows: tuple[int, str | None]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"id": pl.Int64, "changed": pl.String}, orient="row")


def scanned(store: TenantStore) -> str | None:
    """The newest value as a scan of the snapshot finds it (no kept cursor)."""
    with store.connect() as con:
        return con.execute(
            "select arg_max(changed, try_cast(changed as timestamptz)) from sys.c"
        ).fetchone()[0]


def kept(store: TenantStore) -> list[tuple]:
    return store.query(f"select * from {STATE_SCHEMA}.{CURSORS}").rows()


def test_cursor_kept_by_a_whole_store_and_upserts_equals_a_scan(store: TenantStore):
    whole = records((1, "2024-01-02T10:21:13+02:00"), (2, "2024-01-02T08:30:00Z"), (3, "x"))
    store.store_snapshot("sys", "c", whole, key=None, cursor="changed")
    assert kept(store) == [("sys", "c", "changed", "2024-01-02T08:30:00Z")]
    assert store.newest("sys", "c", "changed") == scanned(store) == "2024-01-02T08:30:00Z"
    # an upsert of a newer record moves it (an offset compared as an instant)
    store.store_snapshot(
        "sys", "c", records((1, "2024-01-02T11:00:00+02:00")), key="id", cursor="changed"
    )
    assert store.newest("sys", "c", "changed") == scanned(store) == "2024-01-02T11:00:00+02:00"
    # an upsert of nothing newer leaves it; a new record with a newer time moves it
    store.store_snapshot(
        "sys", "c", records((4, "2023-12-31T00:00:00Z")), key="id", cursor="changed"
    )
    assert store.newest("sys", "c", "changed") == "2024-01-02T11:00:00+02:00"
    store.store_snapshot(
        "sys", "c", records((5, "2024-01-03T00:00:00Z")), key="id", cursor="changed"
    )
    assert store.newest("sys", "c", "changed") == scanned(store) == "2024-01-03T00:00:00Z"
    # a whole store (a full read) sets it from what it stored
    store.store_snapshot(
        "sys", "c", records((1, "2024-01-01T00:00:00Z")), key=None, cursor="changed"
    )
    assert store.newest("sys", "c", "changed") == scanned(store) == "2024-01-01T00:00:00Z"
    assert len(kept(store)) == 1


def test_cursor_never_goes_back_when_the_newest_record_does(store: TenantStore):
    store.store_snapshot(
        "sys",
        "c",
        records((1, "2024-05-01T00:00:00Z"), (2, "2024-01-01T00:00:00Z")),
        key=None,
        cursor="changed",
    )
    store.store_snapshot(
        "sys", "c", records((1, "2024-02-01T00:00:00Z")), key="id", cursor="changed"
    )
    assert scanned(store) == "2024-02-01T00:00:00Z"  # a scan would read record 1 again
    assert store.newest("sys", "c", "changed") == "2024-05-01T00:00:00Z"


def test_snapshot_of_an_older_file_is_scanned_once_then_kept(store: TenantStore):
    # stored without a cursor (a tenant file of an earlier version)
    store.store_snapshot("sys", "c", records((1, "2024-03-01T00:00:00Z")), key=None)
    assert CURSORS not in store.table_names(STATE_SCHEMA)
    assert store.newest("sys", "c", "changed") == "2024-03-01T00:00:00Z"  # the scan
    store.store_snapshot(
        "sys", "c", records((2, "2024-02-01T00:00:00Z")), key="id", cursor="changed"
    )
    # the first upsert with a cursor scans the table (the older record holds the newest)
    assert kept(store) == [("sys", "c", "changed", "2024-03-01T00:00:00Z")]


def test_cursor_moves_with_its_snapshot_or_not_at_all(store: TenantStore):
    log = {"log": pl.DataFrame({"b": ["x"]})}
    store.store_snapshot(
        "sys", "c", records((1, "2024-01-01T00:00:00Z")), key=None, append=log, cursor="changed"
    )
    with pytest.raises(Exception, match="column"):  # the append fails: all of it rolls back
        store.store_snapshot(
            "sys",
            "c",
            records((2, "2024-06-01T00:00:00Z")),
            key="id",
            append={"log": pl.DataFrame({"wrong": [1]})},
            cursor="changed",
        )
    assert store.newest("sys", "c", "changed") == "2024-01-01T00:00:00Z"
    assert store.read_table("sys", "c")["id"].to_list() == [1]


def test_cursor_of_a_table_whose_schema_grew_is_its_whole_newest(store: TenantStore):
    store.store_snapshot(
        "sys", "c", records((1, "2024-04-01T00:00:00Z")), key=None, cursor="changed"
    )
    grown = records((2, "2024-02-01T00:00:00Z")).with_columns(extra=pl.lit("x"))
    store.store_snapshot("sys", "c", grown, key="id", cursor="changed")
    assert store.read_table("sys", "c").columns == ["id", "changed", "extra"]
    assert store.newest("sys", "c", "changed") == scanned(store) == "2024-04-01T00:00:00Z"
