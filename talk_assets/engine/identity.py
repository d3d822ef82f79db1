"""Identity (S1, S2): record keys and clusters as connected components, vectorised.

Clusters are computed by min-label propagation with pointer jumping on integer node ids
(`gather`/`scatter`, no Python loop per record): every iteration hooks each edge's endpoints
and their current labels to the smaller label, then every label jumps to its label's label.
Iterations are bounded by the cluster diameter (logarithmic in practice). Node ids follow the
sorted record keys, so a cluster's id is its smallest record key: stable and deterministic.
"""

from __future__ import annotations

import polars as pl

from talk_assets.engine import schemas as sch

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
    """Component label (smallest node id) of nodes 0..n-1 given undirected edges a-b (UInt32)."""
    label = pl.Series("label", range(n), dtype=pl.UInt32) if n else pl.Series(dtype=pl.UInt32)
    if a.is_empty():
        return label
    a, b = a.cast(pl.UInt32), b.cast(pl.UInt32)
    for _ in range(MAX_ITERATIONS):
        la, lb = label.gather(a), label.gather(b)
        m = pl.Series(pl.select(pl.min_horizontal(la, lb)).to_series(), dtype=pl.UInt32)
        hooks = (
            pl.DataFrame({"node": pl.concat([a, b, la, lb]), "m": pl.concat([m, m, m, m])})
            .group_by("node")
            .agg(pl.col("m").min())
        )
        current = label.gather(hooks["node"])
        lowered = pl.select(pl.min_horizontal(current, hooks["m"]))[:, 0]
        new = label.clone().scatter(hooks["node"], lowered)  # scatter works in place
        new = new.gather(new)
        if new.equals(label):
            return new
        label = new
    raise RuntimeError("cluster computation did not converge")  # pragma: no cover


def clusters(nodes: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """CLUSTERS frame from nodes (record, gone) and edges (a, b) between record keys.

    Edge endpoints missing from `nodes` are added (known from links only, so gone). Node ids
    are row positions (no string sort); the cluster id is then the smallest key per label.
    """
    nodes = nodes.select("record", "gone").unique(subset=["record"], keep="first")
    ends = pl.concat([edges["a"], edges["b"]]).alias("record").to_frame()
    extra = ends.join(nodes.select("record"), on="record", how="anti").unique()
    allnodes = pl.concat([nodes, extra.with_columns(gone=pl.lit(True))]).with_row_index("i")
    index = allnodes.select("record", "i")
    e = (
        edges.lazy()
        .join(index.lazy().rename({"record": "a", "i": "ia"}), on="a")
        .join(index.lazy().rename({"record": "b", "i": "ib"}), on="b")
        .filter(pl.col("ia") != pl.col("ib"))
        .collect()
    )
    label = components(allnodes.height, e["ia"], e["ib"])
    out = allnodes.with_columns(label=label)
    names = out.group_by("label").agg(cluster=pl.col("record").min())
    out = out.join(names, on="label", how="left").with_columns(
        datatype=key_datatype(pl.col("record"))
    )
    return sch.conform(out, sch.CLUSTERS).sort("record")
