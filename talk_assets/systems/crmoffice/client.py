"""Crmoffice client (no Dagster): the system's dialect on top of `ConnectorClient`.

- Auth: client credentials in the token form (`client_id`, `client_secret`, `scope=crmoffice`).
- Lists: `{"items", "nextCursor"}` pages (`limit`, `cursor`), `updatedSince` (exclusive).
- Writes: `POST /{datatype}` with an `Idempotency-Key` (the insert's reference): a repeated
  POST with the key answers the first record, so resending is safe; after an unknown outcome
  the connector still looks the key up first (`GET /{datatype}?idempotencyKey=K`). Updates are
  JSON merge patches with nested objects (`{"visitAddress": {"postalArea": "Oslo"}}`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx

from talk_assets.systems.connector.client import ConnectorClient
from talk_assets.systems.connector.errors import ApiError, RequestFailed
from talk_assets.systems.connector.transport import Transport, json_body
from talk_assets.systems.crmoffice.system import MAX_LIMIT, SPEC
from talk_assets.systems.records import unflatten
from talk_assets.systems.schema import Datatype

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_error(response: httpx.Response) -> tuple[str, str | None]:
    """Message and field of a `{"error": {"code", "message", "field"}}` answer."""
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return str(body), None
    message = str(error.get("message") or error.get("code") or response.reason_phrase)
    code = error.get("code")
    if code and str(code) not in message:
        message = f"{message} ({code})"
    field = error.get("field")
    return message, str(field) if field else None


class CrmofficeClient(ConnectorClient):
    """Crmoffice over HTTP. Sync methods, plus async `write_many`."""

    spec = SPEC

    # -- dialect ----------------------------------------------------------------------------

    def token_request(self) -> tuple[dict[str, str], dict[str, str]]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.credentials["client_id"].reveal(),
            "client_secret": self.credentials["client_secret"].reveal(),
            "scope": "crmoffice",
        }
        return form, {}

    def _parse_error(self, response: httpx.Response) -> tuple[str, str | None]:
        return parse_error(response)

    async def _list(
        self, t: Transport, dt: Datatype, params: dict[str, Any], limit: int
    ) -> AsyncIterator[list[Any]]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            query = {**params, "limit": min(limit, MAX_LIMIT)}
            if cursor:
                query["cursor"] = cursor
            response = await t.send("GET", str(dt.endpoint), params=query, datatype=dt.name)
            body = json_body(response, self.system.name, dt.name)
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise RequestFailed(
                    'a list answer without "items"', system=self.system.name, datatype=dt.name
                )
            yield items
            cursor = body.get("nextCursor")
            if not cursor:
                return
            if cursor in seen or len(seen) >= self.max_pages:
                raise RequestFailed(
                    "the list cursor does not advance", system=self.system.name, datatype=dt.name
                )
            seen.add(cursor)

    def _pages(
        self, t: Transport, dt: Datatype, since: str | None, page_size: int
    ) -> AsyncIterator[list[Any]]:
        return self._list(t, dt, {"updatedSince": since} if since else {}, page_size)

    async def _has_changes(self, t: Transport, dt: Datatype, since: str) -> bool:
        response = await t.send(
            "GET", str(dt.endpoint), params={"updatedSince": since, "limit": 1}, datatype=dt.name
        )
        body = json_body(response, self.system.name, dt.name)
        return bool(isinstance(body, dict) and body.get("items"))

    async def _get(self, t: Transport, dt: Datatype, record_id: Any, parent_id: Any) -> Any:
        response = await t.send("GET", f"{dt.endpoint}/{record_id}", datatype=dt.name)
        return json_body(response, self.system.name, dt.name)

    async def _post(
        self, t: Transport, dt: Datatype, values: dict[str, Any], reference: str, parent_id: Any
    ) -> tuple[Any, int | None, bool]:
        try:
            response = await t.send(
                "POST",
                str(dt.endpoint),
                json=unflatten(values),
                headers={"Idempotency-Key": reference},
                idempotent=False,
                datatype=dt.name,
            )
        except ApiError as exc:
            # The key already created a record from other values (an earlier run's insert whose
            # answer was lost): that record is this insert's; later updates bring the values.
            if exc.status == 409 and "idempotency_key" in exc.message:
                landed = await self._find_landed(t, dt, values, reference, parent_id, _EPOCH)
                if landed is not None:
                    return landed, None, True
            raise
        # 200 instead of 201: the key had already created this record (a replayed insert).
        body = json_body(response, self.system.name, dt.name)
        return body, response.status_code, response.status_code == 200

    async def _patch(
        self, t: Transport, dt: Datatype, record_id: Any, values: dict[str, Any], parent_id: Any
    ) -> httpx.Response:
        return await t.send(
            "PATCH",
            f"{dt.endpoint}/{record_id}",
            json=unflatten(values),
            content_type="application/merge-patch+json",
            datatype=dt.name,
        )

    async def _find_landed(
        self,
        t: Transport,
        dt: Datatype,
        values: dict[str, Any],
        reference: str,
        parent_id: Any,
        started: datetime,
    ) -> Any:
        response = await t.send(
            "GET", str(dt.endpoint), params={"idempotencyKey": reference}, datatype=dt.name
        )
        body = json_body(response, self.system.name, dt.name)
        items = body.get("items") if isinstance(body, dict) else None
        return items[0] if items else None
