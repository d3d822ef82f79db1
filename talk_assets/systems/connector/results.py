"""What reads and writes answer: a `ReadResult` per listing, a `WriteResult` per `WriteOp`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from talk_assets.systems.connector.errors import ConnectorError
from talk_assets.systems.records import ValueProblem
from talk_assets.systems.schema import Datatype


@dataclass
class ReadResult:
    """One listing: the frame (exactly the datatype's columns), the cursor to store next, and
    the values that did not fit their type."""

    datatype: Datatype
    frame: pl.DataFrame
    cursor: str | None
    problems: list[ValueProblem]
    since: str | None
    pages: int

    @property
    def full(self) -> bool:
        return self.since is None


@dataclass(frozen=True)
class WriteOp:
    """One write of `write_many`: an insert (with a reference) or an update (with an id)."""

    kind: Literal["insert", "update"]
    datatype: str | Datatype
    values: Mapping[str, Any]
    reference: str | None = None
    record_id: Any = None
    parent_id: Any = None
    key: Any = None
    """The caller's own tag for this op, handed back untouched in the result."""

    @classmethod
    def insert(
        cls,
        datatype: str | Datatype,
        values: Mapping[str, Any],
        *,
        reference: str,
        parent_id: Any = None,
        key: Any = None,
    ) -> WriteOp:
        return cls("insert", datatype, values, reference=reference, parent_id=parent_id, key=key)

    @classmethod
    def update(
        cls,
        datatype: str | Datatype,
        record_id: Any,
        values: Mapping[str, Any],
        *,
        parent_id: Any = None,
        key: Any = None,
    ) -> WriteOp:
        return cls("update", datatype, values, record_id=record_id, parent_id=parent_id, key=key)


Outcome = Literal["inserted", "updated", "rejected", "failed", "unknown"]


@dataclass(frozen=True)
class WriteResult:
    """What became of one op. `rejected`: the system (or the connector, before sending)
    refused the record; `failed`: retries ran out, the system is unreachable or the credentials
    were refused; `unknown`: an insert may have landed and could not be checked."""

    op: WriteOp
    outcome: Outcome
    record: dict[str, Any] | None = None
    status: int | None = None
    message: str | None = None
    field: str | None = None
    recovered: bool = False
    """An insert whose answer was lost, found in the system by its reference."""
    error: ConnectorError | None = None
    record_id: Any = None
    """The written record's id (for an update: the op's id)."""

    @property
    def ok(self) -> bool:
        return self.outcome in ("inserted", "updated")


@dataclass
class Stored:
    record: dict[str, Any]
    status: int | None
    recovered: bool = False
