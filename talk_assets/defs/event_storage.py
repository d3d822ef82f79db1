"""Dagster's SQLite event log, without its per-call set-up costs, for `talk-assets sync`.

Dagster stores every event of a run (about 150 to 250 per sync) through
`SqliteEventLogStorage`, which builds a new SQLAlchemy engine and SQLite connection for every
use, and asks SQLite for the index shard's schema (columns, finished data migrations) on every
asset-record read, e.g. once per asset check result. Closing the last connection to a WAL
database checkpoints it (writes the WAL back and syncs the file), so every event paid for a
checkpoint. `CachedSqliteEventLogStorage` is the same storage, on the same files in the same
format, that keeps one engine and one open connection per shard (a commit appends to the WAL;
SQLite checkpoints as it fills, and when the connection closes) and remembers schema facts
once they hold (a migration only ever adds tables, columns and finished migrations).

Its connections commit with `synchronous=NORMAL`, SQLite's recommended setting for WAL
databases: a commit no longer waits for the disk, and the database stays consistent through a
crash of the process or the machine; only a power loss can take back the last commits of the
event log (the run's own state is in the tenant's DuckDB file, not here).

`sync` opens the instance at DAGSTER_HOME with `instance_at`, which uses it when that instance
uses the default SQLite storage; `dagster dev` keeps Dagster's own class on the same files.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import DagsterEventType, DagsterInstance
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.event import listen
from sqlalchemy.pool import QueuePool

ENGINES_KEPT = 8
"""Engines (each with its open connection) kept at once: the index shard and the runs used
last; a long-lived process that reads many runs does not hold a file per run."""

RUN_ENDS = {
    DagsterEventType.RUN_SUCCESS,
    DagsterEventType.RUN_FAILURE,
    DagsterEventType.RUN_CANCELED,
}
"""Events after which a run's database is let go: closing it checkpoints its WAL, so no `-wal`
file is left beside a finished run (a later event of the run opens it again)."""

DEFAULT_MODULES = ("dagster._core.storage.sqlite_storage", "dagster._core.storage.event_log")


class CachedSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` with an engine per shard and remembered schema facts."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._known_columns: set[str] = set()
        self._known_indexes: set[str] = set()
        self._known_tables: set[str] = set()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value
    ) -> CachedSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool,
                pool_size=1,  # uses are serialized by `_db_lock`
                max_overflow=2,
                # the pooled connection serves whichever thread holds `_db_lock`
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            listen(engine, "connect", _commit_without_waiting_for_disk)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
        self._engines[shard] = engine  # the most recently used last
        while len(self._engines) > ENGINES_KEPT:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    def store_event(self, event: EventLogEntry) -> None:
        super().store_event(event)
        if event.is_dagster_event and event.dagster_event_type in RUN_ENDS:
            with self._db_lock:
                engine = self._engines.pop(event.run_id, None)
                if engine is not None:
                    engine.dispose()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:  # as the parent: one connection at a time per storage
            engine = self._engine(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_asset_key_col(self, column_name: str) -> bool:
        if column_name not in self._known_columns and super().has_asset_key_col(column_name):
            self._known_columns.add(column_name)
        return column_name in self._known_columns

    def has_table(self, table_name: str) -> bool:
        # asked on every asset check event, through a new engine each time
        if table_name not in self._known_tables and super().has_table(table_name):
            self._known_tables.add(table_name)
        return table_name in self._known_tables

    def has_secondary_index(self, name: str) -> bool:
        if name not in self._known_indexes and super().has_secondary_index(name):
            self._known_indexes.add(name)
        return name in self._known_indexes

    def dispose(self) -> None:
        while self._engines:
            self._engines.popitem()[1].dispose()
        super().dispose()


def _commit_without_waiting_for_disk(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def with_cached_event_log(ref: InstanceRef) -> InstanceRef:
    """`ref` with `CachedSqliteEventLogStorage` in place of Dagster's default SQLite event log
    (same directory and files); any other configured storage (e.g. Postgres) is kept as is."""
    events = ref.event_storage_data
    storage = ref.storage_data
    if (
        events is None
        or events.class_name != "SqliteEventLogStorage"
        or events.module_name not in DEFAULT_MODULES
        or (storage is not None and storage.class_name != "DagsterSqliteStorage")
    ):
        return ref
    cached = ConfigurableClassData(
        __name__, CachedSqliteEventLogStorage.__name__, events.config_yaml
    )
    # without the unified storage the instance builds run, event and schedule storage each
    return ref._replace(storage_data=None, event_storage_data=cached)


def instance_at(home: str) -> DagsterInstance:
    """The Dagster instance of `home` (a DAGSTER_HOME), with the cached event log if it uses
    the default SQLite storage."""
    return DagsterInstance.from_ref(with_cached_event_log(InstanceRef.from_dir(home)))
