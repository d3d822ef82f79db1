"""S10: a commit replaces last synced values in `synced_changes`, not in the large `synced`
table, and every read sees the replaced values; a fold moves them into `synced`."""

from __future__ import annotations

import polars as pl

from talk_assets.defs.state_rows import (
    SYNCED_CHANGES,
    delta_tables,
    fold_synced,
    load_state,
    state_of,
)
from talk_assets.engine import schemas as sch
from talk_assets.engine.apply import SYNCED_KEY, StateDelta
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore


def synced(*rows: tuple[str, str, str]) -> pl.DataFrame:
    """Synced value rows (source, property, value) of one flow, each source's target its twin."""
    return pl.DataFrame(
        [
            {"flow": "f", "source": s, "target": s.replace("a:", "b:"), "property": p, "value": v}
            for s, p, v in rows
        ],
        schema=sch.SYNCED,
    )


def commit(store: TenantStore, replaced: pl.DataFrame, new: pl.DataFrame | None = None) -> None:
    delta = StateDelta(
        links=sch.empty(sch.LINKS),
        synced=replaced,
        inserted=sch.empty(sch.INSERTED),
        synced_new=sch.empty(sch.SYNCED) if new is None else new,
    )
    tables = delta_tables(delta)
    store.write_tables(append=tables["append"], upsert=tables["upsert"])


def current(store: TenantStore, records: list[str]) -> dict[tuple[str, str], str]:
    """(source, property) -> value as planning reads it: the scope's rows and the whole state
    must agree, one row per key."""
    scoped = state_of(store, pl.Series(records), ["synced"], by_source=("synced",)).synced
    whole = load_state(store).synced.filter(pl.col("source").is_in(records))
    assert not whole.select(SYNCED_KEY).is_duplicated().any()
    assert scoped.sort(SYNCED_KEY).equals(whole.sort(SYNCED_KEY).select(scoped.columns))
    return {(r["source"], r["property"]): r["value"] for r in whole.iter_rows(named=True)}


def test_s10_a_replaced_synced_value_leaves_the_large_table_alone(tmp_path):
    store = TenantStore(tmp_path / "t.duckdb")
    commit(store, sch.empty(sch.SYNCED), synced(("a:1", "name", "Kari"), ("a:2", "name", "Ola")))
    commit(store, synced(("a:1", "name", "Kari N")))
    commit(store, synced(("a:1", "name", "Kari Nordmann"), ("a:2", "phone", "1")))

    big = store.read_table(STATE_SCHEMA, "synced")
    assert big.height == 2 and set(big["value"]) == {"Kari", "Ola"}  # never deleted from
    assert store.read_table(STATE_SCHEMA, SYNCED_CHANGES).height == 2  # one row per key
    expected = {
        ("a:1", "name"): "Kari Nordmann",
        ("a:2", "name"): "Ola",
        ("a:2", "phone"): "1",
    }
    assert current(store, ["a:1", "a:2"]) == expected

    assert not fold_synced(store)  # fewer rows than FOLD_ROWS: left for later
    assert fold_synced(store, at_least=2)
    assert store.read_table(STATE_SCHEMA, SYNCED_CHANGES).is_empty()
    assert store.read_table(STATE_SCHEMA, "synced").height == 3
    assert current(store, ["a:1", "a:2"]) == expected

    commit(store, synced(("a:2", "name", "Ola N")))  # after a fold, replaced again
    assert current(store, ["a:2"])[("a:2", "name")] == "Ola N"


def test_s10_a_fold_creates_the_large_table_when_only_replacements_exist(tmp_path):
    store = TenantStore(tmp_path / "t.duckdb")
    commit(store, synced(("a:1", "name", "Kari")))  # a merged pair: no insert before
    assert current(store, ["a:1"]) == {("a:1", "name"): "Kari"}
    assert fold_synced(store, at_least=1)
    assert store.read_table(STATE_SCHEMA, "synced")["value"].to_list() == ["Kari"]
    assert current(store, ["a:1"]) == {("a:1", "name"): "Kari"}
