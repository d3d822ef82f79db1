"""Mapped pairs (S4-S7): one long row per flow, linked pair and mapped property.

The first pass over every linked pair (`mapped_pairs`), and the per-property columns it shares
with the cascade's pair rows (`property_columns`).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from talk_assets.engine import schemas as sch
from talk_assets.engine.flows import FlowCtx, side
from talk_assets.engine.identity import LABEL, NODE, Identity
from talk_assets.engine.keys import check, combine, key_hash, literal_hash
from talk_assets.engine.lazy import ENGINE
from talk_assets.engine.mapping import coerce
from talk_assets.engine.state import SyncState
from talk_assets.systems import Field

SYNCED_KEY = ("flow", "property", "source", "target")


def property_columns(ctx: FlowCtx, source: Field, target: Field, typ: str) -> dict[str, pl.Expr]:
    """The columns of a pair row that name its flow and mapped property: the same for every
    pair of the flow (literals), in the first pass here and in the cascade's rows."""
    rf = ctx.rf
    return {
        "flow": pl.lit(ctx.name),
        "flow_idx": pl.lit(ctx.idx, pl.Int32),
        "property": pl.lit(target.path),
        "source_property": pl.lit(source.path),
        "type": pl.lit(typ),
        "source_field_type": pl.lit(source.type),
        "target_field_type": pl.lit(target.type),
        "source_datatype": pl.lit(rf.source.key),
        "target_datatype": pl.lit(rf.target.key),
    }


def mapped_pairs(
    records: Mapping[str, pl.DataFrame],
    ctxs: list[FlowCtx],
    ident: Identity,
    state: SyncState,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Long frame: one row per flow, linked pair and mapped property, both sides coerced, and
    the pairs' details (PAIR_DETAILS). records: as `merging.attached` gives them.

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
            records,
            rf.source,
            [rf.source_filter],
            "source_",
            {**scols, "source_node": NODE, "label": LABEL},
        )
        tgt = side(
            records,
            rf.target,
            [rf.target_filter],
            "target_",
            {**tcols, "target_node": NODE, "target_label": LABEL},
        )
        pairs = (
            src.join(tgt, left_on="label", right_on="target_label")
            .filter(pl.col("source_node") != pl.col("target_node"))
            .with_columns(pair_rank=_pair_rank())
            .with_row_index("pair")
            .collect(engine=ENGINE)
        )
        pairs_of[c.idx] = pairs.with_columns(
            index["cluster"].gather(pairs["label"]),
            *[
                index[x].gather(pairs[f"{side_}_node"]).alias(f"{side_}_{x}")
                for x in ("h", "g")
                for side_ in ("source", "target")
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
            source_rendered, source_value, source_unconvertible = coerce(
                pl.col(f"s{i}"), s.type, typ
            )
            target_rendered, target_value, target_unconvertible = coerce(
                pl.col(f"t{i}"), t.type, typ
            )
            parts.append(
                pairs.select(
                    **property_columns(c, s, t, typ),
                    flow_rank=pl.lit(flow_rank[c.name], pl.UInt32),
                    prop_rank=pl.lit(prop_rank[t.path], pl.UInt32),
                    order=pl.lit(offsets.get(c.idx, 0) + in_flow[i], pl.UInt64)
                    + pl.col("pair_rank") * n_props,
                    source_node="source_node",
                    target_node="target_node",
                    pair_key=_pair_key(c.name, t.path, "h", hs),
                    pair_key_check=_pair_key(c.name, t.path, "g", gs),
                    cluster="cluster",
                    label="label",
                    source="source_key",
                    target="target_key",
                    pair="pair",
                    writable=pl.lit(s.writable and t.writable),
                    source_rendered=source_rendered,
                    source_value=source_value,
                    source_unconvertible=source_unconvertible,
                    target_rendered=target_rendered,
                    target_value=target_value,
                    target_unconvertible=target_unconvertible,
                )
            )
    if not parts:
        return sch.empty(sch.LONG), sch.empty(sch.PAIR_DETAILS)

    def synced_key(seed: int) -> pl.Expr:
        return combine([key_hash(pl.col(c), seed) for c in SYNCED_KEY], seed)

    synced_values = state.synced.lazy().select(
        pair_key=synced_key(hs),
        synced_key_check=synced_key(gs),
        synced="value",
        has_synced=pl.lit(True),
    )
    details = pl.concat(
        [
            df.select(pl.lit(i).alias("flow_idx"), "pair", *sch.SIDE_DETAILS)
            for i, df in pairs_of.items()
        ]
    )
    del pairs_of
    long = pl.concat(parts).collect(engine=ENGINE)
    if not offsets and long.height:  # flows sharing a name: order by a full sort instead
        long = long.sort("flow_rank", "source_node", "target_node", "prop_rank").with_columns(
            order=pl.int_range(pl.len(), dtype=pl.UInt64)
        )
    # Joined on the key column alone, then put beside: no gather of the wide frame.
    matched = (
        long.lazy()
        .select("pair_key")
        .join(synced_values, on="pair_key", how="left", maintain_order="left")
    )
    if (matched := matched.collect(engine=ENGINE)).height == long.height:
        long = long.hstack(matched.drop("pair_key").get_columns())
    else:  # a synced key more than once (not written by `apply`): every match is a row
        long = (
            long.lazy()
            .join(synced_values, on="pair_key", how="left", maintain_order="left")
            .collect(engine=ENGINE)
        )
    long = long.with_columns(pl.col("has_synced").fill_null(False))
    check(
        bool(
            (
                long["synced_key_check"].is_null()
                | (long["synced_key_check"] == long["pair_key_check"])
            ).all()
        ),
        "last synced values",
    )
    return long.drop("pair_key", "pair_key_check", "synced_key_check"), details


def _pair_rank() -> pl.Expr:
    """0-based rank of a pair by (source node, target node), i.e. by record keys."""
    st = pl.col("source_node").cast(pl.UInt64) * (1 << 32) + pl.col("target_node").cast(pl.UInt64)
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
    """The synced-value key hash of a pair row from its sides' key hashes `source_h`/`target_h`
    (or `_g`)."""
    sides = [pl.col(f"source_{which}"), pl.col(f"target_{which}")]
    return combine([literal_hash(flow, seed), literal_hash(prop, seed), *sides], seed)
