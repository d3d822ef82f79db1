"""The Powerofficego emulator: PowerOffice Go API v2 as shared/design/SYSTEMS.md describes it.

- `POST /OAuth/Token`: form `grant_type=client_credentials`, `Authorization: Basic
  base64(application_key:client_key)`, `Ocp-Apim-Subscription-Key`. Answers `{"access_token",
  "token_type": "Bearer", "expires_in": 1200}`.
- Every call needs `Ocp-Apim-Subscription-Key` and `Authorization: Bearer ...` (401 without).
  10 requests per second per subscription key (token requests included), else 429 with
  `Retry-After`.
- `GET /v2/{Customers|Suppliers|Employees|Products|Projects|ContactPersons|ProjectActivities|
  TimeTracking/Activities}`: a bare JSON array ordered by `Id`; `PageNumber` (from 1) and
  `PageSize` (default 5000, 1..20000); an empty page is `[]` with 200. Filters (query names match case-insensitively, as in ASP.NET):
  - `lastChangedDateTimeOffsetGreaterThan=ISO` (exclusive; an offset is required),
  - `externalImportReference=REF` on Customers and Suppliers (exact match): the lookup of a
    record by the reference written on insert,
  - `contactIds=1,2` and `externalCodes=A,B` on ContactPersons (comma-separated, any of).
- `POST /v2/{Datatype}` answers 201 with the created record (`Id`, `LastChangedDateTimeOffset`
  set); `POST /v2/ContactPersons/{contactId}` creates a contact person under a customer or
  supplier (404 if there is none).
- `GET|PATCH|DELETE /v2/{Datatype}/{Id}` and `/v2/ContactPersons/{contactId}/{Id}`. PATCH takes
  `Content-Type: application/json-patch+json` (else 415) and RFC 6902 operations: add, remove,
  replace, test, move, copy, with nested paths (`/MailAddress/City`); path names match
  case-insensitively. Records have every field (null when unset), so `remove` sets null; a
  nested path under a null `MailAddress` does not exist (400): add the whole object instead.
  A failed `test` or any invalid operation rejects the whole patch (400). A patch that changes
  nothing leaves `LastChangedDateTimeOffset` as it was. DELETE answers 200 with no body; 409 for
  a customer or supplier that still has contact persons, or a project with project activities.
- Validation: unknown fields, read-only fields (`Id`, `LastChangedDateTimeOffset`,
  `MailAddress.Id`) and wrong types are 400 problem details naming the field in `errors`;
  required fields (contact persons and employees: FirstName and LastName; products, projects
  and time-tracking activities: Name; project activities: ProjectId, naming an existing project,
  and Name; customers and suppliers: a Name or a LastName). Contact persons have no
  `DateOfBirth` (as the real ContactPersonDto): sending one is a 400 naming it. A person's
  missing `Name` is derived from FirstName and LastName (and follows them when they change).
  `MailAddress` gets an `Id` unique across customers and suppliers; replacing the object keeps
  its Id. Customers, suppliers and employees get the next free `Number` when none is given.
- Errors are RFC 7807 problem details `{"title", "status", "detail", "errors": {field: [..]}}`.
"""

from __future__ import annotations

import base64
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

from talk_assets.systems.emulator.app import Emulator, HttpError
from talk_assets.systems.emulator.recency import ChangeIndex
from talk_assets.systems.emulator.validation import Shape, check_object, shape_of
from talk_assets.systems.powerofficego.payloads import (
    apply_patch,
    blank,
    full_object,
    invalid,
    problem,
)
from talk_assets.systems.powerofficego.records import (
    PARTIES,
    Numbers,
    check_references,
    complete,
    referenced_by,
    refuse_not_in_api,
)
from talk_assets.systems.powerofficego.sample_data import ID_START as POWEROFFICEGO_ID_START
from talk_assets.systems.powerofficego.schema import POWEROFFICEGO
from talk_assets.systems.powerofficego.system import SPEC
from talk_assets.systems.schema import Datatype
from talk_assets.systems.timestamps import format_timestamp, parse_timestamp

Json = dict[str, Any]

