"""The cluster closure of `engine.scope.closure`, asked of the tenant file hop by hop.

`engine.scope.closure` follows links, reference fields and shared merge-criterion values from
the changed records over frames holding every record; reading those frames costs in
proportion to the tenant (every link, every record's criterion and reference columns). Here
each hop asks DuckDB only for the rows that touch the records found in the hop before: the
links naming them, the referencing and referenced records, and the records whose criterion
value equals one of theirs. DuckDB still scans the columns it filters, but nothing
unconnected reaches Python, so a run's time and memory follow its clusters, not the tenant.

The answer equals `closure(seeds, links + reference_links, criterion_values)` over the whole
store (`talk_assets_tests/defs/test_scope_queries.py`): criterion values are compared as
`merging.criterion_value` renders them: an integer column as stored (its text is its digits,
the values are cast to its type, `id_in`), a string column trimmed of exactly the characters
polars' `strip_chars` removes (Unicode White_Space), and each candidate is checked again with
`criterion_value` itself; a criterion column of another type is read whole, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from talk_assets.engine.flows import FlowCtx
from talk_assets.engine.merging import criterion_value
from talk_assets.engine.schemas import conform
from talk_assets.engine.scope import MAX_ROUNDS
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore, q
from talk_assets.systems import Datatype

WHITE_SPACE = "".join(
    chr(c)
    for c in (
        *range(0x09, 0x0E),
        0x20,
        0x85,
        0xA0,
        0x1680,
        *range(0x2000, 0x200B),
        0x2028,
        0x2029,
        0x202F,
        0x205F,
        0x3000,
    )
)
"""Unicode White_Space: what `str.strip_chars()` (Rust `str::trim`) removes."""


@dataclass(frozen=True)
class _Criterion:
    group: str
    dt: Datatype
    path: str
    field_type: str


@dataclass(frozen=True)
class _Reference:
    dt: Datatype
    path: str
    target: str
    """The referenced datatype's key."""


def stored_closure(
    store: TenantStore, seeds: pl.Series, datatypes: Sequence[Datatype], ctxs: list[FlowCtx]
) -> pl.Series:
    """The record keys connected to `seeds` in the store (seeds included, sorted), as
    `engine.scope.closure` finds them over every record."""
    stored = {dt.key: dt for dt in datatypes if dt.name in store.table_names(dt.system)}
    criteria = [c for c in _criteria(ctxs) if c.dt.key in stored]
    references = [
        _Reference(dt, f.path, f"{dt.system}.{f.references}")
        for dt in stored.values()
        for f in dt.references
    ]
    has_links = "links" in store.table_names(STATE_SCHEMA)
    scope = seeds.cast(pl.String).drop_nulls().unique().rename("record")
    frontier, seen_values = scope, pl.DataFrame(schema={"group": pl.String, "value": pl.String})
    for _ in range(MAX_ROUNDS):
        ids = _ids_by_datatype(frontier)
        found = [_linked(store, frontier)] if has_links else []
        found += [_referenced(store, r, ids) for r in references]
        values = pl.concat(
            [_values_of(store, c, ids[c.dt.key]) for c in criteria if c.dt.key in ids]
            + [seen_values.clear()]
        ).unique()
        values = values.join(seen_values, on=["group", "value"], how="anti")
        seen_values = pl.concat([seen_values, values])
        found += [_sharing(store, c, values) for c in criteria]
        grown = pl.concat([frontier.clear(), *found]).unique()
        frontier = grown.filter(~grown.is_in(scope.implode()))
        if frontier.is_empty():
            return scope.sort()
        scope = pl.concat([scope, frontier])
    raise RuntimeError("cluster closure did not converge")  # pragma: no cover


def _criteria(ctxs: list[FlowCtx]) -> list[_Criterion]:
    out = []
    for c in ctxs:
        for j, (source_field, target_field) in enumerate(c.rf.criteria):
            for dt, f in ((c.rf.source, source_field), (c.rf.target, target_field)):
                out.append(_Criterion(f"{c.name}#{j}", dt, f.path, f.type))
    return out


def _ids_by_datatype(keys: pl.Series) -> dict[str, pl.DataFrame]:
    """Record keys as {datatype key: frame of ids}."""
    parts = keys.str.splitn(":", 2).struct.rename_fields(["dt", "id"]).struct.unnest()
    return {
        dt: frame.select("id")
        for (dt,), frame in parts.drop_nulls().partition_by("dt", as_dict=True).items()
    }


def _table(dt: Datatype) -> str:
    return f"{q(dt.system)}.{q(dt.name)}"


def _text(column: str) -> str:
    return f"cast({q(column)} as varchar)"


