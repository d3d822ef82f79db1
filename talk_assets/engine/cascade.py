"""Cascade (S3-S5): one plan settles through its own planned writes and inserts.

Without it a record the plan inserts, or a value it writes, takes part in other flows only from
the next run on, so an initial load needs extra runs to settle. Here every cluster the plan
touches (an update or an insert candidate in it) is decided again on the values it will hold
once the plan's writes are confirmed, until nothing changes:

- each insert candidate is a *virtual record* of its target datatype in its cluster, holding
  its planned values (target filter values included) and paired by every flow like a record;
- every pair of a touched cluster is reconciled (`reconcile.decide`) on both sides' planned
  values; a pair's last synced value is the state's at first, then what the pair agreed on in
  the previous round (so each round is what the next run would do);
- a value written into a virtual record joins its insert; into a real record it becomes an
  update of this plan (one value per record and property, first flow in document order);
- rounds end when no planned value changes (bounded: `2 * flows + 2` rounds).

A contributor of an insert (a source record the insert was made from) first meets the new record
with the merged values (S3: first non-empty in document order); where it differs, nothing is
written back to it in this plan (its last synced value is the merged one, as without cascade).
Inserts from virtual records are not planned: a record that does not exist yet cannot be
tracked as an insert's source (S3, S10); the next run plans them.

Required fields and "nothing to write" are decided on the settled values; a dropped candidate
that gave a value to another record makes the rounds run again without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from talk_assets.engine import schemas as sch
from talk_assets.engine.flows import FlowCtx, side
from talk_assets.engine.identity import LABEL
from talk_assets.engine.inserts import InsertPlan
from talk_assets.engine.lazy import ENGINE, collect_all
from talk_assets.engine.mapping import json_object, json_value, parse_dynamic, render
from talk_assets.engine.reconcile import decide
from talk_assets.systems import Datatype

S = pl.String
MAX_ATTEMPTS = 3
DEFER = "first link: the new record keeps its merged value (S3); written back next run"


@dataclass
class Settled:
    """What the cascade decides for the touched clusters (labels `touched`)."""

    touched: pl.Series
    updates: pl.DataFrame
    inserts: pl.DataFrame
    insert_sources: pl.DataFrame
    baselines: pl.DataFrame
    conflicts: pl.DataFrame
    rejects: pl.DataFrame
    skipped: pl.DataFrame


def coerce_str(raw: pl.Expr, from_type: pl.Expr, to_type: pl.Expr) -> pl.Expr:
    """`mapping.coerce` for a rendered value with per-row types (small frames)."""
    same = (from_type == to_type) | (
        to_type.is_in(["string", "datetime"]) & (from_type != "boolean")
    )
    return (
        pl.when(same)
        .then(raw)
        .when((from_type == "boolean") & (to_type != "string"))
        .then(pl.when(to_type == "boolean").then(raw))
        .otherwise(parse_dynamic(raw, to_type))
    )


_ROW = {
    "flow": S,
    "flow_idx": pl.Int32,
    "label": pl.UInt32,
    "cluster": S,
    "s_ref": S,
    "t_ref": S,
    "s_virt": pl.Boolean,
    "t_virt": pl.Boolean,
    "property": S,
    "source_property": S,
    "type": S,
    "s_type": S,
    "t_type": S,
    "s_dt": S,
    "t_dt": S,
    "s_raw0": S,
    "t_raw0": S,
    "base0": S,
    "has_base0": pl.Boolean,
    "s_id": S,
    "t_id": S,
    "s_parent": S,
    "t_parent": S,
    "s_ts": S,
    "t_ts": S,
}


def _virtual_rows(
    records: Mapping[str, pl.DataFrame],
    ctxs: list[FlowCtx],
    cands: pl.DataFrame,
    initial: pl.DataFrame,
) -> list[pl.LazyFrame]:
    """Pair rows (`_ROW`) of every flow for pairs with at least one virtual record.

    cands: write_id, label, datatype of the virtual records; initial: their values (write_id,
    path, field_value), for the flows' filters.
    """
    out = []
    keys = set(cands["datatype"].unique())
    for c in ctxs:
        rf = c.rf
        if not c.writable or not ({rf.source.key, rf.target.key} & keys):
            continue

        def virtual(dt, flt, prefix: str, cols: dict[str, pl.DataType]) -> pl.LazyFrame:
            v = cands.lazy().filter(pl.col("datatype") == dt.key)
            if flt is not None:
                ok = initial.lazy().filter(
                    (pl.col("path") == flt[0]) & (pl.col("field_value") == str(flt[1]).lower())
                )
                v = v.join(ok.select("write_id"), on="write_id", how="semi")
            return v.select(
                pl.col("write_id").alias(f"{prefix}ref"),
                pl.lit(True).alias(f"{prefix}virt"),
                *[pl.lit(None, S).alias(f"{prefix}{x}") for x in ("id", "ts", "parent")],
                pl.col("label").alias(f"{prefix}label"),
                *[pl.lit(None, t).alias(a) for a, t in cols.items()],
            )

        def real(dt, flt, prefix: str, cols: dict[str, str], labels: pl.LazyFrame):
            return (
                side(records, dt, [flt], prefix, {**cols, f"{prefix}label": LABEL})
                .join(labels, left_on=f"{prefix}label", right_on="label", how="semi")
                .select(
                    pl.col(f"{prefix}key").alias(f"{prefix}ref"),
                    pl.lit(False).alias(f"{prefix}virt"),
                    *[f"{prefix}{x}" for x in ("id", "ts", "parent", "label")],
                    *cols,
                )
            )

        props = c.writable
        scols = {f"s{i}": s.path for i, s, _, _ in props}
        tcols = {f"t{i}": t.path for i, _, t, _ in props}
        stypes = {f"s{i}": s.polars_type for i, s, _, _ in props}
        ttypes = {f"t{i}": t.polars_type for i, _, t, _ in props}
        vs = virtual(rf.source, rf.source_filter, "s_", stypes)
        vt = virtual(rf.target, rf.target_filter, "t_", ttypes)
        src = pl.concat(
            [real(rf.source, rf.source_filter, "s_", scols, vt.select(label="t_label")), vs]
        )
        tgt = pl.concat(
            [real(rf.target, rf.target_filter, "t_", tcols, vs.select(label="s_label")), vt]
        )
        pairs = src.join(tgt, left_on="s_label", right_on="t_label").filter(
            (pl.col("s_virt") | pl.col("t_virt")) & (pl.col("s_ref") != pl.col("t_ref"))
        )
        for i, s, t, typ in props:
            out.append(
                pairs.select(
                    flow=pl.lit(c.name),
                    flow_idx=pl.lit(c.idx, pl.Int32),
                    label="s_label",
                    cluster=pl.lit(None, S),
                    s_ref="s_ref",
                    t_ref="t_ref",
                    s_virt="s_virt",
                    t_virt="t_virt",
                    property=pl.lit(t.path),
                    source_property=pl.lit(s.path),
                    type=pl.lit(typ),
                    s_type=pl.lit(s.type),
                    t_type=pl.lit(t.type),
                    s_dt=pl.lit(rf.source.key),
                    t_dt=pl.lit(rf.target.key),
                    s_raw0=render(pl.col(f"s{i}"), s.type),
                    t_raw0=render(pl.col(f"t{i}"), t.type),
                    base0=pl.lit(None, S),
                    has_base0=pl.lit(False),
                    s_id="s_id",
                    t_id="t_id",
                    s_parent="s_parent",
                    t_parent="t_parent",
                    s_ts="s_ts",
                    t_ts="t_ts",
                )
            )
    return out


_SAME = set(_ROW) - {"s_ref", "t_ref", "s_virt", "t_virt", "s_raw0", "t_raw0", "base0", "has_base0"}

_OV = {
    "ref": S,
    "path": S,
    "value": S,
    "fixed": pl.Boolean,
    "w_giver": S,
    "w_flow": S,
    "w_flow_idx": pl.Int32,
    "w_direction": S,
    "w_reason": S,
    "w_ftype": S,
    "w_dt": S,
    "w_id": S,
    "w_parent": S,
    "w_old": S,
    "w_cluster": S,
}


def _rounds(rows: pl.DataFrame, overlay: pl.DataFrame, max_rounds: int):
    """Decide the rows again and again on their planned values until nothing changes.

    Returns (rows with final `base`/`has_base`, overlay, conflicts, rejects, givers): givers
    are the records whose values were written somewhere (to drop candidates safely).
    """
    rows = rows.with_columns(base=pl.col("base0"), has_base=pl.col("has_base0"))
    conflicts, rejects, givers = [], [], []
    for _ in range(max_rounds):
        ov = overlay.select("ref", "path", "value")
        cur = (
            rows.join(
                ov.rename({"ref": "s_ref", "path": "source_property", "value": "s_over"}),
                on=["s_ref", "source_property"],
                how="left",
            )
            .join(
                ov.rename({"ref": "t_ref", "path": "property", "value": "t_over"}),
                on=["t_ref", "property"],
                how="left",
            )
            .with_columns(
                s_cur=pl.coalesce("s_over", "s_raw0"), t_cur=pl.coalesce("t_over", "t_raw0")
            )
            .with_columns(
                sv=coerce_str(pl.col("s_cur"), pl.col("s_type"), pl.col("type")),
                tv=coerce_str(pl.col("t_cur"), pl.col("t_type"), pl.col("type")),
            )
        )
        dec = decide(cur.lazy()).collect(engine=ENGINE).sort("rid")
        eq = pl.col("sv").eq_missing(pl.col("tv"))
        defer = pl.col("contrib") & ~pl.col("has_base") & pl.col("tv").is_not_null() & ~eq
        dec = dec.with_columns(
            action=pl.when(defer).then(pl.lit("defer")).otherwise("action"),
            reason=pl.when(defer).then(pl.lit(DEFER)).otherwise("reason"),
            value=pl.when(defer).then("tv").otherwise("value"),
        )
        conflicts.append(dec.filter(pl.col("conflict")))
        to_t = pl.col("action") == "to_target"
        moving = dec.filter(pl.col("action").is_in(["to_target", "to_source"])).select(
            "rid",
            "flow",
            "flow_idx",
            "s_ref",
            "t_ref",
            ref=pl.when(to_t).then("t_ref").otherwise("s_ref"),
            path=pl.when(to_t).then("property").otherwise("source_property"),
            ftype=pl.when(to_t).then("t_type").otherwise("s_type"),
            cur=pl.when(to_t).then("t_cur").otherwise("s_cur"),
            old=pl.when(to_t).then("t_raw0").otherwise("s_raw0"),
            dt=pl.when(to_t).then("t_dt").otherwise("s_dt"),
            rec_id=pl.when(to_t).then("t_id").otherwise("s_id"),
            parent=pl.when(to_t).then("t_parent").otherwise("s_parent"),
            giver=pl.when(to_t).then("s_ref").otherwise("t_ref"),
            cluster="cluster",
            direction="action",
            reason="reason",
            value="value",
        )
        moving = moving.with_columns(new=parse_dynamic(pl.col("value"), pl.col("ftype")))
        bad = moving.filter(pl.col("new").is_null())
        rejects.append(bad)
        chosen = (
            moving.filter(pl.col("new").is_not_null() & ~pl.col("new").eq_missing(pl.col("cur")))
            .sort("flow_idx", "s_ref", "t_ref")
            .unique(subset=["ref", "path"], keep="first", maintain_order=True)
        )
        settles = dec.select(
            pl.col("action").is_in(["agree", "to_target", "to_source", "defer"])
            & ~pl.col("rid").is_in(bad["rid"].implode())
        ).to_series()
        rows = rows.with_columns(
            base=pl.when(settles).then(dec["value"]).otherwise("base"),
            has_base=pl.when(settles).then(pl.lit(True)).otherwise("has_base"),
        )
        if chosen.is_empty():
            break
        givers.append(chosen.select("giver"))
        new = chosen.select(
            "ref",
            "path",
            value="new",
            fixed=pl.lit(False),
            w_giver="giver",
            w_flow="flow",
            w_flow_idx="flow_idx",
            w_direction="direction",
            w_reason="reason",
            w_ftype="ftype",
            w_dt="dt",
            w_id="rec_id",
            w_parent="parent",
            w_old="old",
            w_cluster="cluster",
        )
        overlay = pl.concat(
            [overlay.join(new.select("ref", "path"), on=["ref", "path"], how="anti"), new]
        )
    return (
        rows,
        overlay,
        pl.concat(conflicts, how="vertical_relaxed"),
        pl.concat(rejects, how="vertical_relaxed"),
        pl.concat(givers)["giver"] if givers else pl.Series("giver", [], S),
    )


def settle(
    records: Mapping[str, pl.DataFrame],
    ctxs: list[FlowCtx],
    long: pl.DataFrame,
    details: pl.DataFrame,
    written: pl.Series,
    ins: list[InsertPlan],
) -> Settled:
    """Settle the clusters with planned writes (labels `written`) or insert candidates.

    long/details: the planner's mapped rows (with `label`) and pair details.
    """
    none = pl.LazyFrame(schema={"write_id": S})
    frames = collect_all(
        [
            pl.concat(
                [
                    i.candidates.select(
                        "write_id",
                        "cluster",
                        "label",
                        "flow",
                        "s_key",
                        "parent_id",
                        datatype=pl.lit(i.target.key),
                    )
                    for i in ins
                ]
            )
            if ins
            else none,
            pl.concat([i.values for i in ins]) if ins else none,
            pl.concat([i.fixed for i in ins]) if ins else none,
            pl.concat([i.contributors for i in ins]) if ins else none,
        ]
    )
    cands, values, fixed, contributors = frames
    if not ins:
        cands = pl.DataFrame(
            schema={
                "write_id": S,
                "cluster": S,
                "label": pl.UInt32,
                "flow": S,
                "s_key": S,
                "parent_id": S,
                "datatype": S,
            }
        )
        values = fixed = pl.DataFrame(
            schema={"write_id": S, "path": S, "field_value": S, "ftype": S}
        )
        contributors = pl.DataFrame(schema={"write_id": S, "flow": S, "s_key": S})
    touched = pl.concat([written.cast(pl.UInt32), cands["label"]]).unique().sort()
    if touched.is_empty():
        return Settled(
            touched=touched,
            updates=pl.DataFrame(schema=_UPDATE),
            inserts=sch.empty(sch.INSERTS),
            insert_sources=sch.empty(sch.INSERT_SOURCES),
            baselines=sch.empty(sch.BASELINES),
            conflicts=sch.empty(sch.CONFLICTS),
            rejects=sch.empty(sch.REJECTS),
            skipped=sch.empty(sch.SKIPPED),
        )
    initial = pl.concat(
        [
            values.join(fixed, on=["write_id", "path"], how="anti").with_columns(
                fixed=pl.lit(False)
            ),
            fixed.with_columns(fixed=pl.lit(True)),
        ]
    )
    real_rows = (
        long.lazy()
        .filter(
            pl.col("label").is_in(touched.implode())
            & pl.col("writable")
            & ~pl.col("s_fail")
            & ~pl.col("t_fail")
        )
        .join(details.lazy(), on=["flow_idx", "pair"], how="left")
        .select(
            *[c for c in _ROW if c in _SAME],
            s_ref="source",
            t_ref="target",
            s_virt=pl.lit(False),
            t_virt=pl.lit(False),
            s_raw0="s_raw",
            t_raw0="t_raw",
            base0="base",
            has_base0="has_base",
        )
    )
    parts = [real_rows.select(list(_ROW))]
    parts += [
        p.select([pl.col(c).cast(t) for c, t in _ROW.items()])
        for p in _virtual_rows(records, ctxs, cands, initial)
    ]
    rows = pl.concat(parts).collect(engine=ENGINE)
    names = cands.select("label", "cluster").unique(subset=["label"])
    rows = rows.join(names.rename({"cluster": "vcluster"}), on="label", how="left").select(
        pl.exclude("vcluster", "cluster"), cluster=pl.coalesce("cluster", "vcluster")
    )
    # Real values that do not convert (virtual pairs only; the planner reports the others).
    fails = []
    for side_ in ("s", "t"):
        raw = pl.col(f"{side_}_raw0")
        failed = (
            raw.is_not_null() & coerce_str(raw, pl.col(f"{side_}_type"), pl.col("type")).is_null()
        )
        fails.append(
            rows.filter(
                failed & ~pl.col(f"{side_}_virt") & (pl.col("s_virt") | pl.col("t_virt"))
            ).select(
                "flow",
                record=f"{side_}_ref",
                property="source_property" if side_ == "s" else "property",
                value=f"{side_}_raw0",
                reason=pl.concat_str([pl.lit("cannot convert to "), pl.col("type")]),
            )
        )
        rows = rows.filter(~failed)
    rows = rows.join(
        contributors.select(t_ref="write_id", flow="flow", s_ref="s_key", contrib=pl.lit(True)),
        on=["t_ref", "flow", "s_ref"],
        how="left",
    ).with_columns(pl.col("contrib").fill_null(False))
    rows = rows.sort("flow_idx", "s_ref", "t_ref", "property").with_row_index("rid")

    max_rounds = 2 * len(ctxs) + 2
    dropped: set[str] = set()
    skips, reqs = [], []
    for attempt in range(MAX_ATTEMPTS):
        live = rows.filter(~pl.col("s_ref").is_in(dropped) & ~pl.col("t_ref").is_in(dropped))
        overlay = initial.filter(~pl.col("write_id").is_in(dropped)).select(
            ref="write_id", path="path", value="field_value", fixed="fixed"
        )
        overlay = sch.conform(overlay, _OV)
        final, overlay, conflicts, rejects, givers = _rounds(live, overlay, max_rounds)
        skip, required = _drops(cands.filter(~pl.col("write_id").is_in(dropped)), overlay, ins)
        now = set(skip["write_id"]) | set(required["write_id"])
        skips.append(skip)
        reqs.append(required)
        dropped |= now
        if not now:
            break
        if not now & set(givers) or attempt == MAX_ATTEMPTS - 1:
            final = final.filter(~pl.col("s_ref").is_in(now) & ~pl.col("t_ref").is_in(now))
            overlay = overlay.filter(~pl.col("ref").is_in(now))
            break
    skip, required = pl.concat(skips), pl.concat(reqs)
    return Settled(
        touched=touched,
        updates=_updates(overlay),
        inserts=_inserts(
            cands.filter(~pl.col("write_id").is_in(dropped)),
            overlay,
            fixed,
            {i.target.key: i.target for i in ins},
        ),
        insert_sources=contributors.filter(~pl.col("write_id").is_in(dropped)).select(
            "write_id", "flow", source="s_key"
        ),
        baselines=_baselines(final, overlay),
        conflicts=_conflicts(conflicts),
        rejects=pl.concat(
            [
                *fails,
                rejects.select(
                    "flow",
                    record="ref",
                    property="path",
                    value="value",
                    reason=pl.concat_str([pl.lit("cannot convert to "), pl.col("ftype")]),
                )
                if rejects.height
                else sch.empty(sch.REJECTS),
                required.select(list(sch.REJECTS)),
            ],
            how="vertical_relaxed",
        ),
        skipped=skip.select(list(sch.SKIPPED)),
    )


def _drops(
    cands: pl.DataFrame, overlay: pl.DataFrame, ins: list[InsertPlan]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(skipped: nothing to write, rejects: first required field missing) among `cands`."""
    has = overlay.filter(~pl.col("fixed") & pl.col("value").is_not_null()).select(
        write_id="ref", path="path"
    )
    skip = cands.join(has, on="write_id", how="anti").select(
        "write_id", "flow", record="s_key", reason=pl.lit("nothing to write")
    )
    rest = cands.join(has, on="write_id", how="semi")
    out = []
    for i in ins:
        todo = rest.filter(pl.col("datatype") == i.target.key)
        for path in i.target.required:
            missing = todo.join(has.filter(pl.col("path") == path), on="write_id", how="anti")
            out.append(
                missing.select(
                    "write_id",
                    "flow",
                    record="s_key",
                    property=pl.lit(path),
                    value=pl.lit(None, S),
                    reason=pl.lit(f"required field {path} missing"),
                )
            )
            todo = todo.join(missing, on="write_id", how="anti")
    required = (
        pl.concat(out)
        if out
        else pl.DataFrame(
            schema={"write_id": S, "flow": S, "record": S, "property": S, "value": S, "reason": S}
        )
    )
    return skip, required


