"""Identity inputs (S1, S2): present records and merge criteria -> clusters and new merges."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from talk_assets.engine import schemas as sch
from talk_assets.engine.flows import FlowCtx, side
from talk_assets.engine.identity import LABEL, NODE, Identity
from talk_assets.engine.identity import build as build_identity
from talk_assets.engine.lazy import collect_all
from talk_assets.engine.mapping import render
from talk_assets.engine.state import SyncState
from talk_assets.systems import Datatype

POS = "__pos"


def criterion_value(path: str, field_type: str) -> pl.Expr:
    """A merge criterion's comparable value: the field rendered as text, trimmed."""
    return render(pl.col(path), field_type).str.strip_chars()


def identify(
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
                .select("key", v=criterion_value("v", sf.type))
                .filter(pl.col("v").is_not_null() & (pl.col("v") != ""))
            )
            tgt = (
                side(records, rf.target, [rf.target_filter], "", {"v": tf.path})
                .select("key", v=criterion_value("v", tf.type))
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


def attached(
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
