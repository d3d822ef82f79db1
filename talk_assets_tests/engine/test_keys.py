"""Hashed record keys: a collision never changes the plan (the planner retries other seeds)."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from talk_assets.engine import SyncPlan, SyncState, identity, keys, make_plan, pairs
from talk_assets.engine.identity import components
from talk_assets.flows.spec import committed_flows
from talk_assets_tests.engine.sim import frame, run

CUST, CONTACTS = "powerofficego.customers", "crmoffice.contacts"
FLOWS = committed_flows()


def _scenario() -> tuple[dict[str, pl.DataFrame], SyncState]:
    """Records after one synced run, then edited on both sides, plus a link to a gone record."""
    records = {
        CUST: frame(
            CUST,
            [
                {"Id": i, "IsPerson": True, "FirstName": f"F{i}", "LastName": f"L{i}"}
                for i in range(1, 9)
            ],
        ),
        CONTACTS: frame(CONTACTS, [{"id": "c1", "givenName": "F1", "familyName": "Other"}]),
    }
    records, state, _ = run(records, FLOWS, SyncState.empty())
    records[CUST] = records[CUST].with_columns(
        FirstName=pl.when(pl.col("Id") == 2).then(pl.lit("Changed")).otherwise("FirstName")
    )
    records[CONTACTS] = records[CONTACTS].with_columns(familyName=pl.lit("Edited"))
    gone = pl.DataFrame(
        {"source": [f"{CUST}:99"], "target": [f"{CUST}:1"], "origin": ["merge"], "flow": ["f"]}
    )
    return records, state.replace(links=pl.concat([state.links, gone]))


def _assert_same(a: SyncPlan, b: SyncPlan) -> None:
    for name, df in a.frames().items():
        assert_frame_equal(df, b.frames()[name])


def _weak_on(monkeypatch: pytest.MonkeyPatch, bad_seeds: set[int]) -> None:
    """Key hashes that collide for every key of the same length under `bad_seeds`."""
    real = keys.key_hash

    def weak(expr: pl.Expr, seed: int) -> pl.Expr:
        return expr.str.len_bytes().cast(pl.UInt64) if seed in bad_seeds else real(expr, seed)

    for mod in (keys, identity, pairs):
        monkeypatch.setattr(mod, "key_hash", weak)


def test_record_key_collision_replans_with_other_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    records, state = _scenario()
    expected = make_plan(records, FLOWS, state)
    assert not expected.is_empty and not expected.mapped.is_empty()
    _weak_on(monkeypatch, {1, 3})  # the first two attempts collide
    _assert_same(expected, make_plan(records, FLOWS, state))


def test_synced_key_collision_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    records, state = _scenario()
    expected = make_plan(records, FLOWS, state)
    real = keys.combine

    def constant_on_first(cols: list[pl.Expr], seed: int) -> pl.Expr:
        return pl.lit(7, pl.UInt64) if seed == 1 else real(cols, seed)

    monkeypatch.setattr(pairs, "combine", constant_on_first)
    _assert_same(expected, make_plan(records, FLOWS, state))


def test_collisions_on_every_attempt_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    records, state = _scenario()
    _weak_on(monkeypatch, {2 * s + 1 for s in keys.SEEDS})
    with pytest.raises(keys.HashCollisionError):
        make_plan(records, FLOWS, state)


def test_components_chain_and_star() -> None:
    # 0-5-1-4-2-3 (a chain with alternating ids), 6-7, 8 alone, 9 hub of 10..12
    a = pl.Series([0, 5, 1, 4, 2, 6, 9, 9, 9], dtype=pl.UInt32)
    b = pl.Series([5, 1, 4, 2, 3, 7, 10, 11, 12], dtype=pl.UInt32)
    assert components(13, a, b).to_list() == [0] * 6 + [6, 6, 8] + [9] * 4
