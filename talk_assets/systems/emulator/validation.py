"""Payload validation against a datatype's schema: unknown, read-only and wrongly typed fields
(strict types, unlike the connector's lenient `records.coerce`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from talk_assets.systems.schema import Datatype, Field
from talk_assets.systems.timestamps import parse_timestamp

Json = dict[str, Any]

Shape = dict[str, "Field | Shape"]


def shape_of(dt: Datatype) -> Shape:
    """Nested field tree of a datatype: `{"MailAddress": {"City": Field, ...}, "Name": Field}`."""
    tree: Shape = {}
    for f in dt.fields:
        node = tree
        *parents, leaf = f.parts
        for part in parents:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[leaf] = f
    return tree


@dataclass(frozen=True)
class Problem:
    path: str
    kind: str  # unknown | read_only | type | required
    message: str


def check_type(f: Field, value: Any) -> str | None:
    """Why `value` is not a valid value of field `f`, or None. Null is always valid here."""
    if value is None:
        return None
    kind = f.type
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "date": isinstance(value, str),
        "datetime": isinstance(value, str),
    }[kind]
    if ok and kind == "date":
        try:
            date.fromisoformat(value)
            ok = len(value) == 10
        except ValueError:
            ok = False
    elif ok and kind == "datetime":
        try:
            parse_timestamp(value)
        except ValueError:
            ok = False
    if ok:
        return None
    want = {"date": "a date YYYY-MM-DD", "datetime": "an ISO 8601 date-time with offset"}
    return f"The value {json.dumps(value, ensure_ascii=False)} is not {want.get(kind, ('an ' if kind[0] in 'aeiou' else 'a ') + kind)}."


def check_object(
    shape: Shape, body: Any, *, prefix: str = "", ignore_case: bool = False
) -> tuple[Json, list[Problem]]:
    """Validate a (partial) record against a shape: unknown, read-only and wrongly typed fields.

    Returns the body with canonical field names. Read-only fields are refused when non-null.
    """
    if not isinstance(body, dict):
        return {}, [Problem(prefix.rstrip(".") or "$", "type", "Expected a JSON object.")]
    lookup = {k.lower(): k for k in shape} if ignore_case else {k: k for k in shape}
    out: Json = {}
    problems: list[Problem] = []
    for key, value in body.items():
        name = lookup.get(key.lower() if ignore_case else key)
        path = f"{prefix}{name or key}"
        if name is None:
            problems.append(Problem(path, "unknown", f"The field {path} does not exist."))
            continue
        node = shape[name]
        if isinstance(node, dict):
            if value is None:
                out[name] = None
                continue
            sub, subproblems = check_object(node, value, prefix=f"{path}.", ignore_case=ignore_case)
            out[name] = sub
            problems += subproblems
            continue
        if not node.writable and value is not None:
            problems.append(Problem(path, "read_only", f"The field {path} is read-only."))
            continue
        why = check_type(node, value)
        if why:
            problems.append(Problem(path, "type", f"{path}: {why}"))
            continue
        if node.writable:
            out[name] = value
    return out, problems


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
