"""The duplicate-inserts check reads all of insert tracking only when it grew: insert tracking
is only appended to, so the same row count means the same duplicates (S10, S11)."""

from __future__ import annotations

import polars as pl

from talk_assets.defs.duplicate_inserts import CHECKED, CHECKED_SCHEMA, known_duplicates
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore


def tracking(*rows: tuple[str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["flow", "source", "target"], orient="row")


def kept(store: TenantStore) -> pl.DataFrame:
    frame = store.read_table(STATE_SCHEMA, CHECKED)
    assert frame is not None
    return frame


def test_no_tracking_no_duplicates_and_nothing_kept(tmp_path):
    store = TenantStore(tmp_path / "t.duckdb")
    store.write_tables(append={"links": pl.DataFrame({"source": ["a"], "target": ["b"]})})
    assert known_duplicates(store).is_empty()
    assert CHECKED not in store.table_names(STATE_SCHEMA)


def test_the_kept_answer_stands_while_tracking_keeps_its_row_count(tmp_path):
    store = TenantStore(tmp_path / "t.duckdb")
    store.write_tables(append={"inserted": tracking(("f", "po.customers:1", "crm.contacts:7"))})
    assert known_duplicates(store).is_empty()  # a whole check, kept with its row count
    assert kept(store)["checked_rows"].to_list() == [1]

    # A kept answer for the same row count is trusted without reading the tracking table:
    # planted here, it comes back as is.
    planted = pl.DataFrame(
        {
            "checked_rows": [1, None],
            "datatype": [None, "crm.contacts"],
            "flow": [None, "f"],
            "source": [None, "po.customers:1"],
            "n": [None, 2],
        },
        schema=CHECKED_SCHEMA,
    )
    store.write_tables(replace={CHECKED: planted})
    assert known_duplicates(store)["source"].to_list() == ["po.customers:1"]
    # ... and a full read checks the whole table regardless, and keeps what it found.
    assert known_duplicates(store, whole=True).is_empty()
    assert kept(store)["datatype"].drop_nulls().is_empty()


def test_tracking_that_grew_is_checked_again(tmp_path):
    store = TenantStore(tmp_path / "t.duckdb")
    store.write_tables(append={"inserted": tracking(("f", "po.customers:1", "crm.contacts:7"))})
    assert known_duplicates(store).is_empty()
    store.write_tables(
        append={"inserted": tracking(("f", "po.customers:1", "crm.contacts:8"))}
    )  # the same source record inserted twice into contacts
    found = known_duplicates(store)
    assert found.select("datatype", "flow", "source", "n").rows() == [
        ("crm.contacts", "f", "po.customers:1", 2)
    ]
    assert sorted(kept(store)["checked_rows"].drop_nulls().to_list()) == [2]


def test_a_dry_run_checks_without_keeping_its_answer(tmp_path):
    store = TenantStore(tmp_path / "t.duckdb")
    store.write_tables(append={"inserted": tracking(("f", "po.customers:1", "crm.contacts:7"))})
    assert known_duplicates(store, keep=False).is_empty()
    assert CHECKED not in store.table_names(STATE_SCHEMA)
