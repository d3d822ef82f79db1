"""Questions about the stored clusters (`talk/clusters`), for the demo, tests and benchmarks."""

from __future__ import annotations

import polars as pl

from talk_assets.store.tenant import TenantStore


def linked_ids(store: TenantStore, left: str, right: str) -> list[tuple[str, str]]:
    """(left id, right id) of records of datatypes `left` and `right` that share a cluster,
    in record key order."""
    clusters = store.read_table("talk", "clusters")
    if clusters is None:
        return []
    pairs = clusters.filter(pl.col("datatype") == left).join(
        clusters.filter(pl.col("datatype") == right), on="cluster", suffix="_r"
    )
    return [
        (a.split(":", 1)[1], b.split(":", 1)[1])
        for a, b in pairs.sort("record", "record_r").select("record", "record_r").iter_rows()
    ]
