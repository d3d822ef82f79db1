"""Per-flow preparation: filters, conditions, record sides with keys (S3, S7)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from talk_assets.engine.identity import record_key
from talk_assets.engine.mapping import comparison_type
from talk_assets.flows.model import NO_DATA_TYPE, Flow, RuleKind
from talk_assets.systems import UNTYPED_AS, Datatype, Field, ResolvedFlow, resolve_flow

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


def _word(text: str) -> str:
    return text.strip().strip("()").strip().lower()


def condition_filter(dt: Datatype, condition: str) -> tuple[str, object] | None:
    """A document condition as (field path, value): a filter word or `Field is value`."""
    word = _word(condition)
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
        _read_condition(ctx)
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
        for p in rf.flow.properties:
            if p.type == NO_DATA_TYPE:
                ctx.notes.append(
                    f"{p.source} -> {p.target}: data type {NO_DATA_TYPE} in the document, "
                    f"compared and synced as {UNTYPED_AS}"
                )
        out.append(ctx)
    return out


def _read_condition(ctx: FlowCtx) -> None:
    """The flow's machine-readable filter (else a conditional flow's condition) as
    `ctx.condition`; it applies on top of the source datatype's qualifier (`rf.source_filter`).
    One that is not understood switches inserts off."""
    flow = ctx.rf.flow
    conditional = flow.rule is RuleKind.CONDITIONAL_INSERT
    text = flow.filter or (flow.condition if conditional else None)
    if text is None and not conditional:
        return
    if text and _word(text) in ctx.rf.source.qualifies_all:
        return  # every record meets it
    ctx.condition = condition_filter(ctx.rf.source, text or "")
    if ctx.condition is None:
        ctx.inserts = False
        what = "filter" if flow.filter else "condition"
        ctx.notes.append(f"{what} {text!r} not understood: treated as merge only")


def datatypes_of(ctxs: list[FlowCtx]) -> dict[str, Datatype]:
    """Datatype key -> Datatype of every flow's source, target and referenced datatypes
    (`ResolvedFlow.datatypes`; the engine's only lookup)."""
    out: dict[str, Datatype] = {}
    for c in ctxs:
        for dt in c.rf.datatypes:
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
