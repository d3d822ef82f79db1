"""Per-flow preparation: filters, conditions, record sides with keys (S3, S7)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from talk_assets.engine.identity import record_key
from talk_assets.engine.mapping import comparison_type
from talk_assets.flows.model import Flow, RuleKind
from talk_assets.systems import Datatype, Field, ResolvedFlow, resolve_flow

_CONDITION = re.compile(r"^\s*([\w.]+)\s*(?:==|=|is)\s*(.+?)\s*$", re.IGNORECASE)


@dataclass
class FlowCtx:
    rf: ResolvedFlow
    idx: int
    inserts: bool
    condition: tuple[str, object] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.rf.flow.name

    @property
    def properties(self) -> list[tuple[int, Field, Field, str]]:
        """(index, source field, target field, comparison type) of every mapping."""
        return [
            (i, s, t, comparison_type(s.type, t.type, typ))
            for i, (s, t, typ) in enumerate(self.rf.properties)
        ]

    @property
    def writable(self) -> list[tuple[int, Field, Field, str]]:
        """`properties` that may be written."""
        return [(i, s, t, typ) for i, s, t, typ in self.properties if s.writable and t.writable]


def _literal(text: str) -> object:
    t = text.strip().strip("'\"")
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(t)
    except ValueError:
        return t


def condition_filter(dt: Datatype, condition: str) -> tuple[str, object] | None:
    """A document condition as (field path, value): a filter word or `Field is value`."""
    word = condition.strip().lower()
    if word in dt.filters:
        return dt.filters[word]
    m = _CONDITION.match(condition)
    if m and dt.has_field(m[1]):
        return dt.field(m[1]).path, _literal(m[2])
    return None


def prepare(flows: list[ResolvedFlow | Flow]) -> list[FlowCtx]:
    out = []
    for idx, f in enumerate(flows):
        rf = f if isinstance(f, ResolvedFlow) else resolve_flow(f)
        rule = rf.flow.rule
        ctx = FlowCtx(rf=rf, idx=idx, inserts=rule.inserts)
        if rule is RuleKind.MERGE_ONLY:
            ctx.notes.append("merge only: records are linked by merge criteria, never inserted")
        if rule is RuleKind.CONDITIONAL_INSERT:
            cond = condition_filter(rf.source, rf.flow.condition or "")
            if cond is None:
                ctx.inserts = False
                ctx.notes.append(
                    f"condition {rf.flow.condition!r} not understood: treated as merge only"
                )
            ctx.condition = cond
        if not ctx.writable:
            ctx.notes.append("nothing to write: no writable mapped property; records only linked")
            ctx.inserts = False
        for s, t, _ in rf.properties:
            if not (s.writable and t.writable):
                ctx.notes.append(
                    f"{s.path} -> {t.path}: read-only or identity, compared but never written"
                )
        for s, t, _ in rf.not_in_api:
            reason = "; ".join(f"{f.path}: {f.not_in_api}" for f in (s, t) if f.not_in_api)
            ctx.notes.append(
                f"{s.path} -> {t.path}: not in the API ({reason}); kept for lineage, never "
                "read, planned or sent"
            )
        out.append(ctx)
    return out


def datatypes_of(ctxs: list[FlowCtx]) -> dict[str, Datatype]:
    """Datatype key -> Datatype of every flow's source and target (the engine's only lookup)."""
    out: dict[str, Datatype] = {}
    for c in ctxs:
        for dt in (c.rf.source, c.rf.target):
            out.setdefault(dt.key, dt)
    return out


def _match(path: str, value: object) -> pl.Expr:
    return (pl.col(path) == pl.lit(value)).fill_null(False)


def side(
    records: Mapping[str, pl.DataFrame],
    dt: Datatype,
    filters: list[tuple[str, object] | None],
    prefix: str,
    columns: dict[str, str],
) -> pl.LazyFrame:
    """Records of `dt` (filtered) as key, id, ts, parent id and the named columns.

    Output columns: `{prefix}key`, `{prefix}id`, `{prefix}changed_at`, `{prefix}parent`, and
    alias -> field path for `columns`.
    """
    df = records.get(dt.key)
    lf = (df if df is not None else dt.empty_frame()).lazy()
    for flt in filters:
        if flt is not None:
            lf = lf.filter(_match(*flt))
    parent = pl.col(dt.parent).cast(pl.String) if dt.parent else pl.lit(None, pl.String)
    return lf.filter(pl.col(dt.id_field).is_not_null()).select(
        record_key(dt.key, dt.id_field).alias(f"{prefix}key"),
        pl.col(dt.id_field).cast(pl.String).alias(f"{prefix}id"),
        pl.col(dt.last_changed_field).cast(pl.String).alias(f"{prefix}changed_at"),
        parent.alias(f"{prefix}parent"),
        *[pl.col(path).alias(alias) for alias, path in columns.items()],
    )
