"""The DuckDB IO manager for polars frames, fixed for duckdb 2.

We keep duckdb 2 and replace the stock `DuckDBPolarsTypeHandler` because, on this stack,
(1) its `load_input` calls `connection.execute(...).arrow()`, which duckdb 2 removed, and
(2) its `handle_output` skips empty frames, so an asset that is empty on its first run has no
table and every downstream load fails, and (3) it fixes a table's columns at the first write.
Our handler replaces the table on every write (`CREATE OR REPLACE ... AS SELECT`), keeping the
frame's schema even when it has no rows, and loads with `connection.sql(...).pl()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack, contextmanager

import polars as pl
from dagster import (
    InitResourceContext,
    InputContext,
    OutputContext,
)
from dagster._core.storage.db_io_manager import DbIOManager, DbTypeHandler, TableSlice
from dagster_duckdb.io_manager import DuckDbClient, DuckDBIOManager
from pydantic import PrivateAttr

from talk_assets.store.tenant import TenantStore


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


UPSERT_KEY = "talk_assets/upsert_key"
"""Output metadata naming a key column: the frame is a part of the asset (an incremental
plan's clusters), so its rows replace the stored rows with the same key instead of the table."""


def _upsert_key(context: OutputContext) -> str | None:
    """The key column the output's run-time metadata names, if any (Dagster gives `{}` when
    there is none; a metadata value arrives wrapped, e.g. as `TextMetadataValue`)."""
    value = context.output_metadata.get(UPSERT_KEY)
    return getattr(value, "value", value) or None


class PolarsDuckDBTypeHandler(DbTypeHandler[pl.DataFrame]):
    """Stores polars frames as DuckDB tables and loads them back, on duckdb 2."""

    def handle_output(
        self, context: OutputContext, table_slice: TableSlice, obj: pl.DataFrame, connection
    ) -> None:
        if table_slice.partition_dimensions:
            raise NotImplementedError("partitioned assets are not used by talk_assets")
        frame_arrow = obj.to_arrow()  # noqa: F841  # referenced by name in the SQL below
        schema, table = _quote(table_slice.schema), _quote(table_slice.table)
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        key = _upsert_key(context)
        exists = connection.execute(
            "select 1 from duckdb_tables() where schema_name = ? and table_name = ?",
            [table_slice.schema, table_slice.table],
        ).fetchall()
        if key and exists:  # a part of the table: its rows replace those with the same key
            connection.execute(
                f"DELETE FROM {schema}.{table} WHERE {_quote(key)} IN "
                f"(SELECT {_quote(key)} FROM frame_arrow)"
            )
            connection.execute(f"INSERT INTO {schema}.{table} BY NAME SELECT * FROM frame_arrow")
            # the asset's row count is the stored table's, not the part written this run
            (total,) = connection.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone()
            context.add_output_metadata({"dagster/row_count": total, "rows_written": obj.height})
        else:
            connection.execute(
                f"CREATE OR REPLACE TABLE {schema}.{table} AS SELECT * FROM frame_arrow"
            )
        # No column schema here: each asset publishes a described `dagster/column_schema`
        # itself (the UI would show it twice). Its `dagster/row_count` is the frame's, which is
        # the table's unless the frame was upserted (above).

    def load_input(
        self, context: InputContext, table_slice: TableSlice, connection
    ) -> pl.DataFrame:
        return connection.sql(DuckDbClient.get_select_statement(table_slice=table_slice)).pl()

    @property
    def supported_types(self):
        return [pl.DataFrame]


class _TenantClient(DuckDbClient):
    """Connections through `TenantStore`: cursors of the run's held connection."""

    @staticmethod
    def delete_table_slice(context, table_slice, connection) -> None:
        """Nothing: the stock client empties the table before every write, which would lose
        the rest of a table written in parts (`UPSERT_KEY`); the handler replaces or upserts."""

    @staticmethod
    @contextmanager
    def connect(context, _):
        with TenantStore(context.resource_config["database"]).connect() as con:
            yield con


class PolarsDuckDBIOManager(DuckDBIOManager):
    """DuckDB IO manager for polars frames; one schema per asset key prefix (leave `schema`
    unset). For the length of a run it holds one connection to the tenant file (see
    `TenantStore.held`), which the engine's state tables share."""

    _stack: ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._stack = ExitStack()
        self._stack.enter_context(TenantStore(self.database).held())

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def create_io_manager(self, context) -> DbIOManager:
        return DbIOManager(
            db_client=_TenantClient(),
            database=self.database,
            schema=self.schema_,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
            io_manager_name="PolarsDuckDBIOManager",
        )

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [PolarsDuckDBTypeHandler()]

    @staticmethod
    def default_load_type() -> type | None:
        return pl.DataFrame
