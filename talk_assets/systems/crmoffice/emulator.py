"""The Crmoffice emulator: the API shared/design/SYSTEMS.md defines, served at the root.

- `POST /connect/token`: form `grant_type=client_credentials&client_id=..&client_secret=..
  &scope=crmoffice` (client credentials may also come as HTTP Basic). Answers
  `{"access_token", "token_type": "Bearer", "expires_in": 3600}`.
- API calls need `Authorization: Bearer ...` (401 without, wrong or expired); 20 requests per
  second per client, else 429 with `Retry-After` (seconds).
- `GET /{contacts|companies|activities}?updatedSince=ISO&limit=N&cursor=C`:
  `{"items": [...], "nextCursor": "..." | null}`, ordered by (`updatedAt`, `id`) so a record
  changed while a client pages moves behind the cursor and is still seen. `limit` 1..1000
  (default 100); `updatedSince` is exclusive and needs an offset; the cursor is opaque and
  carries the query's `updatedSince`.
- `POST /{datatype}` answers 201 with the created record. At-most-once inserts: send an
  `Idempotency-Key: K` header; a repeated POST with the same key (per client) answers 200 with
  the record the first one created (current state; it is not created again), a key reused for
  another datatype or body is 409. `GET /{datatype}?idempotencyKey=K` lists the record created
  with key K (`items` is empty when no POST with that key landed).
- `GET|PATCH|DELETE /{datatype}/{id}`; PATCH takes `Content-Type: application/merge-patch+json`
  (RFC 7386: objects merge, null removes a field) and answers the record; a patch that changes
  nothing keeps `updatedAt`. DELETE answers 204; 409 for a company that contacts still name.
- Errors: `{"error": {"code", "message", "field"}}`; 400 malformed requests, unknown or
  read-only fields (`id`, `updatedAt`), bad query parameters; 401; 404; 409; 422 wrong types,
  missing required fields (companies: name, activities: subject), `startsAt` that is not an ISO
  date or date-time, `companyId` naming no company; 429.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import contextlib
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from talk_assets.systems.crmoffice.payloads import (
    DATATYPES,
    check_record,
    error_response,
    merge_patch,
    validate,
)
from talk_assets.systems.crmoffice.sample_data import ID_PREFIX as CRMOFFICE_ID_PREFIX
from talk_assets.systems.crmoffice.system import SPEC
from talk_assets.systems.emulator.app import Emulator, HttpError
from talk_assets.systems.emulator.recency import ChangeIndex
from talk_assets.systems.timestamps import format_timestamp, parse_timestamp

Json = dict[str, Any]

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


def _list_order(record: Json) -> tuple[str, str]:
    """Lists go by (updatedAt, id); the cursor holds the last page's last pair."""
    return record["updatedAt"], record["id"]


