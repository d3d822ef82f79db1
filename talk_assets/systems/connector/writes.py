"""Writes of `ConnectorClient`: inserts that are never sent twice blindly (an unknown outcome
is looked up before any resend), updates, and bulk writes with bounded concurrency.

Retries are tenacity's (`retry.py`): a non-idempotent request (an insert) is never resent after an
outcome that may have landed (5xx, timeout or lost connection after sending) until the
system's `_find_landed` says it did not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from talk_assets.systems.connector.errors import (
    Ambiguous,
    ApiError,
    AuthError,
    ConnectorError,
    OutcomeUnknown,
    SystemUnavailable,
    WriteRejected,
)
from talk_assets.systems.connector.results import Outcome, Stored, WriteOp, WriteResult
from talk_assets.systems.connector.retry import retried
from talk_assets.systems.connector.transport import Transport, json_body
from talk_assets.systems.records import flatten, writable_values
from talk_assets.systems.schema import Datatype, SchemaError

if TYPE_CHECKING:
    from talk_assets.systems.connector.settings import HttpSettings
    from talk_assets.systems.schema import System

log = logging.getLogger(__name__)

T = TypeVar("T")


class Writes:
    """The write half of `ConnectorClient` (a mixin: it uses the client's runtime)."""

    system: System
    settings: HttpSettings

    def _listable(self, datatype: str | Datatype) -> Datatype:
        raise NotImplementedError

    def _runtime(self) -> tuple[Any, Transport]:
        raise NotImplementedError

    def _run(self, make: Callable[[Transport], Coroutine[Any, Any, T]]) -> T:
        raise NotImplementedError

    async def _run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        raise NotImplementedError

    async def _get(self, t: Transport, dt: Datatype, record_id: Any, parent_id: Any) -> Any:
        raise NotImplementedError

    # -- write dialect --------------------------------------------------------------------

    async def _post(
        self, t: Transport, dt: Datatype, values: dict[str, Any], reference: str, parent_id: Any
    ) -> tuple[Any, int | None, bool]:
        """Send the insert once (`idempotent=False`): the stored record as the system answered
        it, the status, and whether the record was there before (a replayed insert)."""
        raise NotImplementedError

    async def _find_landed(
        self,
        t: Transport,
        dt: Datatype,
        values: dict[str, Any],
        reference: str,
        parent_id: Any,
        started: datetime,
    ) -> Any:
        """The record an insert with an unknown outcome created, or None if it did not land."""
        raise NotImplementedError

    def _prepare_insert(
        self, dt: Datatype, values: dict[str, Any], reference: str, parent_id: Any
    ) -> tuple[dict[str, Any], Any]:
        """Values to send and the parent id (system specifics: reference fields, parents)."""
        return values, parent_id

    async def _patch(
        self, t: Transport, dt: Datatype, record_id: Any, values: dict[str, Any], parent_id: Any
    ) -> httpx.Response:
        raise NotImplementedError

    # -- writes ---------------------------------------------------------------------------

    def insert(
        self,
        datatype: str | Datatype,
        values: Mapping[str, Any],
        *,
        reference: str,
        parent_id: Any = None,
    ) -> dict[str, Any]:
        """Create a record; answers the stored record, flattened. `reference` is this insert's
        identity for recovery after an unknown outcome (the sync's stable id of the source)."""
        dt = self._listable(datatype)
        return self._run(lambda t: self._ainsert(t, dt, values, reference, parent_id)).record

    def update(
        self,
        datatype: str | Datatype,
        record_id: Any,
        values: Mapping[str, Any],
        *,
        parent_id: Any = None,
    ) -> dict[str, Any]:
        """Change the given properties of a record; answers the stored record, flattened."""
        dt = self._listable(datatype)
        return self._run(lambda t: self._aupdate(t, dt, record_id, values, parent_id)).record

    def _rejected(
        self, dt: Datatype, exc: ApiError | None, operation: str, values: Mapping[str, Any], **kw
    ) -> WriteRejected:
        if exc is None:
            return WriteRejected(
                kw.pop("message"),
                system=self.system.name,
                datatype=dt.name,
                operation=operation,
                values=values,
                **kw,
            )
        return WriteRejected(
            exc.message,
            system=self.system.name,
            datatype=dt.name,
            status=exc.status,
            field=self._field_path(dt, exc.field),
            operation=operation,
            values=values,
            **kw,
        )

    @staticmethod
    def _field_path(dt: Datatype, name: str | None) -> str | None:
        if not name:
            return None
        cleaned = name.removeprefix("$.").lstrip("/").replace("/", ".")
        try:
            return dt.field(cleaned).path
        except SchemaError:
            return name

    async def _ainsert(
        self,
        t: Transport,
        dt: Datatype,
        values: Mapping[str, Any],
        reference: str,
        parent_id: Any,
    ) -> Stored:
        try:
            body = writable_values(dt, values)
        except SchemaError as exc:
            raise self._rejected(
                dt, None, "insert", values, message=str(exc), reference=reference
            ) from None
        body, parent_id = self._prepare_insert(dt, body, reference, parent_id)
        for required in dt.required:
            if body.get(required) in (None, ""):
                raise self._rejected(
                    dt,
                    None,
                    "insert",
                    body,
                    message=f"{required} is required",
                    field=required,
                    reference=reference,
                )
        started = datetime.now(UTC)
        unsure = False

        async def landed() -> Stored | None:
            found = await self._find_landed(t, dt, body, reference, parent_id, started)
            if found is None:
                return None
            log.info("%s: insert %s had landed; using that record", dt.key, reference)
            return Stored(flatten(dt, found)[0], None, recovered=True)

        async def attempt() -> Stored:
            nonlocal unsure
            if unsure and (stored := await landed()) is not None:
                return stored
            try:
                record, status, replayed = await self._post(t, dt, body, reference, parent_id)
            except Ambiguous:
                unsure = True
                raise
            return Stored(flatten(dt, record)[0], status, recovered=replayed)

        try:
            return await retried(self.settings, Ambiguous, attempt)
        except Ambiguous as exc:
            if (stored := await landed()) is not None:
                return stored
            raise OutcomeUnknown(
                f"insert {reference}: {exc}; not found after retries",
                system=self.system.name,
                datatype=dt.name,
                reference=reference,
                values=body,
            ) from None
        except ApiError as exc:
            raise self._rejected(dt, exc, "insert", body, reference=reference) from None

    async def _aupdate(
        self,
        t: Transport,
        dt: Datatype,
        record_id: Any,
        values: Mapping[str, Any],
        parent_id: Any,
    ) -> Stored:
        try:
            body = writable_values(dt, values)
        except SchemaError as exc:
            raise self._rejected(
                dt, None, "update", values, message=str(exc), record_id=record_id
            ) from None
        try:
            if body:
                response = await self._patch(t, dt, record_id, body, parent_id)
                record = (
                    json_body(response, self.system.name, dt.name) if response.content else None
                )
                status: int | None = response.status_code
            else:
                record, status = None, None
            if not isinstance(record, Mapping):
                record = await self._get(t, dt, record_id, parent_id)
        except ApiError as exc:
            raise self._rejected(dt, exc, "update", body, record_id=record_id) from None
        return Stored(flatten(dt, record)[0], status)

    # -- bulk writes ------------------------------------------------------------------------

    async def write_many(
        self, ops: Iterable[WriteOp], *, concurrency: int | None = None
    ) -> list[WriteResult]:
        """Run many writes with bounded concurrency; one result per op, in order. Never raises
        for a record; after credentials are refused or the system is unreachable, the ops not
        yet started fail at once with that error."""
        transport = self._runtime()[1]
        return await self._run_async(self._awrite_many(transport, list(ops), concurrency))

    def write_many_blocking(
        self, ops: Iterable[WriteOp], *, concurrency: int | None = None
    ) -> list[WriteResult]:
        """`write_many` for sync callers (Dagster assets, the CLI)."""
        op_list = list(ops)
        return self._run(lambda t: self._awrite_many(t, op_list, concurrency))

    async def _awrite_many(
        self, t: Transport, ops: list[WriteOp], concurrency: int | None
    ) -> list[WriteResult]:
        semaphore = asyncio.Semaphore(max(1, concurrency or self.settings.write_concurrency))
        fatal: list[ConnectorError] = []

        async def one(op: WriteOp) -> WriteResult:
            async with semaphore:
                if fatal:
                    err = fatal[0]
                    return WriteResult(
                        op, "failed", message=f"not attempted: {err}", status=err.status, error=err
                    )
                result = await self._awrite_one(t, op)
                if isinstance(result.error, AuthError | SystemUnavailable):
                    fatal.append(result.error)
                return result

        return list(await asyncio.gather(*(one(op) for op in ops)))

    async def _awrite_one(self, t: Transport, op: WriteOp) -> WriteResult:
        try:
            dt = self._listable(op.datatype)
            if op.kind == "insert":
                if not op.reference:
                    raise ValueError("an insert needs a reference")
                stored = await self._ainsert(t, dt, op.values, op.reference, op.parent_id)
                outcome: Outcome = "inserted"
            elif op.kind == "update":
                if op.record_id is None:
                    raise ValueError("an update needs a record id")
                stored = await self._aupdate(t, dt, op.record_id, op.values, op.parent_id)
                outcome = "updated"
            else:
                raise ValueError(f"unknown write kind {op.kind!r}")
        except (SchemaError, ValueError) as exc:
            return WriteResult(op, "rejected", message=str(exc))
        except WriteRejected as exc:
            return WriteResult(
                op, "rejected", status=exc.status, message=exc.message, field=exc.field, error=exc
            )
        except OutcomeUnknown as exc:
            return WriteResult(op, "unknown", message=exc.message, error=exc)
        except ConnectorError as exc:
            return WriteResult(op, "failed", status=exc.status, message=exc.message, error=exc)
        return WriteResult(
            op,
            outcome,
            record=stored.record,
            status=stored.status,
            recovered=stored.recovered,
            record_id=stored.record.get(dt.id.path, op.record_id),
        )
