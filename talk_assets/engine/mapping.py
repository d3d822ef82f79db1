"""Coercion (S6): values as canonical strings of a data type, and JSON rendering.

Every compared or stored value is a canonical string of its type, null meaning empty:
integer `"17"`, number `"17.0"`, boolean `"true"`/`"false"`, date `"2024-01-31"`, string and
datetime as sent. Empty is null, `""` or whitespace only. A non-empty value that does not
convert is null plus a failure flag, so one bad value never stops the rest of the record.
"""

from __future__ import annotations

import polars as pl

_TRUE = ["true", "1", "yes", "y", "on"]
_FALSE = ["false", "0", "no", "n", "off"]


def render(expr: pl.Expr, field_type: str) -> pl.Expr:
    """A typed column as a string, empty values null (no conversion yet)."""
    if field_type == "boolean":
        return pl.when(expr).then(pl.lit("true")).when(~expr).then(pl.lit("false"))
    s = expr.cast(pl.String)
    return pl.when(s.str.strip_chars() == "").then(pl.lit(None, pl.String)).otherwise(s)


def parse_to(s: pl.Expr, to_type: str) -> pl.Expr:
    """A string (as `render` gives) converted to the canonical string of `to_type`."""
    t = s.str.strip_chars()
    if to_type == "integer":
        f = t.cast(pl.Float64, strict=False)
        whole = pl.when(f.is_finite() & (f == f.round(0)) & (f.abs() < 9.0e15)).then(
            f.cast(pl.Int64)
        )
        return pl.coalesce(t.cast(pl.Int64, strict=False), whole).cast(pl.String)
    if to_type == "number":
        f = t.cast(pl.Float64, strict=False)
        return pl.when(f.is_finite()).then(f).cast(pl.String)
    if to_type == "boolean":
        low = t.str.to_lowercase()
        return (
            pl.when(low.is_in(_TRUE))
            .then(pl.lit("true"))
            .when(low.is_in(_FALSE))
            .then(pl.lit("false"))
        )
    if to_type == "date":
        return t.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).cast(pl.String)
    return s  # string, datetime: kept as sent


def coerce(expr: pl.Expr, from_type: str, to_type: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(raw rendered, canonical in to_type, failed) for a typed column."""
    raw = render(expr, from_type)
    if from_type == to_type or (to_type in ("string", "datetime") and from_type != "boolean"):
        value = raw
    elif from_type == "boolean" and to_type != "string":
        value = raw if to_type == "boolean" else pl.lit(None, pl.String)
    else:
        value = parse_to(raw, to_type)
    return raw, value, raw.is_not_null() & value.is_null()


def json_value(value: pl.Expr, type_: pl.Expr | str) -> pl.Expr:
    """JSON text of a canonical value: numbers and booleans bare, everything else a string."""
    quoted = (
        pl.struct(value.alias("v"))
        .struct.json_encode()
        .str.strip_prefix('{"v":')
        .str.strip_suffix("}")
    )
    typ = pl.lit(type_) if isinstance(type_, str) else type_
    return pl.when(typ.is_in(["integer", "number", "boolean"])).then(value).otherwise(quoted)


def json_object(keys: pl.Expr, values: pl.Expr) -> pl.Expr:
    """Aggregation: a JSON object string from key and JSON-value columns of a group."""
    pairs = pl.concat_str([pl.lit('"'), keys, pl.lit('":'), values])
    return pl.concat_str([pl.lit("{"), pairs.str.join(","), pl.lit("}")])


TYPES = ("string", "integer", "number", "boolean", "date", "datetime")

_TEMPORAL = ("date", "datetime", "string")


def comparison_type(source_type: str, target_type: str, mapping_type: str) -> str:
    """The type a mapping's two values are compared (and synced) in: the weaker of the two
    fields' types where one of them cannot hold what the mapping type could (S5, S6).

    A date field cannot hold a time of day: a date-time (or a date-time in a string field)
    that differs from a date only by its time is the same value, so it is not written back as
    a bare date over the user's time.
    """
    both = {source_type, target_type}
    if mapping_type in _TEMPORAL and "date" in both and both <= set(_TEMPORAL):
        return "date"
    return mapping_type


def parse_dynamic(s: pl.Expr, type_col: pl.Expr) -> pl.Expr:
    """`parse_to` with the type taken per row from a column (for small frames)."""
    out = pl.when(type_col == "string").then(s)
    for t in TYPES[1:]:
        out = out.when(type_col == t).then(parse_to(s, t))
    return out.otherwise(s)