class CrmofficeEmulator(Emulator):
    spec = SPEC

    def __init__(self, **options: Any) -> None:
        self.records: dict[str, dict[str, Json]] = {name: {} for name in DATATYPES}
        self.next_ids: dict[str, int] = {name: 1 for name in DATATYPES}
        self.idempotency: dict[str, Json] = {}
        self.changes = ChangeIndex("updatedAt", list_order=_list_order)
        super().__init__(**options)

    # --- state -----------------------------------------------------------------------------------

    def load_records(self, records: dict[str, list[Json]]) -> None:
        self._load({name: records.get(name, []) for name in DATATYPES}, {}, {})

    def _load(
        self, records: dict[str, list[Json]], next_ids: dict[str, int], keys: dict[str, Json]
    ) -> None:
        self.records = {name: {r["id"]: r for r in records.get(name, [])} for name in DATATYPES}
        self.next_ids = {name: 1 for name in DATATYPES}
        for name, rows in self.records.items():
            for record_id, row in rows.items():
                number = int(record_id.rpartition("_")[2] or 0)
                self.next_ids[name] = max(self.next_ids[name], number + 1)
                self.clock.observe(parse_timestamp(row["updatedAt"]))
            self.next_ids[name] = max(self.next_ids[name], next_ids.get(name, 1))
        self.idempotency = dict(keys)
        self.changes.rebuild(self.records)

    def snapshot(self) -> Json:
        return {
            "records": {name: list(rows.values()) for name, rows in self.records.items()},
            "next_ids": self.next_ids,
            "idempotency": self.idempotency,
        }

    def restore(self, snapshot: Json) -> None:
        self._load(
            snapshot.get("records", {}),
            snapshot.get("next_ids", {}),
            snapshot.get("idempotency", {}),
        )

    def new_id(self, name: str) -> str:
        number = self.next_ids[name]
        self.next_ids[name] = number + 1
        return f"{CRMOFFICE_ID_PREFIX[name]}_{number:08d}"

    # --- HTTP plumbing ---------------------------------------------------------------------------

    def error(
        self, status: int, message: str, *, field: str | None = None, code: str | None = None
    ) -> Response:
        return error_response(status, message, field, code)

    def build_app(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        async def not_found(request: Request, exc: Exception) -> Response:
            status = getattr(exc, "status_code", 404)
            return error_response(status, f"No resource {request.method} {request.url.path}.")

        return Starlette(
            routes=[
                Route("/connect/token", self.token, methods=["POST"]),
                Route("/{datatype}", self.handle(self._collection), methods=["GET", "POST"]),
                Route(
                    "/{datatype}/{id}",
                    self.handle(self._item),
                    methods=["GET", "PATCH", "DELETE"],
                ),
            ],
            exception_handlers={404: not_found, 405: not_found},
        )

    async def guard(self, request: Request) -> Response | None:
        if request.url.path == "/connect/token":
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return error_response(401, "A bearer token is required.")
        client, why = self.tokens.check(token.strip())
        if client is None:
            return error_response(401, why)
        request.scope["crmoffice.client"] = client
        wait = self.limiter.retry_after(client)
        if wait is not None:
            answer = error_response(429, f"Too many requests; retry after {wait} s.")
            answer.headers["Retry-After"] = str(wait)
            return answer
        return None

    async def token(self, request: Request) -> Response:
        form = {
            k: v[0] for k, v in parse_qs((await request.body()).decode(errors="replace")).items()
        }
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError, binascii.Error):
                client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return error_response(
                400,
                "grant_type must be client_credentials.",
                "grant_type",
                "unsupported_grant_type",
            )
        if form.get("scope") not in (None, "crmoffice"):
            return error_response(400, "scope must be crmoffice.", "scope", "invalid_scope")
        if (client_id, client_secret) != (
            self.credentials["client_id"],
            self.credentials["client_secret"],
        ):
            return error_response(
                401, "The client id or client secret is wrong.", code="invalid_client"
            )
        return JSONResponse(
            {
                "access_token": self.tokens.issue(client_id or ""),
                "token_type": "Bearer",
                "expires_in": math.ceil(self.tokens.ttl),
            }
        )

    async def _collection(self, request: Request) -> Response:
        name = self._datatype(request)
        if request.method == "GET":
            return self.list_records(name, request)
        return await self.create(name, request)

    async def _item(self, request: Request) -> Response:
        name = self._datatype(request)
        record_id = request.path_params["id"]
        if request.method == "GET":
            return JSONResponse(self._find(name, record_id))
        if request.method == "PATCH":
            return await self.patch(name, record_id, request)
        return self.delete(name, record_id)

    @staticmethod
    def _datatype(request: Request) -> str:
        name = request.path_params["datatype"]
        if name not in DATATYPES:
            raise HttpError(404, f"No resource {request.method} {request.url.path}.")
        return name

    def _find(self, name: str, record_id: str) -> Json:
        row = self.records[name].get(record_id)
        if row is None:
            raise HttpError(404, f"No {name} record with id {record_id}.")
        return row

    @staticmethod
    async def _json_object(request: Request) -> Json:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise HttpError(400, "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise HttpError(400, "The request body must be a JSON object.")
        return body

    # --- endpoints -------------------------------------------------------------------------------

    def list_records(self, name: str, request: Request) -> Response:
        params = request.query_params
        limit = self._limit(params.get("limit"))
        since, after = params.get("updatedSince"), None
        cursor = params.get("cursor")
        if cursor:
            try:
                since, *after = json.loads(base64.urlsafe_b64decode(cursor.encode()))
                after = tuple(after)
                if len(after) != 2 or not all(isinstance(part, str) for part in after):
                    raise ValueError
            except (ValueError, TypeError, binascii.Error):
                raise HttpError(400, "The cursor is not valid.", field="cursor") from None
        text = None
        if since:
            try:
                bound = parse_timestamp(since)
            except ValueError:
                raise HttpError(
                    400,
                    "updatedSince must be an ISO 8601 date-time with offset.",
                    field="updatedSince",
                ) from None
            text = format_timestamp(bound, zulu=True)
        rows = self.changes.listing(name, self.records[name], text)
        key = params.get("idempotencyKey")
        if key is not None:
            entry = self.idempotency.get(self._key(request, key))
            found = entry["id"] if entry and entry["datatype"] == name else None
            rows = [r for r in rows if r["id"] == found]
        start = bisect.bisect_right(rows, after, key=_list_order) if after else 0
        rows = rows[start : start + limit + 1]
        page, more = rows[:limit], len(rows) > limit
        next_cursor = None
        if more:
            last = page[-1]
            raw = json.dumps([since, last["updatedAt"], last["id"]]).encode()
            next_cursor = base64.urlsafe_b64encode(raw).decode()
        return JSONResponse({"items": page, "nextCursor": next_cursor})

    @staticmethod
    def _limit(text: str | None) -> int:
        if text is None or not text.strip():
            return DEFAULT_LIMIT
        try:
            value = int(text)
        except ValueError:
            value = 0
        if not 1 <= value <= MAX_LIMIT:
            raise HttpError(400, f"limit must be an integer from 1 to {MAX_LIMIT}.", field="limit")
        return value

    @staticmethod
    def _key(request: Request, key: str) -> str:
        return f"{request.scope.get('crmoffice.client', '')}\x00{key}"

    async def create(self, name: str, request: Request) -> Response:
        body = await self._json_object(request)
        key = request.headers.get("idempotency-key")
        fingerprint = json.dumps(body, sort_keys=True, ensure_ascii=False)
        if key:
            entry = self.idempotency.get(self._key(request, key))
            if entry is not None:
                if entry["datatype"] != name or entry["fingerprint"] != fingerprint:
                    raise HttpError(
                        409,
                        "This Idempotency-Key was used for another request.",
                        code="idempotency_key_reused",
                    )
                return JSONResponse(self.records[name].get(entry["id"], entry["record"]))
        values = merge_patch({}, validate(name, body))
        check_record(name, values, self.records["companies"])
        record = {"id": self.new_id(name), **values}
        record["updatedAt"] = format_timestamp(self.stamp(), zulu=True)
        self.records[name][record["id"]] = record
        self.changes.wrote(name, record["id"], record)
        stored: Json = {}
        if key:
            stored[self._key(request, key)] = {
                "datatype": name,
                "id": record["id"],
                "fingerprint": fingerprint,
                "record": record,
            }
            self.idempotency.update(stored)
        self.persist_change(name, record["id"], record, idempotency=stored)
        return JSONResponse(record, status_code=201)

    async def patch(self, name: str, record_id: str, request: Request) -> Response:
        current = self._find(name, record_id)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/merge-patch+json":
            raise HttpError(
                400,
                "PATCH takes Content-Type: application/merge-patch+json.",
                code="unsupported_media_type",
            )
        body = await self._json_object(request)
        validate(name, body)
        fields = {k: v for k, v in current.items() if k not in ("id", "updatedAt")}
        merged = merge_patch(fields, body)
        check_record(name, merged, self.records["companies"])
        if merged == fields:
            return JSONResponse(current)
        record = {"id": record_id, **merged, "updatedAt": format_timestamp(self.stamp(), zulu=True)}
        self.records[name][record_id] = record
        self.changes.wrote(name, record_id, record)
        self.persist_change(name, record_id, record)
        return JSONResponse(record)

    def delete(self, name: str, record_id: str) -> Response:
        self._find(name, record_id)
        if name == "companies" and any(
            c.get("companyId") == record_id for c in self.records["contacts"].values()
        ):
            raise HttpError(409, f"Contacts still belong to company {record_id}.")
        del self.records[name][record_id]
        self.changes.removed(name, record_id)
        self.persist_change(name, record_id, None)
        return Response(status_code=204)
