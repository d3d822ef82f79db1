"""make_plan: the whole run's plan from current records, flows and state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import polars as pl

from talk_assets.engine import schemas as sch
from talk_assets.engine.cascade import settle
from talk_assets.engine.flows import FlowCtx, datatypes_of, prepare, side
from talk_assets.engine.identity import LABEL, NODE, Identity
from talk_assets.engine.identity import build as build_identity
from talk_assets.engine.inserts import plan_inserts
from talk_assets.engine.keys import (
    SEEDS,
    HashCollisionError,
    check,
    combine,
    key_hash,
    literal_hash,
)
from talk_assets.engine.lazy import ENGINE, collect_all
from talk_assets.engine.mapping import coerce, json_object, json_value, parse_dynamic, render
from talk_assets.engine.plan import SyncPlan
from talk_assets.engine.reconcile import decide
from talk_assets.engine.state import SyncState
from talk_assets.flows.model import Flow
from talk_assets.systems import Datatype, ResolvedFlow


def make_plan(
    records: Mapping[str, pl.DataFrame],
    flows: Sequence[ResolvedFlow | Flow],
    state: SyncState,
    datatypes: Iterable[Datatype] = (),
) -> SyncPlan:
    """Plan one run. records: datatype key -> current records with the schema's columns;
    flows in document order. Pure: nothing is written, so a dry run is just this (S12).

    The datatypes are the flows' own; `datatypes` names those of records no flow reads or
    writes (they only join clusters). Nothing is looked up by key elsewhere.
    """
    ctxs = prepare(list(flows))
    known = {**{dt.key: dt for dt in datatypes}, **datatypes_of(ctxs)}
    for attempt in SEEDS:
        try:
            return _plan(records, ctxs, state, known, (2 * attempt + 1, 2 * attempt + 2))
        except HashCollisionError:
            if attempt == SEEDS[-1]:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _plan(
    records: Mapping[str, pl.DataFrame],
    ctxs: list[FlowCtx],
    state: SyncState,
    datatypes: Mapping[str, Datatype],
    seeds: tuple[int, int],
) -> SyncPlan:
    ident, merges = _identity(records, ctxs, state, datatypes, seeds)
    cl = ident.clusters
    recs = _attached(records, ctxs, ident)
    cl_nodes = cl.hstack([ident.index["node"], ident.index["label"]]).lazy()
    long_df, details = _mapped(recs, ctxs, ident, state)
    long = long_df.lazy()
    # `order`: the output order (flow, source, target, property) as one integer (`_mapped`).
    mapped = (
        long.select(
            *[
                c
                for c in sch.MAPPED
                if c not in ("source_value", "target_value", "synced", "has_synced")
            ],
            "order",
            source_value="sv",
            target_value="tv",
            synced="base",
            has_synced="has_base",
        )
        .sort("order")
        .drop("order")
    )
    coercion_rejects = pl.concat(
        [
            long.filter(pl.col("s_fail")).select(
                "flow",
                record="source",
                property="source_property",
                value="s_raw",
                reason=pl.concat_str([pl.lit("cannot convert to "), pl.col("type")]),
            ),
            long.filter(pl.col("t_fail")).select(
                "flow",
                record="target",
                property="property",
                value="t_raw",
                reason=pl.concat_str([pl.lit("cannot convert to "), pl.col("type")]),
            ),
        ]
    )
    # Rows `decide` would answer `none` for (equal, and equal to the synced value) are dropped
    # first; the rest get their records' ids, parents and timestamps.
    settled = pl.col("sv").eq_missing(pl.col("tv")) & pl.col("has_base")
    settled = settled & pl.col("base").eq_missing(pl.col("sv"))
    dec = decide(
        long.filter(pl.col("writable") & ~pl.col("s_fail") & ~pl.col("t_fail") & ~settled).join(
            details.lazy(), on=["flow_idx", "pair"], how="left"
        )
    ).filter(pl.col("action") != "none")

    targets: dict[str, list[FlowCtx]] = {}
    for c in ctxs:
        if c.inserts:
            targets.setdefault(c.rf.target.key, []).append(c)
    ins = [
        plan_inserts(recs, group[0].rf.target, group, cl_nodes, state.inserted.lazy())
        for group in targets.values()
    ]
    mapped_df, dec_df, rejects_df = collect_all(
        [
            mapped,
            dec,
            pl.concat([coercion_rejects, *[i.rejects for i in ins]], how="vertical_relaxed"),
        ]
    )
    upd, upd_rejects = (
        f.collect(engine=ENGINE)
        for f in _updates(dec_df.lazy().filter(pl.col("action") != "agree"))
    )
    # Clusters with a planned write or insert settle in this plan (cascade.py); the rest keep
    # the decisions above (agreements and rejects only: they write nothing).
    done = settle(recs, ctxs, long_df, details, upd.filter(pl.col("write"))["label"], ins)
    keep = ~pl.col("label").is_in(done.touched.implode())
    agreed = dec_df.filter((pl.col("action") == "agree") & keep)
    baselines = pl.concat(
        [
            agreed.select(
                "flow",
                "source",
                "target",
                "property",
                "value",
                "type",
                write_id=pl.lit(None, pl.String),
                written_path=pl.lit(None, pl.String),
                written_type=pl.lit(None, pl.String),
            ),
            upd.filter(keep).select(list(sch.BASELINES)[:9]),
            done.baselines,
        ],
        how="diagonal_relaxed",
    )
    rejects_df = pl.concat(
        [
            rejects_df,
            upd_rejects.filter(keep).drop("label"),
            done.rejects,
        ],
        how="vertical_relaxed",
    )
    updates_df = done.updates
    conflicts_df = pl.concat(
        [
            sch.conform(
                dec_df.filter(pl.col("conflict") & keep).select(
                    "flow",
                    "source",
                    "target",
                    "property",
                    source_value="sv",
                    target_value="tv",
                    synced="base",
                    winner=pl.when(pl.col("action") == "to_target")
                    .then(pl.lit("source"))
                    .otherwise(pl.lit("target")),
                    value="value",
                    reason="reason",
                ),
                sch.CONFLICTS,
            ),
            done.conflicts,
        ]
    )
    skipped_df = pl.concat(
        [*collect_all([i.skipped for i in ins]), done.skipped], how="vertical_relaxed"
    )
    inserts_df, sources_df, base_df = done.inserts, done.insert_sources, baselines
    writes = _writes(inserts_df, updates_df)
    notes = pl.DataFrame(
        [(c.name, n) for c in ctxs for n in c.notes], schema=sch.NOTES, orient="row"
    )
    return SyncPlan(
        clusters=cl,
        mapped=sch.conform(mapped_df, sch.MAPPED),
        inserts=_sorted(inserts_df, sch.INSERTS, ["write_id"]),
        insert_sources=_sorted(sources_df, sch.INSERT_SOURCES, ["write_id", "flow", "source"]),
        updates=_sorted(
            updates_df.with_columns(property=pl.col("path")), sch.UPDATES, ["record", "property"]
        ),
        merges=_sorted(merges, sch.MERGES, ["flow", "source", "target"]),
        conflicts=_sorted(conflicts_df, sch.CONFLICTS, ["flow", "source", "target", "property"]),
        rejects=_sorted(rejects_df.unique(), sch.REJECTS, list(sch.REJECTS)),
        skipped=_sorted(skipped_df, sch.SKIPPED, ["flow", "record"]),
        notes=notes,
        baselines=_sorted(base_df, sch.BASELINES, ["flow", "source", "target", "property"]),
        writes=writes,
    )


def _sorted(df: pl.DataFrame, schema: sch.Schema, by: list[str]) -> pl.DataFrame:
    return sch.conform(df, schema).sort(by, nulls_last=True)


def _match_value(path: str, field_type: str) -> pl.Expr:
    return render(pl.col(path), field_type).str.strip_chars()


def _identity(
    records: Mapping[str, pl.DataFrame],
    ctxs: list[FlowCtx],
    state: SyncState,
    datatypes: Mapping[str, Datatype],
    seeds: tuple[int, int],
) -> tuple[Identity, pl.DataFrame]:
    """Clusters (S1, S2) and the merges (new links) merge criteria found this run.

    records: keyed by the keys of `datatypes` (any other key is refused).
    """
    unknown = sorted(set(records) - set(datatypes))
    if unknown:
        raise ValueError(
            f"records of datatypes no flow names: {', '.join(unknown)} (pass them as datatypes)"
        )
    keys = [
        side({key: df.with_row_index(POS)}, datatypes[key], [], "", {"pos": POS}).select(
            record="key", datatype=pl.lit(key), pos="pos"
        )
        for key, df in records.items()
    ]
    present = (
        pl.concat(keys)
        if keys
        else pl.LazyFrame(schema={"record": pl.String, "datatype": pl.String, "pos": pl.UInt32})
    )
    groups = []
    pairs = []
    for c in ctxs:
        rf = c.rf
        for j, (sf, tf) in enumerate(rf.criteria):
            src = (
                side(records, rf.source, [rf.source_filter], "", {"v": sf.path})
                .select("key", v=_match_value("v", sf.type))
                .filter(pl.col("v").is_not_null() & (pl.col("v") != ""))
            )
            tgt = (
                side(records, rf.target, [rf.target_filter], "", {"v": tf.path})
                .select("key", v=_match_value("v", tf.type))
                .filter(pl.col("v").is_not_null() & (pl.col("v") != ""))
            )
            groups.append(pl.concat([src, tgt]).unique())
            pairs.append(
                src.join(tgt, on="v").select(
                    flow=pl.lit(c.name),
                    source="key",
                    target="key_right",
                    criterion=pl.lit(f"{sf.path} = {tf.path}"),
                    order=pl.lit(j),
                )
            )
    present_df, *rest = collect_all([present, *groups, *pairs])
    group_dfs, pair_dfs = rest[: len(groups)], rest[len(groups) :]
    ident = build_identity(present_df, state.links, group_dfs, seeds)
    links = state.links.select("source", "target")
    if pair_dfs:
        merges = (
            pl.concat(pair_dfs)
            .filter(pl.col("source") != pl.col("target"))
            .sort("flow", "source", "target", "order")
            .unique(subset=["flow", "source", "target"], keep="first", maintain_order=True)
            .join(links, on=["source", "target"], how="anti")
            .join(
                links.select(source="target", target="source"), on=["source", "target"], how="anti"
            )
        )
    else:
        merges = sch.empty(sch.MERGES)
    return ident, merges


def _attached(
    records: Mapping[str, pl.DataFrame], ctxs: list[FlowCtx], ident: Identity
) -> dict[str, pl.DataFrame]:
    """Records with node ids and labels, an empty frame for a flow's datatype without any."""
    recs = ident.attach(records)
    for c in ctxs:
        for dt in (c.rf.source, c.rf.target):
            if dt.key not in recs:
                recs[dt.key] = dt.empty_frame().with_columns(
                    pl.lit(None, pl.UInt32).alias(NODE), pl.lit(None, pl.UInt32).alias(LABEL)
                )
    return recs


