"""The load path of our DuckDB polars IO manager on duckdb 2 (STACK_NOTES: the stock one breaks)."""

import duckdb
import polars as pl
from dagster import Output, asset, materialize

from talk_assets.defs.io_manager import UPSERT_KEY, PolarsDuckDBIOManager


@asset(key_prefix=["powerofficego"])
def people() -> pl.DataFrame:
    return pl.DataFrame({"Id": [1, 2], "MailAddress.City": ["Bodø", None]})


@asset(key_prefix=["powerofficego"])
def nobody() -> pl.DataFrame:
    return pl.DataFrame(schema={"Id": pl.Int64, "Name": pl.String})


@asset(key_prefix=["flows"])
def joined(people: pl.DataFrame, nobody: pl.DataFrame) -> pl.DataFrame:
    assert nobody.schema == {"Id": pl.Int64, "Name": pl.String}
    return people.with_columns(pl.lit(nobody.height).alias("n"))


def test_polars_frames_store_and_load_through_duckdb_2(tmp_path):
    db = tmp_path / "t.duckdb"
    io = PolarsDuckDBIOManager(database=str(db))
    for _ in range(2):  # the second run replaces tables instead of appending
        result = materialize([people, nobody, joined], resources={"io_manager": io})
        assert result.success
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = con.sql("select * from flows.joined order by Id").pl()
        empty = con.sql("select * from powerofficego.nobody").pl()
    finally:
        con.close()
    assert out.to_dicts() == [
        {"Id": 1, "MailAddress.City": "Bodø", "n": 0},
        {"Id": 2, "MailAddress.City": None, "n": 0},
    ]
    assert empty.height == 0 and empty.columns == ["Id", "Name"]


def test_an_output_naming_an_upsert_key_replaces_only_the_rows_with_its_keys(tmp_path):
    """An incremental plan's part of an asset (`UPSERT_KEY` in its output metadata) replaces
    the stored rows with the same key and keeps the others; the materialization's row count is
    the stored table's (the rows written beside it). An output without the key replaces the
    table."""
    parts = iter(
        [
            (pl.DataFrame({"record": ["a", "b"], "cluster": [1, 1]}), {}),
            (pl.DataFrame({"record": ["b", "c"], "cluster": [2, 2]}), {UPSERT_KEY: "record"}),
        ]
    )

    @asset(key_prefix=["talk"], name="clusters")
    def clusters():
        frame, metadata = next(parts)
        return Output(frame, metadata=metadata)

    db = tmp_path / "t.duckdb"
    io = PolarsDuckDBIOManager(database=str(db))
    for _ in range(2):
        result = materialize([clusters], resources={"io_manager": io})
        assert result.success
    (event,) = result.asset_materializations_for_node("talk__clusters")
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = con.sql("select * from talk.clusters order by record").pl()
    finally:
        con.close()
    assert stored.to_dicts() == [
        {"record": "a", "cluster": 1},
        {"record": "b", "cluster": 2},
        {"record": "c", "cluster": 2},
    ]
    assert event.metadata["dagster/row_count"].value == 3
    assert event.metadata["rows_written"].value == 2
