"""Crmoffice emulator payloads: error bodies, RFC 7386 merge patches and the record checks
(request fields, required fields, `startsAt`, `companyId`)."""

from __future__ import annotations

import copy
from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from starlette.responses import JSONResponse, Response

from talk_assets.systems.crmoffice.schema import CRMOFFICE
from talk_assets.systems.emulator.app import HttpError
from talk_assets.systems.emulator.validation import Shape, check_object, is_empty, shape_of
from talk_assets.systems.schema import Datatype

Json = dict[str, Any]

DATATYPES: dict[str, Datatype] = {dt.endpoint: dt for dt in CRMOFFICE.datatypes if dt.endpoint}
SHAPES: dict[str, Shape] = {name: shape_of(dt) for name, dt in DATATYPES.items()}

CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def error_response(
    status: int, message: str, field: str | None = None, code: str | None = None
) -> Response:
    body = {
        "error": {"code": code or CODES.get(status, "error"), "message": message, "field": field}
    }
    return JSONResponse(body, status_code=status)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def valid_starts_at(value: str) -> bool:
    try:
        if len(value) == 10:
            date.fromisoformat(value)
        else:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def validate(name: str, body: Json) -> Json:
    """The request body's values; 400 for unknown or read-only fields, 422 for wrong types."""
    values, problems = check_object(SHAPES[name], body)
    for p in problems:
        status = 422 if p.kind == "type" else 400
        raise HttpError(status, p.message, field=p.path)
    return values


def check_record(name: str, record: Json, companies: Collection[str]) -> None:
    """422 for a record missing a required field, with a bad `startsAt`, or a `companyId`
    naming none of `companies`."""
    for f in DATATYPES[name].required:
        if is_empty(record.get(f)):
            raise HttpError(422, f"The field {f} is required.", field=f)
    starts = record.get("startsAt")
    if name == "activities" and starts is not None and not valid_starts_at(starts):
        raise HttpError(
            422, f"startsAt {starts!r} is not an ISO date or date-time.", field="startsAt"
        )
    company = record.get("companyId")
    if name == "contacts" and company is not None and company not in companies:
        raise HttpError(422, f"companyId {company!r} names no company.", field="companyId")
