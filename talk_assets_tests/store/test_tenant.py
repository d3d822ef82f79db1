"""The tenant's DuckDB file: atomic writes, held connections, locks held by other processes."""

from __future__ import annotations

import subprocess
import sys
import time

import duckdb
import polars as pl
import pytest

from talk_assets.store.tenant import StateLocked, TenantStore, tenant_path, write_back


@pytest.fixture
def store(tmp_path) -> TenantStore:
    return TenantStore(tenant_path("t", tmp_path), lock_timeout=2)


def test_replace_and_append_land_together_or_not_at_all(store: TenantStore):
    store.write_tables(
        replace={"links": pl.DataFrame({"a": [1]})}, append={"log": pl.DataFrame({"b": ["x"]})}
    )
    with pytest.raises(Exception, match="column"):
        store.write_tables(
            replace={"links": pl.DataFrame({"a": [2]})},
            append={"log": pl.DataFrame({"wrong": [1]})},
        )
    assert store.read_table("state", "links")["a"].to_list() == [1]
    assert store.read_table("state", "log")["b"].to_list() == ["x"]
    store.write_tables(append={"log": pl.DataFrame({"b": ["y"]})})
    assert store.read_table("state", "log")["b"].to_list() == ["x", "y"]


def test_missing_tables_read_as_none_and_empty_frames_keep_their_columns(store: TenantStore):
    assert store.read_tables("state", ["a", "b"]) == {"a": None, "b": None}
    store.write_tables(replace={"e": pl.DataFrame(schema={"k": pl.String, "n": pl.Int64})})
    empty = store.read_table("state", "e")
    assert empty.height == 0 and empty.schema == {"k": pl.String, "n": pl.Int64}


def test_held_connection_is_shared_and_released(store: TenantStore):
    store.write_tables(replace={"x": pl.DataFrame({"v": [1]})})
    with store.held():
        with store.held():  # nested holds share the outer connection
            assert store.read_table("state", "x")["v"].to_list() == [1]
        store.write_tables(replace={"x": pl.DataFrame({"v": [2]})})
    # released: another process can open the file now
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb,sys; print(duckdb.connect(sys.argv[1], read_only=True)"
            ".execute('select v from state.x').fetchall())",
            str(store.path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "[(2,)]", out.stderr


def test_a_file_held_by_another_process_is_waited_for_then_refused(store: TenantStore):
    store.write_tables(replace={"x": pl.DataFrame({"v": [1]})})
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(30)",
            str(store.path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(StateLocked, match="held by another process"):
            store.read_only().read_table("state", "x")
        assert 1.5 < time.monotonic() - started < 15
    finally:
        holder.kill()
        holder.wait()
    assert store.read_only().read_table("state", "x")["v"].to_list() == [1]


def test_newest_timestamp_is_compared_as_an_instant(store: TenantStore):
    frame = pl.DataFrame({"t": ["2024-01-02T10:21:13+02:00", "2024-01-02T08:30:00Z", "not a time"]})
    store.write_tables(replace={"c": frame}, schema="sys")
    assert store.newest("sys", "c", "t") == "2024-01-02T08:30:00Z"
    assert store.newest("sys", "missing", "t") is None


def test_tenant_names_are_checked(tmp_path):
    with pytest.raises(ValueError, match="tenant name"):
        tenant_path("../etc", tmp_path)


def test_a_held_connection_writes_its_changes_back_before_it_closes(store: TenantStore):
    store.write_tables(replace={"x": pl.DataFrame({"v": [1]})})
    with store.held():
        store.write_tables(replace={"x": pl.DataFrame({"v": list(range(50_000))})})
        assert store.path.with_name(store.path.name + ".wal").exists()  # not written back yet
    assert not store.path.with_name(store.path.name + ".wal").exists()
    assert store.read_table("state", "x").height == 50_000


def test_a_failed_write_back_is_left_to_the_close():
    calls = []

    class Invalidated:
        def execute(self, sql: str):
            calls.append(sql)
            raise duckdb.FatalException("database has been invalidated")

    write_back(Invalidated())  # type: ignore[arg-type]  # does not raise: the close reports it
    assert calls == ["checkpoint"]