_UPDATE = {
    "write_id": S,
    "flow": S,
    "flow_idx": pl.Int32,
    "direction": S,
    "system": S,
    "datatype": S,
    "record": S,
    "record_id": S,
    "parent_id": S,
    "cluster": S,
    "path": S,
    "ftype": S,
    "old_value": S,
    "new_value": S,
    "reason": S,
}


def _updates(overlay: pl.DataFrame) -> pl.DataFrame:
    """Update rows (the planner's shape) for planned values of real records."""
    real = overlay.filter(
        pl.col("w_dt").is_not_null()
        & ~pl.col("ref").str.starts_with("insert:")
        & ~pl.col("value").eq_missing(pl.col("w_old"))
    )
    return real.select(
        write_id=pl.concat_str([pl.lit("update:"), pl.col("ref")]),
        flow="w_flow",
        flow_idx="w_flow_idx",
        direction="w_direction",
        system=pl.col("w_dt").str.split_exact(".", 1).struct.field("field_0"),
        datatype="w_dt",
        record="ref",
        record_id="w_id",
        parent_id="w_parent",
        cluster="w_cluster",
        path="path",
        ftype="w_ftype",
        old_value="w_old",
        new_value="value",
        reason="w_reason",
    )


def _inserts(
    cands: pl.DataFrame,
    overlay: pl.DataFrame,
    fixed: pl.DataFrame,
    targets: Mapping[str, Datatype],
) -> pl.DataFrame:
    vals = overlay.filter(pl.col("ref").str.starts_with("insert:")).select(
        write_id="ref", path="path", value="value"
    )
    vals = pl.concat(
        [
            vals.join(fixed, on=["write_id", "path"], how="anti"),
            fixed.select("write_id", "path", value="field_value"),
        ]
    ).join(cands.select("write_id", "datatype"), on="write_id")
    types = _field_types(vals, targets)
    objects = (
        vals.join(types, on=["datatype", "path"], how="left")
        .sort("write_id", "path")
        .group_by("write_id")
        .agg(values=json_object(pl.col("path"), json_value(pl.col("value"), pl.col("ftype"))))
    )
    return cands.join(objects, on="write_id").select(
        "write_id",
        "flow",
        source="s_key",
        cluster="cluster",
        datatype="datatype",
        values="values",
        parent_id="parent_id",
    )


