"""PowerOffice Go payloads: RFC 7807 problem details, full records (every field, null when
unset) and RFC 6902 JSON Patch against a typed record."""

from __future__ import annotations

import copy
import json
from typing import Any

from starlette.responses import JSONResponse, Response

from talk_assets.systems.emulator.app import HttpError
from talk_assets.systems.emulator.validation import Problem, Shape, check_object, check_type
from talk_assets.systems.schema import Field

Json = dict[str, Any]

TITLES = {
    400: "One or more validation errors occurred.",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem(status: int, detail: str, errors: dict[str, list[str]] | None = None) -> Response:
    body = {"title": TITLES.get(status, "Error"), "status": status, "detail": detail}
    body["errors"] = errors or {}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def invalid(problems: list[Problem]) -> HttpError:
    errors: dict[str, list[str]] = {}
    for p in problems:
        errors.setdefault(p.path, []).append(p.message)
    return HttpError(400, "; ".join(p.message for p in problems), errors=errors)


def blank(shape: Shape) -> Json:
    """A record with every field null (nested objects are null too)."""
    return {name: None for name in shape}


def full_object(shape: Shape, value: Json) -> Json:
    return {name: value.get(name) for name in shape}


# --- JSON Patch (RFC 6902) against a typed record ---------------------------------------------

OPS = ("add", "remove", "replace", "test", "move", "copy")


def _pointer(shape: Shape, pointer: Any, label: str) -> tuple[tuple[str, ...], Field | Shape]:
    """Canonical field names of a JSON pointer, and the field or object it points at."""
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise HttpError(
            400,
            f"{label} must be a JSON pointer like /FirstName.",
            errors={label: ["Invalid pointer."]},
        )
    node: Field | Shape = shape
    names: list[str] = []
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict):
            node = {}
        match = next((k for k in node if k.lower() == token.lower()), None)
        if match is None:
            msg = f"The target location specified by path '{pointer}' was not found."
            raise HttpError(400, msg, errors={pointer: [msg]})
        names.append(match)
        node = node[match]
    return tuple(names), node


def _check_value(node: Field | Shape, value: Any, path: str) -> Any:
    if isinstance(node, dict):
        if value is None:
            return None
        values, problems = check_object(
            node, value, prefix=path.strip("/").replace("/", ".") + ".", ignore_case=True
        )
        if problems:
            raise invalid(problems)
        return full_object(node, values)
    if not node.writable:
        raise HttpError(
            400,
            f"The field {node.path} is read-only.",
            errors={node.path: ["The field is read-only."]},
        )
    why = check_type(node, value)
    if why:
        raise HttpError(400, f"{node.path}: {why}", errors={node.path: [why]})
    return value


def _parent(doc: Json, names: tuple[str, ...], pointer: str) -> Json:
    parent: Any = doc
    for name in names[:-1]:
        parent = parent.get(name) if isinstance(parent, dict) else None
    if not isinstance(parent, dict):
        msg = f"The target location specified by path '{pointer}' was not found."
        raise HttpError(400, msg, errors={pointer: [msg]})
    return parent


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def apply_patch(shape: Shape, current: Json, operations: list[Any]) -> Json:
    """The record after all operations, or HttpError(400) with nothing applied."""
    doc = copy.deepcopy(current)
    for i, op in enumerate(operations):
        if not isinstance(op, dict) or op.get("op") not in OPS or "path" not in op:
            raise HttpError(400, f"Operation {i} needs an op ({', '.join(OPS)}) and a path.")
        kind, pointer = op["op"], op["path"]
        names, node = _pointer(shape, pointer, "path")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise HttpError(400, f"Operation {i} ({kind} {pointer}) needs a value.")
        if kind == "test":
            actual = _parent(doc, names, pointer).get(names[-1])
            if not _same(actual, op["value"]):
                msg = f"Test failed: {pointer} is {json.dumps(actual, ensure_ascii=False)}."
                raise HttpError(400, msg, errors={pointer: [msg]})
            continue
        if kind in ("move", "copy"):
            if "from" not in op:
                raise HttpError(400, f"Operation {i} ({kind}) needs a from pointer.")
            src_names, src_node = _pointer(shape, op["from"], "from")
            value = copy.deepcopy(_parent(doc, src_names, op["from"]).get(src_names[-1]))
            if kind == "move":
                _check_value(src_node, None, op["from"])
                _parent(doc, src_names, op["from"])[src_names[-1]] = None
        elif kind == "remove":
            value = None
        else:
            value = op["value"]
        value = _check_value(node, value, pointer)
        _parent(doc, names, pointer)[names[-1]] = value
    return doc