DATATYPES: dict[str, Datatype] = {
    dt.endpoint.lower(): dt for dt in POWEROFFICEGO.datatypes if dt.endpoint is not None
}
SHAPES: dict[str, Shape] = {dt.name: shape_of(dt) for dt in DATATYPES.values()}
SEQUENCE = {
    "customers": "contacts",
    "suppliers": "contacts",
    "contactpersons": "contactpersons",
    "employees": "employees",
    "products": "products",
    "projects": "projects",
    "timetrackingactivities": "timetrackingactivities",
    "projectactivities": "projectactivities",
}
MAX_PAGE_SIZE = 20_000


class PowerofficegoEmulator(Emulator):
    spec = SPEC
    id_field = "Id"

    def __init__(self, **options: Any) -> None:
        self.records: dict[str, dict[int, Json]] = {name: {} for name in SEQUENCE}
        self.numbers = Numbers(self.records)
        self.next_ids: dict[str, int] = dict(POWEROFFICEGO_ID_START)
        self.changes = ChangeIndex("LastChangedDateTimeOffset")
        super().__init__(**options)

    # --- state -----------------------------------------------------------------------------------

    def load_records(self, records: dict[str, list[Json]]) -> None:
        self.restore({"records": records})

    def restore(self, snapshot: Json) -> None:
        records: dict[str, list[Json]] = snapshot.get("records", {})
        # stored records take the current shape (a field the API dropped, such as contact
        # persons' DateOfBirth in an older data file, goes; a new one is null)
        self.records = {
            name: {r["Id"]: {k: r.get(k) for k in SHAPES[name]} for r in records.get(name, [])}
            for name in SEQUENCE
        }
        self.numbers = Numbers(self.records, snapshot.get("numbers"))
        self.next_ids = dict(POWEROFFICEGO_ID_START)
        for name, rows in self.records.items():
            seq = SEQUENCE[name]
            if rows:
                self.next_ids[seq] = max(self.next_ids[seq], max(rows) + 1)
            for row in rows.values():
                self.clock.observe(parse_timestamp(row["LastChangedDateTimeOffset"]))
                address = row.get("MailAddress")
                if name in PARTIES and address and address.get("Id"):
                    self.next_ids["addresses"] = max(self.next_ids["addresses"], address["Id"] + 1)
        for seq, value in snapshot.get("next_ids", {}).items():
            self.next_ids[seq] = max(self.next_ids.get(seq, 0), value)
        self.changes.rebuild(self.records)

    def snapshot(self) -> Json:
        return {
            "records": {name: list(rows.values()) for name, rows in self.records.items()},
            "next_ids": self.next_ids,
            "numbers": self.numbers.high_water(),
        }

    def new_id(self, sequence: str) -> int:
        value = self.next_ids[sequence]
        self.next_ids[sequence] = value + 1
        return value

    # --- HTTP plumbing ---------------------------------------------------------------------------

    def error(
        self, status: int, message: str, *, field: str | None = None, code: str | None = None
    ) -> Response:
        return problem(status, message, {field: [message]} if field else None)

    def build_app(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        async def not_found(request: Request, exc: Exception) -> Response:
            status = getattr(exc, "status_code", 404)
            return problem(status, f"No resource {request.method} {request.url.path}.")

        return Starlette(
            routes=[
                Route("/OAuth/Token", self.token, methods=["POST"]),
                Route("/v2/{rest:path}", self.dispatch, methods=["GET", "POST", "PATCH", "DELETE"]),
            ],
            exception_handlers={404: not_found, 405: not_found},
        )

    async def guard(self, request: Request) -> Response | None:
        key = request.headers.get("ocp-apim-subscription-key")
        if not key:
            return problem(401, "Access denied due to missing subscription key.")
        if key != self.credentials["subscription_key"]:
            return problem(401, "Access denied due to invalid subscription key.")
        wait = self.limiter.retry_after(key)
        if wait is not None:
            answer = problem(429, f"Rate limit is exceeded. Try again in {wait} seconds.")
            answer.headers["Retry-After"] = str(wait)
            return answer
        if not request.url.path.startswith("/v2"):
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return problem(401, "The access token is missing.")
        subject, why = self.tokens.check(token.strip())
        return None if subject else problem(401, why)

    async def token(self, request: Request) -> Response:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            app_key, _, client_key = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            app_key = client_key = ""
        if scheme.lower() != "basic" or (app_key, client_key) != (
            self.credentials["application_key"],
            self.credentials["client_key"],
        ):
            return problem(401, "invalid_client: the application key or client key is wrong.")
        form = parse_qs((await request.body()).decode(errors="replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return problem(
                400,
                "unsupported_grant_type: grant_type must be client_credentials.",
                {"grant_type": ["grant_type must be client_credentials."]},
            )
        return JSONResponse(
            {
                "access_token": self.tokens.issue(app_key),
                "token_type": "Bearer",
                "expires_in": math.ceil(self.tokens.ttl),
            }
        )

    def error_of(self, exc: HttpError) -> Response:
        errors = exc.errors or ({exc.field: [exc.message]} if exc.field else None)
        return problem(exc.status, exc.message, errors)

    async def dispatch(self, request: Request) -> Response:
        return await self.handle(self._dispatch)(request)

    async def _dispatch(self, request: Request) -> Response:
        parts = [p for p in request.path_params["rest"].split("/") if p]
        method = request.method
        # the longest endpoint the path starts with (`TimeTracking/Activities/7`)
        n = next((n for n in (2, 1) if "/".join(parts[:n]).lower() in DATATYPES), 0)
        if not parts or not n:
            raise HttpError(404, f"No resource {method} {request.url.path}.")
        dt = DATATYPES["/".join(parts[:n]).lower()]
        ids = [self._int(p, request) for p in parts[n:]]
        routes: dict[int, dict[str, Callable[[], Awaitable[Response]]]]
        if dt.name == "contactpersons":
            routes = {
                0: {"GET": lambda: self.list_records(dt, request)},
                1: {"POST": lambda: self.create(dt, request, owner=ids[0])},
                2: {
                    "GET": lambda: self.get(dt, ids[1], owner=ids[0]),
                    "PATCH": lambda: self.patch(dt, ids[1], request, owner=ids[0]),
                    "DELETE": lambda: self.delete(dt, ids[1], owner=ids[0]),
                },
            }
        else:
            routes = {
                0: {
                    "GET": lambda: self.list_records(dt, request),
                    "POST": lambda: self.create(dt, request),
                },
                1: {
                    "GET": lambda: self.get(dt, ids[0]),
                    "PATCH": lambda: self.patch(dt, ids[0], request),
                    "DELETE": lambda: self.delete(dt, ids[0]),
                },
            }
        handlers = routes.get(len(ids))
        if handlers is None:
            raise HttpError(404, f"No resource {method} {request.url.path}.")
        if method not in handlers:
            raise HttpError(405, f"{method} is not allowed on {request.url.path}.")
        return await handlers[method]()

    @staticmethod
    def _int(text: str, request: Request) -> int:
        try:
            return int(text)
        except ValueError:
            raise HttpError(404, f"No resource {request.method} {request.url.path}.") from None

    @staticmethod
    async def _json(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw)
        except ValueError:
            raise HttpError(400, "The request body is not valid JSON.") from None

    # --- endpoints -------------------------------------------------------------------------------

    async def list_records(self, dt: Datatype, request: Request) -> Response:
        params = {k.lower(): v for k, v in request.query_params.items()}
        page = self._param_int(params, "pagenumber", 1, 1, None)
        size = self._param_int(params, "pagesize", 5000, 1, MAX_PAGE_SIZE)
        since, bound = params.get("lastchangeddatetimeoffsetgreaterthan"), None
        if since:
            try:
                bound = format_timestamp(parse_timestamp(since))
            except ValueError:
                raise HttpError(
                    400,
                    "lastChangedDateTimeOffsetGreaterThan must be an ISO 8601 date-time with offset.",
                    errors={
                        "lastChangedDateTimeOffsetGreaterThan": [
                            f"The value {since!r} is not valid."
                        ]
                    },
                ) from None
        rows = self.changes.listing(dt.name, self.records[dt.name], bound)
        ref = params.get("externalimportreference", "").strip()
        if ref and dt.name in PARTIES:
            rows = [r for r in rows if r["ExternalImportReference"] == ref]
        if dt.name == "contactpersons":
            for param, fld, cast in (
                ("contactids", "ContactId", int),
                ("externalcodes", "ExternalCode", str),
            ):
                text = params.get(param, "").strip()
                if not text:
                    continue
                try:
                    wanted = {cast(v.strip()) for v in text.split(",") if v.strip()}
                except ValueError:
                    raise HttpError(400, f"{param} must be a comma-separated list.") from None
                rows = [r for r in rows if r[fld] in wanted]
        start = (page - 1) * size
        return JSONResponse(rows[start : start + size])

    @staticmethod
    def _param_int(
        params: dict[str, str], name: str, default: int, low: int, high: int | None
    ) -> int:
        text = params.get(name)
        if text is None or not text.strip():
            return default
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            label = {"pagenumber": "PageNumber", "pagesize": "PageSize"}[name]
            bounds = f"from {low} to {high}" if high else f"at least {low}"
            msg = f"{label} must be an integer {bounds}."
            raise HttpError(400, msg, errors={label: [msg]})
        return value

    def _find(self, dt: Datatype, record_id: int, owner: int | None = None) -> Json:
        row = self.records[dt.name].get(record_id)
        if row is None or (owner is not None and row["ContactId"] != owner):
            raise HttpError(404, f"{dt.endpoint} with id = {record_id} not found.")
        return row

    async def get(self, dt: Datatype, record_id: int, owner: int | None = None) -> Response:
        return JSONResponse(self._find(dt, record_id, owner))

    async def create(self, dt: Datatype, request: Request, owner: int | None = None) -> Response:
        shape = SHAPES[dt.name]
        body = await self._json(request)
        if owner is not None:
            if not any(owner in self.records[p] for p in PARTIES):
                raise HttpError(404, f"Contact (customer or supplier) with id = {owner} not found.")
            if isinstance(body, dict):
                given = {k.lower(): v for k, v in body.items()}.get("contactid", owner)
                if given not in (None, owner):
                    msg = f"ContactId {given} does not match the contact {owner} in the path."
                    raise HttpError(400, msg, errors={"ContactId": [msg]})
                body = {k: v for k, v in body.items() if k.lower() != "contactid"}
        refuse_not_in_api(dt, list(body) if isinstance(body, dict) else [])
        values, problems = check_object(shape, body, ignore_case=True)
        if problems:
            raise invalid(problems)
        record = blank(shape)
        for name, value in values.items():
            node = shape[name]
            record[name] = full_object(node, value) if isinstance(node, dict) and value else value
        if owner is not None:
            record["ContactId"] = owner
        complete(dt, record, None, lambda: self.new_id("addresses"))
        check_references(dt, record, self.records)
        record["Id"] = self.new_id(SEQUENCE[dt.name])
        if "Number" in record and record["Number"] is None:
            record["Number"] = self.numbers.next(dt.name)
        self.numbers.note(dt.name, record)
        record["LastChangedDateTimeOffset"] = format_timestamp(self.stamp())
        self.records[dt.name][record["Id"]] = record
        self.changes.wrote(dt.name, record["Id"], record)
        self.persist_change(dt.name, record["Id"], record, numbers=self.numbers.high_water())
        return JSONResponse(record, status_code=201)

    async def patch(
        self, dt: Datatype, record_id: int, request: Request, owner: int | None = None
    ) -> Response:
        current = self._find(dt, record_id, owner)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json-patch+json":
            raise HttpError(415, "PATCH takes Content-Type: application/json-patch+json.")
        operations = await self._json(request)
        if not isinstance(operations, list):
            raise HttpError(400, "A JSON Patch document is a JSON array of operations.")
        refuse_not_in_api(dt, [op.get("path", "") for op in operations if isinstance(op, dict)])
        doc = apply_patch(SHAPES[dt.name], current, operations)
        complete(dt, doc, current, lambda: self.new_id("addresses"))
        check_references(dt, doc, self.records)
        if doc == current:
            return JSONResponse(current)
        self.numbers.note(dt.name, doc)
        doc["LastChangedDateTimeOffset"] = format_timestamp(self.stamp())
        self.records[dt.name][record_id] = doc
        self.changes.wrote(dt.name, record_id, doc)
        self.persist_change(dt.name, record_id, doc, numbers=self.numbers.high_water())
        return JSONResponse(doc)

    async def delete(self, dt: Datatype, record_id: int, owner: int | None = None) -> Response:
        self._find(dt, record_id, owner)
        if dt.name in PARTIES and any(
            r["ContactId"] == record_id for r in self.records["contactpersons"].values()
        ):
            raise HttpError(409, f"{dt.endpoint} with id = {record_id} has contact persons.")
        child = referenced_by(dt.name, record_id, self.records)
        if child is not None:
            raise HttpError(409, f"{dt.endpoint} with id = {record_id} has {child}.")
        del self.records[dt.name][record_id]
        self.changes.removed(dt.name, record_id)
        self.persist_change(dt.name, record_id, None)
        return Response(status_code=200)
