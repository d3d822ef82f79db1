"""PowerOffice Go v2 client (no Dagster): the system's dialect on top of `ConnectorClient`.

- Auth: client credentials, Basic `application_key:client_key` plus the subscription key.
- Lists: `PageNumber`/`PageSize`, a short page ends; `lastChangedDateTimeOffsetGreaterThan`.
- Writes: `POST /{Datatype}`; contact persons under their customer or supplier
  (`POST /ContactPersons/{contactId}`); updates are JSON Patch, one `replace` per property.
- Unknown insert outcomes: customers and suppliers carry the insert's reference in
  `ExternalImportReference`, contact persons in `ExternalCode`; the connector looks the record up
  by it. Employees, products, projects and (project or time-tracking) activities have no such
  field: the connector lists the records changed since shortly before the first attempt
  (`HttpSettings.match_window`) and takes the newest one whose fields equal every sent value.
  An identical record created by someone else in that window would be taken for ours; for a
  sync that is harmless (linking to an identical record), whereas a duplicate is not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from talk_assets.systems.connector.client import ConnectorClient
from talk_assets.systems.connector.errors import ApiError, RequestFailed, WriteRejected
from talk_assets.systems.connector.secrets import basic_auth
from talk_assets.systems.connector.transport import Transport, json_body
from talk_assets.systems.powerofficego.system import SPEC
from talk_assets.systems.records import flatten, same_value, unflatten
from talk_assets.systems.schema import Datatype
from talk_assets.systems.timestamps import timestamp_or_none

CHANGED_SINCE = "lastChangedDateTimeOffsetGreaterThan"
REFERENCE_FIELDS = {
    "customers": "ExternalImportReference",
    "suppliers": "ExternalImportReference",
    "contactpersons": "ExternalCode",
}
"""The field an insert writes its reference into, per datatype (looked up after a lost answer)."""
REFERENCE_FILTERS = {
    "ExternalImportReference": "externalImportReference",
    "ExternalCode": "externalCodes",  # comma-separated list: a reference with a comma scans all
}


def parse_problem(response: httpx.Response) -> tuple[str, str | None]:
    """Message and field of an RFC 7807 problem details answer."""
    body = response.json()
    if not isinstance(body, dict):
        return str(body), None
    message = str(body.get("detail") or body.get("title") or response.reason_phrase)
    errors = body.get("errors")
    if isinstance(errors, dict) and errors:
        field, details = next(iter(errors.items()))
        detail = details[0] if isinstance(details, list) and details else details
        if detail and str(detail) not in message:
            message = f"{message}: {detail}"
        return message, str(field)
    return message, None


def pointer(path: str) -> str:
    """A field path as a JSON Pointer: `MailAddress.City` -> `/MailAddress/City`."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in path.split("."))


