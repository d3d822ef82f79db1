"""Identity (S1, S2): record keys and clusters as connected components, vectorised.

Record keys are hashed to 64 bits (`keys.py`) and numbered in key order, so node ids are
integers and a cluster's smallest node is its smallest record key: stable and deterministic.
Clusters are connected components by root hooking with full path compression on those ids
(`gather`/`scatter`, no Python loop per record or edge).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from talk_assets.engine import schemas as sch
from talk_assets.engine.keys import check, key_hash
from talk_assets.engine.lazy import ENGINE

MAX_ITERATIONS = 10_000


def record_key(datatype_key: str, id_column: str | pl.Expr) -> pl.Expr:
    """`"{datatype key}:{id}"` for an id column or expression (ids rendered as strings)."""
    col = pl.col(id_column) if isinstance(id_column, str) else id_column
    return pl.concat_str([pl.lit(f"{datatype_key}:"), col.cast(pl.String)])


def key_datatype(key: pl.Expr) -> pl.Expr:
    """The datatype key of a record key (datatype keys never contain ':')."""
    return key.str.split_exact(":", 1).struct.field("field_0")


def key_id(key: pl.Expr) -> pl.Expr:
    """The id part of a record key (ids may contain ':')."""
    return key.str.splitn(":", 2).struct.field("field_1")


def components(n: int, a: pl.Series, b: pl.Series) -> pl.Series:
    """Component label (smallest node id) of nodes 0..n-1 given undirected edges a-b (UInt32).

    Each round relabels the remaining edges to their roots, drops the settled ones (both ends
    in one root), hooks every larger root to the smallest root it touches and compresses all
    paths fully, so edges shrink every round and rounds are logarithmic in practice.
    """
    label = pl.int_range(n, dtype=pl.UInt32, eager=True).alias("label")
    e = pl.DataFrame({"a": a.cast(pl.UInt32), "b": b.cast(pl.UInt32)})
    for _ in range(MAX_ITERATIONS):
        e = e.select(a=label.gather(e["a"]), b=label.gather(e["b"])).filter(
            pl.col("a") != pl.col("b")
        )
        if e.is_empty():
            return label
        hooks = (
            e.lazy()
            .select(hi=pl.max_horizontal("a", "b"), lo=pl.min_horizontal("a", "b"))
            .group_by("hi")
            .agg(pl.col("lo").min())
            .collect(engine=ENGINE)
        )
        label = label.scatter(hooks["hi"], hooks["lo"])  # hi are roots: label[hi] == hi
        while not (nxt := label.gather(label)).equals(label):
            label = nxt
    raise RuntimeError("cluster computation did not converge")  # pragma: no cover


@dataclass(frozen=True)
class Identity:
    """Clusters of one plan, with the integer ids the planner joins on.

    clusters: the CLUSTERS frame sorted by record; row i is node i, so node order is record key
    order and a cluster's label (its smallest node) names its smallest record key.
    index: per node `h`, `g` (key hashes, see `keys.py`), `node`, `label` (UInt32), `cluster`.
    rows: (datatype, pos, node) for every present record row (pos: row in its records frame).
    """

    clusters: pl.DataFrame
    index: pl.DataFrame
    rows: pl.DataFrame
    seeds: tuple[int, int]

    def attach(self, records: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
        """The records with columns `NODE` and `LABEL` (null for rows without an id)."""
        parts = self.rows.partition_by("datatype", as_dict=True, include_key=False)
        label = self.index["label"]
        out = {}
        for key, df in records.items():
            rows = parts.get((key,))
            node = pl.repeat(None, df.height, dtype=pl.UInt32, eager=True)
            if rows is not None:
                node = node.scatter(rows["pos"], rows["node"])
            out[key] = df.with_columns(node.alias(NODE), label.gather(node).alias(LABEL))
        return out


NODE, LABEL = "__node", "__label"
"""Columns `Identity.attach` adds to record frames."""


def build(
    present: pl.DataFrame,
    links: pl.DataFrame,
    groups: list[pl.DataFrame],
    seeds: tuple[int, int],
) -> Identity:
    """Clusters (S1, S2) from present records (record, datatype, pos), links (source, target) and
    merge-criterion groups (key, v: records sharing a value join one cluster).

    Link endpoints missing from the present records are nodes too (known from links only, so
    gone). Keys are hashed; the hash is checked injective over the node set, and every link
    endpoint's check hash must equal its node's (`HashCollisionError` otherwise).
    """
    hs, gs = seeds
    hashed = [key_hash(pl.col("record"), hs).alias("h"), key_hash(pl.col("record"), gs).alias("g")]
    present = present.select("record", "datatype", "pos", *hashed, gone=pl.lit(False))
    links = links.filter(pl.col("source").is_not_null() & pl.col("target").is_not_null())
    ends = pl.concat([links["source"], links["target"]]).alias("record").to_frame()
    extra = (
        ends.lazy()
        .select("record", *hashed)
        .join(present.lazy().select("h"), on="h", how="anti")
        .unique(subset=["h"])
        .select(
            "record",
            datatype=key_datatype(pl.col("record")),
            pos=pl.lit(None, pl.UInt32),
            h="h",
            g="g",
            gone=pl.lit(True),
        )
    )
    # Equal keys (a record listed twice) sort together and share a node.
    rows = (
        pl.concat([present.lazy(), extra])
        .sort("record")
        .with_columns(new=pl.col("record").ne_missing(pl.col("record").shift()))
        .with_columns(node=(pl.col("new").cum_sum() - 1).cast(pl.UInt32))
        .collect(engine=ENGINE)
    )
    nodes = rows.filter("new").drop("new", "pos")
    check(nodes["h"].n_unique() == nodes.height, "record keys")
    index = nodes.lazy().select("h", "g", "node")

    def ends_of(col: str, side: str) -> list[pl.Expr]:
        return [
            key_hash(pl.col(col), hs).alias(f"h{side}"),
            key_hash(pl.col(col), gs).alias(f"g{side}"),
        ]

    link_edges = (
        links.lazy()
        .select(*ends_of("source", "a"), *ends_of("target", "b"))
        .join(index.rename({"h": "ha", "g": "ga_node", "node": "a"}), on="ha")
        .join(index.rename({"h": "hb", "g": "gb_node", "node": "b"}), on="hb")
        .select(
            "a", "b", ok=(pl.col("ga") == pl.col("ga_node")) & (pl.col("gb") == pl.col("gb_node"))
        )
    )
    group_edges = [
        grp.lazy()
        .with_columns(h=key_hash(pl.col("key"), hs))
        .join(index.select("h", "node"), on="h")
        .select(a="node", b=pl.col("node").min().over("v"), ok=pl.lit(True))
        for grp in groups
    ]
    edges = pl.concat([link_edges, *group_edges]).collect(engine=ENGINE)
    check(bool(edges["ok"].all()) and len(edges) >= len(links), "links")
    edges = edges.filter(pl.col("a") != pl.col("b"))
    label = components(nodes.height, edges["a"], edges["b"])
    cluster = nodes["record"].gather(label).alias("cluster")
    clusters = nodes.select("record", "datatype", cluster, "gone")
    index_df = nodes.select("h", "g", "node", label, cluster)
    return Identity(
        clusters=sch.conform(clusters, sch.CLUSTERS),
        index=index_df,
        rows=rows.filter(pl.col("pos").is_not_null()).select("datatype", "pos", "node"),
        seeds=seeds,
    )
