"""The load path of our DuckDB polars IO manager on duckdb 2 (STACK_NOTES: the stock one breaks)."""

import duckdb
import polars as pl
from dagster import asset, materialize

from talk_assets.defs.io_manager import PolarsDuckDBIOManager


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