def patch_operations(
    values: Mapping[str, Any], add_objects: set[str] | frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """One `replace` per property (`/MailAddress/City`); the properties of an object named in
    `add_objects` go as one `add` of that object (it is null in the record)."""
    ops: list[dict[str, Any]] = []
    objects: dict[str, dict[str, Any]] = {}
    for path, value in values.items():
        head, _, rest = path.partition(".")
        if rest and head in add_objects:
            objects.setdefault(head, {}).update(unflatten({rest: value}))
        else:
            ops.append({"op": "replace", "path": pointer(path), "value": value})
    ops += [{"op": "add", "path": pointer(head), "value": obj} for head, obj in objects.items()]
    return ops


class PowerOfficeGoClient(ConnectorClient):
    """PowerOffice Go v2 over HTTP. Sync methods, plus async `write_many`."""

    spec = SPEC

    # -- dialect ----------------------------------------------------------------------------

    def auth_headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Ocp-Apim-Subscription-Key": self.credentials["subscription_key"].reveal(),
        }

    def _parse_error(self, response: httpx.Response) -> tuple[str, str | None]:
        return parse_problem(response)

    def token_request(self) -> tuple[dict[str, str], dict[str, str]]:
        keys = self.credentials
        headers = {
            "Authorization": basic_auth(keys["application_key"], keys["client_key"]),
            "Ocp-Apim-Subscription-Key": keys["subscription_key"].reveal(),
        }
        return {"grant_type": "client_credentials"}, headers

    def _path(self, dt: Datatype, *parts: Any) -> str:
        return "/".join([str(dt.endpoint), *(str(p) for p in parts)])

    def _record_path(self, dt: Datatype, record_id: Any, parent_id: Any) -> str:
        if dt.parent_datatypes:
            if parent_id is None:
                raise WriteRejected(
                    f"a {dt.name} record is addressed under its parent: parent_id is required",
                    system=self.system.name,
                    datatype=dt.name,
                    field=dt.parent,
                    record_id=record_id,
                )
            return self._path(dt, parent_id, record_id)
        return self._path(dt, record_id)

    async def _list(
        self, t: Transport, dt: Datatype, params: dict[str, Any], page_size: int
    ) -> AsyncIterator[list[Any]]:
        number = 1
        while True:
            response = await t.send(
                "GET",
                self._path(dt),
                params={**params, "PageNumber": number, "PageSize": page_size},
                datatype=dt.name,
            )
            page = json_body(response, self.system.name, dt.name)
            if not isinstance(page, list):
                raise RequestFailed(
                    "a list answer is not a JSON array", system=self.system.name, datatype=dt.name
                )
            yield page
            if len(page) < page_size or number >= self.max_pages:
                return
            number += 1

    def _pages(
        self, t: Transport, dt: Datatype, since: str | None, page_size: int
    ) -> AsyncIterator[list[Any]]:
        return self._list(t, dt, {CHANGED_SINCE: since} if since else {}, page_size)

    async def _has_changes(self, t: Transport, dt: Datatype, since: str) -> bool:
        response = await t.send(
            "GET",
            self._path(dt),
            params={CHANGED_SINCE: since, "PageNumber": 1, "PageSize": 1},
            datatype=dt.name,
        )
        page = json_body(response, self.system.name, dt.name)
        return bool(page)

    async def _get(self, t: Transport, dt: Datatype, record_id: Any, parent_id: Any) -> Any:
        if dt.parent_datatypes and parent_id is None:
            raise ValueError(f"a {dt.name} record is read under its parent: pass parent_id")
        response = await t.send(
            "GET", self._record_path(dt, record_id, parent_id), datatype=dt.name
        )
        return json_body(response, self.system.name, dt.name)

    def _prepare_insert(
        self, dt: Datatype, values: dict[str, Any], reference: str, parent_id: Any
    ) -> tuple[dict[str, Any], Any]:
        values = dict(values)
        if dt.parent and dt.parent_datatypes:
            given = values.pop(dt.parent, None)
            parent_id = parent_id if parent_id is not None else given
            if parent_id is None:
                raise WriteRejected(
                    f"a new {dt.name} record needs its parent ({dt.parent}): pass parent_id",
                    system=self.system.name,
                    datatype=dt.name,
                    field=dt.parent,
                    values=values,
                    reference=reference,
                )
        ref_field = REFERENCE_FIELDS.get(dt.name)
        if ref_field and values.get(ref_field) in (None, ""):
            values[ref_field] = reference
        return values, parent_id

    async def _post(
        self, t: Transport, dt: Datatype, values: dict[str, Any], reference: str, parent_id: Any
    ) -> tuple[Any, int | None, bool]:
        path = self._path(dt, parent_id) if dt.parent_datatypes else self._path(dt)
        response = await t.send(
            "POST", path, json=unflatten(values), idempotent=False, datatype=dt.name
        )
        return json_body(response, self.system.name, dt.name), response.status_code, False

    async def _patch(
        self, t: Transport, dt: Datatype, record_id: Any, values: dict[str, Any], parent_id: Any
    ) -> httpx.Response:
        path = self._record_path(dt, record_id, parent_id)
        try:
            return await self._send_patch(t, dt, path, patch_operations(values))
        except ApiError as exc:
            if exc.status != 400 or not any("." in p for p in values):
                raise
            # A nested path under a null object (`MailAddress` unset) does not exist: add the
            # whole object instead. Looked up only after such a refusal, so it costs nothing
            # in the common case.
            current = await self._get(t, dt, record_id, parent_id)
            missing = {
                p.split(".", 1)[0]
                for p in values
                if "." in p
                and isinstance(current, dict)
                and current.get(p.split(".", 1)[0]) is None
            }
            if not missing:
                raise
            return await self._send_patch(t, dt, path, patch_operations(values, missing))

    async def _send_patch(
        self, t: Transport, dt: Datatype, path: str, ops: list[dict[str, Any]]
    ) -> httpx.Response:
        return await t.send(
            "PATCH", path, json=ops, content_type="application/json-patch+json", datatype=dt.name
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
        ref_field = REFERENCE_FIELDS.get(dt.name)
        size = self.settings.page_size or self.default_page_size
        if ref_field:
            wanted = values.get(ref_field) or reference
            params = {} if "," in wanted else {REFERENCE_FILTERS[ref_field]: wanted}
            async for page in self._list(t, dt, params, size):
                for record in page:
                    if isinstance(record, dict) and record.get(ref_field) == wanted:
                        return record
            return None
        since = (started - timedelta(seconds=self.settings.match_window)).isoformat()
        best: tuple[Any, Any] | None = None
        async for page in self._list(t, dt, {CHANGED_SINCE: since}, size):
            for record in page:
                if not isinstance(record, dict):
                    continue
                stored = flatten(dt, record)[0]
                if all(same_value(v, stored.get(p)) for p, v in values.items()):
                    changed = timestamp_or_none(stored.get(dt.last_changed.path))
                    key = (changed or started, stored.get(dt.id.path) or 0)
                    if best is None or key > best[0]:
                        best = (key, record)
        return None if best is None else best[1]