def _field_types(vals: pl.DataFrame, targets: Mapping[str, Datatype]) -> pl.DataFrame:
    """(datatype, path, ftype) of the inserts' values, from their target datatypes."""
    pairs = vals.select("datatype", "path").unique()
    ftypes = [targets[d].field(p).type for d, p in pairs.iter_rows()]
    return pairs.with_columns(ftype=pl.Series(ftypes, dtype=S))


def _baselines(rows: pl.DataFrame, overlay: pl.DataFrame) -> pl.DataFrame:
    """Last synced values of the pairs whose agreement this plan changes."""
    changed = rows.filter(
        (pl.col("has_base") != pl.col("has_base0")) | ~pl.col("base").eq_missing(pl.col("base0"))
    )
    ov = overlay.filter(
        pl.col("ref").str.starts_with("insert:") | ~pl.col("value").eq_missing(pl.col("w_old"))
    ).select("ref", "path", written=pl.lit(True))
    changed = (
        changed.join(
            ov.rename({"ref": "t_ref", "path": "property", "written": "t_written"}),
            on=["t_ref", "property"],
            how="left",
        )
        .join(
            ov.rename({"ref": "s_ref", "path": "source_property", "written": "s_written"}),
            on=["s_ref", "source_property"],
            how="left",
        )
        .with_columns(pl.col("t_written", "s_written").fill_null(False))
    )

    def write_of(side_: str) -> pl.Expr:
        ref = pl.col(f"{side_}_ref")
        return (
            pl.when(pl.col(f"{side_}_virt"))
            .then(ref)
            .otherwise(pl.concat_str([pl.lit("update:"), ref]))
        )

    tw, sw = pl.col("t_written"), pl.col("s_written")
    return changed.select(
        "flow",
        source=pl.when(pl.col("s_virt")).then(pl.lit(None, S)).otherwise("s_ref"),
        target=pl.when(pl.col("t_virt")).then(pl.lit(None, S)).otherwise("t_ref"),
        property="property",
        value="base",
        type="type",
        write_id=pl.when(tw).then(write_of("t")).when(sw).then(write_of("s")),
        written_path=pl.when(tw).then("property").when(sw).then("source_property"),
        written_type=pl.when(tw).then("t_type").when(sw).then("s_type"),
        # Every write this pair's agreement depends on: a side that does not hold the value
        # yet must confirm its write first, or a cut run would advance the pair for a side
        # that never got the value (S10).
        source_write=pl.when(pl.col("s_virt") | sw).then(write_of("s")),
        target_write=pl.when(pl.col("t_virt") | tw).then(write_of("t")),
    )


def _conflicts(dec: pl.DataFrame) -> pl.DataFrame:
    if dec.is_empty():
        return sch.empty(sch.CONFLICTS)
    real = dec.filter(~pl.col("s_virt") & ~pl.col("t_virt")).unique(
        subset=["flow", "s_ref", "t_ref", "property"], keep="first", maintain_order=True
    )
    return real.select(
        "flow",
        source="s_ref",
        target="t_ref",
        property="property",
        source_value="sv",
        target_value="tv",
        synced="base",
        winner=pl.when(pl.col("action") == "to_target")
        .then(pl.lit("source"))
        .otherwise(pl.lit("target")),
        value="value",
        reason="reason",
    )