def _mapped(
    records: Mapping[str, pl.DataFrame],
    ctxs: list[FlowCtx],
    ident: Identity,
    state: SyncState,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Long frame: one row per flow, linked pair and mapped property, both sides coerced, and
    the pairs' details (`_DETAILS` by flow_idx and pair). records: as `_attached` gives them.

    Pairs meet on integer cluster labels; the last synced values join on one 64-bit hash of
    (flow, property, source, target), checked with the second hash (`keys.py`).
    """
    hs, gs = ident.seeds
    index = ident.index
    flow_rank = {n: i for i, n in enumerate(sorted({c.name for c in ctxs}))}
    props = sorted({t.path for c in ctxs for _, t, _ in c.rf.properties})
    prop_rank = {p: i for i, p in enumerate(props)}
    pairs_of = {}
    for c in ctxs:
        rf = c.rf
        if not rf.properties:
            continue
        scols = {f"s{i}": s.path for i, (s, _, _) in enumerate(rf.properties)}
        tcols = {f"t{i}": t.path for i, (_, t, _) in enumerate(rf.properties)}
        src = side(
            records, rf.source, [rf.source_filter], "s_", {**scols, "s_node": NODE, "label": LABEL}
        )
        tgt = side(
            records,
            rf.target,
            [rf.target_filter],
            "t_",
            {**tcols, "t_node": NODE, "t_label": LABEL},
        )
        pairs = (
            src.join(tgt, left_on="label", right_on="t_label")
            .filter(pl.col("s_node") != pl.col("t_node"))
            .with_columns(pair_rank=_pair_rank())
            .with_row_index("pair")
            .collect(engine=ENGINE)
        )
        pairs_of[c.idx] = pairs.with_columns(
            index["cluster"].gather(pairs["label"]),
            *[
                index[x].gather(pairs[f"{side_}_node"]).alias(f"{side_}_{x}")
                for x in ("h", "g")
                for side_ in ("s", "t")
            ],
        )
    offsets = _offsets(ctxs, {i: len(df) for i, df in pairs_of.items()})
    parts = []
    for c in ctxs:
        if c.idx not in pairs_of:
            continue
        rf = c.rf
        pairs = pairs_of[c.idx].lazy()
        n_props = len(rf.properties)
        in_flow = {
            i: r
            for r, i in enumerate(sorted(range(n_props), key=lambda i: rf.properties[i][1].path))
        }
        for i, s, t, typ in c.properties:
            s_raw, sv, s_fail = coerce(pl.col(f"s{i}"), s.type, typ)
            t_raw, tv, t_fail = coerce(pl.col(f"t{i}"), t.type, typ)
            parts.append(
                pairs.select(
                    flow=pl.lit(c.name),
                    flow_idx=pl.lit(c.idx),
                    flow_rank=pl.lit(flow_rank[c.name], pl.UInt32),
                    prop_rank=pl.lit(prop_rank[t.path], pl.UInt32),
                    order=pl.lit(offsets.get(c.idx, 0) + in_flow[i], pl.UInt64)
                    + pl.col("pair_rank") * n_props,
                    s_node="s_node",
                    t_node="t_node",
                    k=_pair_key(c.name, t.path, "h", hs),
                    kg=_pair_key(c.name, t.path, "g", gs),
                    cluster="cluster",
                    label="label",
                    source="s_key",
                    target="t_key",
                    pair="pair",
                    property=pl.lit(t.path),
                    source_property=pl.lit(s.path),
                    type=pl.lit(typ),
                    s_type=pl.lit(s.type),
                    t_type=pl.lit(t.type),
                    s_dt=pl.lit(rf.source.key),
                    t_dt=pl.lit(rf.target.key),
                    writable=pl.lit(s.writable and t.writable),
                    s_raw=s_raw,
                    sv=sv,
                    s_fail=s_fail,
                    t_raw=t_raw,
                    tv=tv,
                    t_fail=t_fail,
                )
            )
    if not parts:
        details = pl.DataFrame(
            schema={"flow_idx": pl.Int32, "pair": pl.UInt32, **{c: pl.String for c in _DETAILS}}
        )
        long = pl.DataFrame(schema={**{c: pl.String for c in _LONG_STR}, **_LONG_OTHER})
        return long, details

    def synced_key(seed: int) -> pl.Expr:
        return combine([key_hash(pl.col(c), seed) for c in SYNCED_KEY], seed)

    synced = state.synced.lazy().select(
        k=synced_key(hs), kg_synced=synced_key(gs), base="value", has_base=pl.lit(True)
    )
    details = pl.concat(
        [df.select(pl.lit(i).alias("flow_idx"), "pair", *_DETAILS) for i, df in pairs_of.items()]
    )
    del pairs_of
    long = pl.concat(parts).collect(engine=ENGINE)
    if not offsets and long.height:  # flows sharing a name: order by a full sort instead
        long = long.sort("flow_rank", "s_node", "t_node", "prop_rank").with_columns(
            order=pl.int_range(pl.len(), dtype=pl.UInt64)
        )
    # Joined on the key column alone, then put beside: no gather of the wide frame.
    base = long.lazy().select("k").join(synced, on="k", how="left", maintain_order="left")
    if (base := base.collect(engine=ENGINE)).height == long.height:
        long = long.hstack(base.drop("k").get_columns())
    else:  # a synced key more than once (not written by `apply`): every match is a row
        long = (
            long.lazy()
            .join(synced, on="k", how="left", maintain_order="left")
            .collect(engine=ENGINE)
        )
    long = long.with_columns(pl.col("has_base").fill_null(False))
    check(
        bool((long["kg_synced"].is_null() | (long["kg_synced"] == long["kg"])).all()),
        "last synced values",
    )
    return long.drop("k", "kg", "kg_synced"), details


_DETAILS = ("s_id", "t_id", "s_parent", "t_parent", "s_ts", "t_ts")
"""Per pair columns only the few rows to write need: joined back by (flow_idx, pair)."""


SYNCED_KEY = ("flow", "property", "source", "target")
POS = "__pos"


def _pair_rank() -> pl.Expr:
    """0-based rank of a pair by (source node, target node), i.e. by record keys."""
    st = pl.col("s_node").cast(pl.UInt64) * (1 << 32) + pl.col("t_node").cast(pl.UInt64)
    return st.rank("ordinal").cast(pl.UInt64) - 1


def _offsets(ctxs: list[FlowCtx], n_pairs: dict[int, int]) -> dict[int, int]:
    """Per flow, where its rows start in the output order (flow name, pair, property).

    Empty when two flows share a name: their rows interleave, so a full sort is needed.
    """
    names = [c.name for c in ctxs if c.idx in n_pairs]
    if len(set(names)) != len(names):
        return {}
    out, at = {}, 0
    for c in sorted((c for c in ctxs if c.idx in n_pairs), key=lambda c: c.name):
        out[c.idx] = at
        at += n_pairs[c.idx] * len(c.rf.properties)
    return out


def _pair_key(flow: str, prop: str, which: str, seed: int) -> pl.Expr:
    """The synced-value key hash of a pair row from its sides' key hashes `s_h`/`t_h` (or g)."""
    sides = [pl.col(f"s_{which}"), pl.col(f"t_{which}")]
    return combine([literal_hash(flow, seed), literal_hash(prop, seed), *sides], seed)


_LONG_STR = [
    "flow",
    "cluster",
    "source",
    "target",
    "property",
    "source_property",
    "type",
    "s_type",
    "t_type",
    "s_dt",
    "t_dt",
    "s_raw",
    "sv",
    "t_raw",
    "tv",
    "base",
]
_LONG_OTHER = {
    "flow_idx": pl.Int32,
    "flow_rank": pl.UInt32,
    "prop_rank": pl.UInt32,
    "s_node": pl.UInt32,
    "t_node": pl.UInt32,
    "order": pl.UInt64,
    "label": pl.UInt32,
    "pair": pl.UInt32,
    "writable": pl.Boolean,
    "s_fail": pl.Boolean,
    "t_fail": pl.Boolean,
    "has_base": pl.Boolean,
}


def _updates(dec: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Write rows for decided pairs (S4-S6): value converted to the written field's type.

    Returns (rows with baseline columns and a `write` flag, rejects). A value equal to the
    field's current value needs no write (S5); a value the field's type refuses is rejected.
    """
    to_t = pl.col("action") == "to_target"
    rows = dec.with_columns(
        direction=pl.col("action"),
        record=pl.when(to_t).then("target").otherwise("source"),
        record_id=pl.when(to_t).then("t_id").otherwise("s_id"),
        parent_id=pl.when(to_t).then("t_parent").otherwise("s_parent"),
        datatype=pl.when(to_t).then("t_dt").otherwise("s_dt"),
        path=pl.when(to_t).then("property").otherwise("source_property"),
        ftype=pl.when(to_t).then("t_type").otherwise("s_type"),
        old_value=pl.when(to_t).then("t_raw").otherwise("s_raw"),
    ).with_columns(new_value=parse_dynamic(pl.col("value"), pl.col("ftype")))
    bad = pl.col("new_value").is_null()
    rejects = rows.filter(bad).select(
        "flow",
        "label",
        "record",
        property="path",
        value="value",
        reason=pl.concat_str([pl.lit("cannot convert to "), pl.col("ftype")]),
    )
    rows = rows.filter(~bad).with_columns(
        write=~pl.col("new_value").eq_missing(pl.col("old_value")),
        system=pl.col("datatype").str.split_exact(".", 1).struct.field("field_0"),
    )
    rows = rows.with_columns(
        write_id=pl.when(pl.col("write")).then(
            pl.concat_str([pl.lit("update:"), pl.col("record")])
        ),
        written_path=pl.when(pl.col("write")).then("path"),
        written_type=pl.when(pl.col("write")).then("ftype"),
    )
    return rows, rejects


def _writes(inserts: pl.DataFrame, updates: pl.DataFrame) -> pl.DataFrame:
    """One row per target record: the inserts, and the updates grouped by record."""
    ins = inserts.select(
        "write_id",
        op=pl.lit("insert"),
        system=pl.col("datatype").str.split_exact(".", 1).struct.field("field_0"),
        datatype="datatype",
        record=pl.lit(None, pl.String),
        record_id=pl.lit(None, pl.String),
        parent_id="parent_id",
        cluster="cluster",
        flow="flow",
        values="values",
    )
    upd = (
        updates.sort("write_id", "path")
        .group_by("write_id", maintain_order=True)
        .agg(
            pl.col(
                "system", "datatype", "record", "record_id", "parent_id", "cluster", "flow"
            ).first(),
            values=json_object(pl.col("path"), json_value(pl.col("new_value"), pl.col("ftype"))),
        )
        .with_columns(op=pl.lit("update"))
    )
    out = pl.concat([sch.conform(ins, sch.WRITES), sch.conform(upd, sch.WRITES)])
    return out.sort("write_id")
