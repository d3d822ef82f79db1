"""Records between a system's JSON and the product's frames, by the datatype schema: flatten a
payload to exactly its fields (coerced, problems reported), unflatten for writes, collect frames
and cursors (`FrameBuilder`), compare a sent and a stored value (`same_value`)."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import polars as pl

from talk_assets.systems.schema import Datatype, SchemaError
from talk_assets.systems.timestamps import timestamp_or_none


class ValueProblem(NamedTuple):
    """A value read from a system that does not fit its declared type (kept as null)."""

    record_id: Any
    field: str
    value: Any
    reason: str


_MISSING = object()
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_INT64 = (-(2**63), 2**63 - 1)


def coerce(type_: str, value: Any) -> tuple[Any, str | None]:
    """`value` as the Python value of a column of `type_`, or (None, reason) when it does not fit.

    Lossless conversions are silent (an integer 17 sent as "17", a number in a string field);
    a date or date-time that does not parse is kept as text (the column is text) but reported.
    """
    if value is None:
        return None, None
    if isinstance(value, dict | list):
        return None, f"expected {type_}, got {'object' if isinstance(value, dict) else 'array'}"
    if type_ == "string":
        if isinstance(value, bool):
            return ("true" if value else "false"), None
        return (value if isinstance(value, str) else str(value)), None
    if type_ == "integer":
        number: Any = value
        if isinstance(value, bool):
            return None, "expected integer, got boolean"
        if isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                return None, "expected integer, got text"
        if isinstance(number, float):
            if not number.is_integer():
                return None, "expected integer, got a fraction"
            number = int(number)
        if not _INT64[0] <= number <= _INT64[1]:
            return None, "integer out of 64-bit range"
        return number, None
    if type_ == "number":
        if isinstance(value, bool):
            return None, "expected number, got boolean"
        if isinstance(value, str):
            try:
                return float(value.strip()), None
            except ValueError:
                return None, "expected number, got text"
        return float(value), None
    if type_ == "boolean":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true", None
        if isinstance(value, int) and value in (0, 1):
            return bool(value), None
        return None, f"expected boolean, got {type(value).__name__}"
    if type_ in ("date", "datetime"):
        if not isinstance(value, str):
            return None, f"expected ISO {type_} text, got {type(value).__name__}"
        if not _parses_as_date(value, type_):
            return value, f"not an ISO {type_}"
        return value, None
    raise SchemaError(f"unknown field type {type_!r}")


def _parses_as_date(text: str, type_: str) -> bool:
    if not _DATE.match(text):
        return False
    try:
        if type_ == "date" and len(text) == 10:
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _dig(record: Mapping[str, Any], parts: tuple[str, ...]) -> tuple[Any, str | None]:
    node: Any = record
    for i, part in enumerate(parts):
        if node is None:
            return None, None
        if not isinstance(node, Mapping):
            return None, f"{'.'.join(parts[:i])} is not an object"
        node = node.get(part, _MISSING)
        if node is _MISSING:
            return None, None
    return node, None


_NATIVE: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}


@functools.cache
def _plan(dt: Datatype) -> tuple[tuple[str, tuple[str, ...], str, type | None], ...]:
    return tuple((f.path, f.parts, f.type, _NATIVE.get(f.type)) for f in dt.fields)


def flatten(dt: Datatype, record: Mapping[str, Any]) -> tuple[dict[str, Any], list[ValueProblem]]:
    """A payload as {field path: value} with exactly the datatype's fields, coerced to their
    types; values that do not fit become null (dates: kept as text) and are reported."""
    values: dict[str, Any] = {}
    problems: list[ValueProblem] = []
    rid = record.get(dt.id_field) if isinstance(record, Mapping) else None
    for path, parts, type_, native in _plan(dt):
        if len(parts) == 1 and isinstance(record, dict):
            raw, problem = record.get(path), None
        elif len(parts) == 2 and isinstance(record, dict):
            node = record.get(parts[0])
            if node is None or isinstance(node, dict):
                raw, problem = (node.get(parts[1]) if node else None), None
            else:
                raw, problem = None, f"{parts[0]} is not an object"
        else:
            raw, problem = _dig(record, parts)
        # Fast path: the JSON type already is the column's type (int64 range checked).
        if problem is None and (
            raw is None
            or (type(raw) is native and (native is not int or _INT64[0] <= raw <= _INT64[1]))
        ):
            values[path] = raw
            continue
        if problem is None:
            value, problem = coerce(type_, raw)
        else:
            value = None
        values[path] = value
        if problem is not None:
            problems.append(ValueProblem(rid, path, raw, problem))
    return values, problems


def unflatten(values: Mapping[str, Any]) -> dict[str, Any]:
    """{`MailAddress.City`: v} as {`MailAddress`: {`City`: v}}."""
    out: dict[str, Any] = {}
    for path, value in values.items():
        *parents, leaf = path.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def to_json_value(value: Any) -> Any:
    """A value as JSON can carry it (dates as ISO text, decimals as numbers)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def writable_values(dt: Datatype, values: Mapping[str, Any]) -> dict[str, Any]:
    """Values keyed by field path, names resolved through the schema (case-insensitive, aliases);
    read-only and identity fields are dropped (ids and timestamps come from the system)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        f = dt.field(name)
        if f.writable:
            out[f.path] = to_json_value(value)
    return out


class FrameBuilder:
    """Collects flattened records into columns; later copies of an id replace earlier ones."""

    def __init__(self, dt: Datatype) -> None:
        self.dt = dt
        self.columns: dict[str, list[Any]] = {f.path: [] for f in dt.fields}
        self.problems: list[ValueProblem] = []
        self._rows: dict[Any, int] = {}
        self._max_changed: tuple[datetime, str] | None = None

    def add(self, record: Any) -> None:
        if not isinstance(record, Mapping):
            self.problems.append(ValueProblem(None, "", record, "record is not an object"))
            return
        values, problems = flatten(self.dt, record)
        self.problems.extend(problems)
        rid = values[self.dt.id.path]
        row = self._rows.get(rid) if rid is not None else None
        if row is None:
            if rid is not None:
                self._rows[rid] = len(self.columns[self.dt.id.path])
            for path, value in values.items():
                self.columns[path].append(value)
        else:
            for path, value in values.items():
                self.columns[path][row] = value
        changed_text = values[self.dt.last_changed.path]
        changed = timestamp_or_none(changed_text)
        if changed is not None and (self._max_changed is None or changed > self._max_changed[0]):
            self._max_changed = (changed, changed_text)

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.columns, schema=self.dt.polars_schema())

    def cursor(self, previous: str | None) -> str | None:
        """The max last-changed value seen, or the previous cursor when nothing newer came."""
        if self._max_changed is None:
            return previous
        previous_at = timestamp_or_none(previous)
        if previous_at is not None and previous_at >= self._max_changed[0]:
            return previous
        return self._max_changed[1]


def same_value(sent: Any, stored: Any) -> bool:
    """Loose equality of a sent value and the value the system stored."""
    if sent in (None, "") or stored in (None, ""):
        return sent in (None, "") and stored in (None, "")
    if isinstance(sent, bool) or isinstance(stored, bool):
        return type(sent) is type(stored) and sent == stored
    if isinstance(sent, int | float) and isinstance(stored, int | float):
        return math.isclose(float(sent), float(stored), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(sent, str) and isinstance(stored, str):
        return sent.strip() == stored.strip()
    return str(sent) == str(stored)