def id_in(dt: Datatype, column: str, ids: pl.DataFrame, name: str) -> tuple[str, pl.DataFrame]:
    """SQL for "`column` of `dt` is one of `ids`" (a frame of text ids in column `id`, to be
    registered as `name`), with that frame. An integer column is compared as stored, with the
    ids cast to its type (those whose text is not the integer's as rendered match nothing, as
    they would as text), not through a text cast of every stored row (~10 ms per 100k rows)."""
    dtype = dt.polars_schema().get(column)
    if dtype is None or not dtype.is_integer():
        return f"{_text(column)} in (select id from {name})", ids
    typed = ids.select(pl.col("id"), typed=pl.col("id").cast(dtype, strict=False))
    exact = typed.filter(pl.col("typed").cast(pl.String) == pl.col("id"))
    return f"{q(column)} in (select id from {name})", exact.select(id="typed")


def _linked(store: TenantStore, frontier: pl.Series) -> pl.Series:
    rows = store.query(
        f"select source, target from {STATE_SCHEMA}.links "
        "where source in (select record from f) or target in (select record from f)",
        f=frontier.to_frame("record"),
    )
    return pl.concat([rows["source"], rows["target"]]).cast(pl.String).rename("record")


def _referenced(store: TenantStore, ref: _Reference, ids: dict[str, pl.DataFrame]) -> pl.Series:
    """The records `ref` leads to from the frontier's records and back: the records they
    reference, and the records referencing them."""
    out = [pl.Series("record", [], pl.String)]
    dt, path, idf = ref.dt, ref.path, ref.dt.id_field
    if dt.key in ids:
        matching, wanted = id_in(dt, idf, ids[dt.key], "ids")
        rows = store.query(
            f"select {_text(path)} as v from {_table(dt)} "
            f"where {matching} and {q(idf)} is not null",
            ids=wanted,
        )
        out.append((f"{ref.target}:" + rows["v"].drop_nulls()).rename("record"))
    if ref.target in ids:
        matching, wanted = id_in(dt, path, ids[ref.target], "ids")
        rows = store.query(
            f"select {_text(idf)} as v from {_table(dt)} where {matching} and {q(idf)} is not null",
            ids=wanted,
        )
        out.append((f"{dt.key}:" + rows["v"]).rename("record"))
    return pl.concat(out)


def _rendered(c: _Criterion, rows: pl.DataFrame) -> pl.DataFrame:
    """(group, value, record) of rows (id, v) as `criterion_values` renders them."""
    typed = conform(rows, {"id": pl.String, "v": c.dt.polars_schema()[c.path]})
    return (
        typed.select(
            group=pl.lit(c.group),
            value=criterion_value("v", c.field_type),
            record=pl.lit(c.dt.key + ":") + pl.col("id"),
        )
        .filter(pl.col("value").is_not_null() & (pl.col("value") != ""))
        .drop_nulls("record")
    )


def _values_of(store: TenantStore, c: _Criterion, ids: pl.DataFrame) -> pl.DataFrame:
    """The criterion values (group, value) of the frontier's records of `c.dt`."""
    matching, wanted = id_in(c.dt, c.dt.id_field, ids, "ids")
    rows = store.query(
        f"select {_text(c.dt.id_field)} as id, {q(c.path)} as v from {_table(c.dt)} "
        f"where {matching}",
        ids=wanted,
    )
    return _rendered(c, rows).select("group", "value")


def _sharing(store: TenantStore, c: _Criterion, values: pl.DataFrame) -> pl.Series:
    """The records of `c.dt` whose criterion value is one of `values` of its group."""
    wanted = values.filter(pl.col("group") == c.group)
    if wanted.is_empty():
        return pl.Series("record", [], pl.String)
    select = f"select {_text(c.dt.id_field)} as id, {q(c.path)} as v from {_table(c.dt)}"
    dtype = c.dt.polars_schema()[c.path]
    if c.field_type == "boolean" or not (dtype.is_integer() or dtype == pl.String):
        # a type whose SQL text may differ from polars' rendering: the whole column
        rows = store.query(select)
    elif dtype.is_integer():
        # an integer renders as its digits, nothing to trim: compared as stored, not through
        # a trimmed text cast of every row (at 100k records 120 ms -> 5 ms a query)
        matching, typed = id_in(c.dt, c.path, wanted.select(id="value"), "wanted")
        rows = store.query(f"{select} where {matching}", wanted=typed)
    else:  # text, trimmed in SQL of exactly what polars trims
        rows = store.query(
            f"{select} where trim({_text(c.path)}, (select chars from ws)) "
            "in (select value from wanted)",
            ws=pl.DataFrame({"chars": [WHITE_SPACE]}),
            wanted=wanted.select("value"),
        )
    return _rendered(c, rows).join(wanted, on=["group", "value"], how="semi")["record"]
