"""64-bit hashes of record keys, so the big joins run on integers instead of strings.

Every key is hashed twice with independent seeds: `h` is the join key, `g` the check. A join on
`h` whose matched rows disagree on `g` hit a collision (`HashCollision`); `make_plan` then
plans again with the next seed pair. Within the node set (all known record keys) `h` is
checked to be injective exactly (see `identity.py`).
"""

from __future__ import annotations

import polars as pl

SEEDS: tuple[int, ...] = (0, 1, 2)
"""Seed attempts: attempt `s` hashes with seeds `2s + 1` (h) and `2s + 2` (g)."""


class HashCollisionError(RuntimeError):
    """Two different keys hashed to the same 64-bit value; plan again with other seeds."""


def key_hash(expr: pl.Expr, seed: int) -> pl.Expr:
    """64-bit hash of a string column (the same for a literal and a column of equal values)."""
    return expr.hash(seed)


def combine(cols: list[pl.Expr], seed: int) -> pl.Expr:
    """One 64-bit hash of several 64-bit hashes, order-sensitive."""
    acc = cols[0]
    for c in cols[1:]:
        acc = acc.hash(seed) ^ c
    return acc.hash(seed)


def check(ok: bool, where: str) -> None:
    if not ok:
        raise HashCollisionError(f"64-bit key hash collision in {where}")


def literal_hash(value: str, seed: int) -> pl.Expr:
    """`key_hash` of a constant string, as a UInt64 literal."""
    return pl.lit(pl.select(key_hash(pl.lit(value, pl.String), seed)).item(), pl.UInt64)
