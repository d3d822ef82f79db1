"""The cached SQLite event log: the same files as Dagster's own, readable by either class."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, Output, job, op
from dagster._core.instance.ref import InstanceRef

from talk_assets.defs.event_storage import (
    ENGINES_KEPT,
    CachedSqliteEventLogStorage,
    with_cached_event_log,
)


@op
def one_op():
    yield Output(1)


@job
def one_job():
    one_op()


def cached_instance(home: Path) -> DagsterInstance:
    return DagsterInstance.from_ref(with_cached_event_log(InstanceRef.from_dir(str(home))))


def test_default_sqlite_event_log_is_replaced_and_others_are_kept(tmp_path: Path):
    ref = with_cached_event_log(InstanceRef.from_dir(str(tmp_path)))
    assert ref.event_storage_data is not None
    assert ref.event_storage_data.class_name == CachedSqliteEventLogStorage.__name__
    assert ref.storage_data is None  # run and schedule storage are built each on their own
    assert ref.run_storage_data is not None and ref.schedule_storage_data is not None

    (tmp_path / "other").mkdir()
    custom = {"event_log_storage": {"module": "acme.storage", "class": "AcmeEvents", "config": {}}}
    (tmp_path / "other" / "dagster.yaml").write_text(yaml.safe_dump(custom))
    kept = InstanceRef.from_dir(str(tmp_path / "other"))
    assert with_cached_event_log(kept) == kept


def test_runs_stored_with_the_cache_read_the_same_with_dagsters_class(tmp_path: Path):
    instance = cached_instance(tmp_path)
    assert isinstance(instance.event_log_storage, CachedSqliteEventLogStorage)
    result = one_job.execute_in_process(instance=instance)
    assert result.success
    ours = [e.dagster_event.event_type_value for e in instance.all_logs(result.run_id)]
    instance.dispose()

    plain = DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path)))
    assert type(plain.event_log_storage).__name__ == "SqliteEventLogStorage"
    theirs = [e.dagster_event.event_type_value for e in plain.all_logs(result.run_id)]
    assert theirs == ours and "STEP_SUCCESS" in theirs
    second = one_job.execute_in_process(instance=plain)
    plain.dispose()

    again = cached_instance(tmp_path)
    assert {r.run_id for r in again.get_runs()} == {result.run_id, second.run_id}
    assert len(again.all_logs(second.run_id)) == len(theirs)
    again.dispose()


def test_engines_are_bounded_and_schema_facts_remembered(tmp_path: Path):
    instance = cached_instance(tmp_path)
    storage = instance.event_log_storage
    assert isinstance(storage, CachedSqliteEventLogStorage)
    run_ids = [
        one_job.execute_in_process(instance=instance).run_id for _ in range(ENGINES_KEPT + 2)
    ]
    assert len(storage._engines) <= ENGINES_KEPT
    # a run read after its engine was let go opens it again
    assert any(e.step_key == "one_op" for e in instance.all_logs(run_ids[0]))
    assert storage.has_asset_key_col("last_materialization_timestamp")
    assert "last_materialization_timestamp" in storage._known_columns
    assert not storage.has_asset_key_col("no_such_column")
    assert storage.has_table("asset_check_executions")
    assert "asset_check_executions" in storage._known_tables
    assert not storage.has_table("no_such_table")
    instance.dispose()
    assert not storage._engines


@pytest.mark.parametrize("shard_count", [1, 3])
def test_one_open_connection_per_shard(tmp_path: Path, shard_count: int):
    """Each use of a shard reuses its connection: no checkpoint of the WAL per event."""
    storage = CachedSqliteEventLogStorage(str(tmp_path))
    shards = [f"run{i}" for i in range(shard_count)]
    seen: dict[str, list] = {shard: [] for shard in shards}  # held: no id is reused
    for _ in range(3):
        for shard in shards:
            with storage.run_connection(shard) as conn:
                seen[shard].append(conn.connection.dbapi_connection)
    for shard, connections in seen.items():
        assert all(c is connections[0] for c in connections), shard
    storage.dispose()


def test_commits_do_not_wait_for_the_disk_in_wal_mode(tmp_path: Path):
    """WAL with synchronous=NORMAL (1): consistent through crashes, no fsync per event."""
    instance = cached_instance(tmp_path)
    storage = instance.event_log_storage
    assert isinstance(storage, CachedSqliteEventLogStorage)
    run_id = one_job.execute_in_process(instance=instance).run_id
    for connect in (storage.index_connection, lambda: storage.run_connection(run_id)):
        with connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    instance.dispose()
