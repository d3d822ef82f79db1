"""S9: the closure asked of the tenant file hop by hop (`defs/scope_queries.py`) is the
closure `engine.scope.closure` finds over every record and link."""

from __future__ import annotations

import polars as pl
import pytest

from talk_assets.defs.scope_queries import _criteria, _sharing, id_in, stored_closure
from talk_assets.engine import SyncState
from talk_assets.engine.flows import datatypes_of, prepare
from talk_assets.engine.identity import record_key
from talk_assets.engine.scope import closure, criterion_values, reference_links
from talk_assets.flows.spec import committed_flows
from talk_assets.store.tenant import TenantStore
from talk_assets.systems import datatype
from talk_assets_tests.engine.sim import run_cut
from talk_assets_tests.engine.test_cascade import sample_frames

FLOWS = committed_flows()
CTXS = prepare(list(FLOWS))
DATATYPES = datatypes_of(CTXS)


def settled(seed: int):
    """Sample records and the state after one whole run (links from inserts and merges)."""
    records = sample_frames(8, seed)
    records, state, _ = run_cut(
        records,
        FLOWS,
        SyncState.empty(),
        sink_order=sorted(DATATYPES),
        cut_after=10_000,
        recorded=True,
    )
    return records, state


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_s9_stored_closure_equals_closure_over_everything(tmp_path, seed):
    records, state = settled(seed)
    # a criterion value with Unicode white space around it still matches its trimmed twin
    key = "crmoffice.contacts"
    if records[key].height and "email" in records[key].columns:
        first = records[key]["email"].drop_nulls()
        if first.len():
            records[key] = records[key].with_columns(
                pl.when(pl.int_range(pl.len()) == pl.len() - 1)
                .then(pl.lit("\u00a0 " + first[0] + "\u3000"))
                .otherwise(pl.col("email"))
                .alias("email")
            )
    store = TenantStore(tmp_path / "t.duckdb")
    for key, frame in records.items():
        dt = datatype(key)
        store.store_snapshot(dt.system, dt.name, frame, key=None)
    store.write_tables(replace={"links": state.links})
    links = pl.concat([state.links.select("source", "target"), reference_links(records, DATATYPES)])
    values = criterion_values(records, CTXS)
    every = pl.concat(
        [f.select(record_key(k, datatype(k).id_field).alias("r"))["r"] for k, f in records.items()]
    ).drop_nulls()
    datatypes = [datatype(k) for k in records]
    for i in range(0, every.len(), max(1, every.len() // 25)):
        seeds = every.slice(i, 3)
        expected = closure(seeds, links, values)
        got = stored_closure(store, seeds, datatypes, CTXS)
        assert got.to_list() == expected.to_list(), f"seeds {seeds.to_list()}"
    assert stored_closure(store, pl.Series(["nobody:1"]), datatypes, CTXS).to_list() == ["nobody:1"]


def test_s9_ids_match_an_integer_column_as_its_text_would(tmp_path):
    """`id_in` compares an integer id column as stored (no text cast per row) and matches
    exactly the rows the text comparison matched: '05', '+5' or ' 5' name no record 5."""
    employees = datatype("powerofficego.employees")
    assert employees.polars_schema()[employees.id_field].is_integer()
    store = TenantStore(tmp_path / "t.duckdb")
    with store.connect(read_only=False) as con:
        con.execute("create schema powerofficego")
        con.execute("create table powerofficego.employees as select range as Id from range(1, 8)")
    asked = pl.DataFrame({"id": ["5", "05", "+5", " 5", "x", "7", "12"]})

    matching, wanted = id_in(employees, employees.id_field, asked, "wanted")
    typed = store.query(f"select Id from powerofficego.employees where {matching}", wanted=wanted)
    as_text = store.query(
        "select Id from powerofficego.employees "
        "where cast(Id as varchar) in (select id from wanted)",
        wanted=asked,
    )
    assert "cast" not in matching
    assert sorted(typed["Id"].to_list()) == sorted(as_text["Id"].to_list()) == [5, 7]


def test_s9_ids_match_a_text_column_as_text():
    contacts = datatype("crmoffice.contacts")
    asked = pl.DataFrame({"id": ["a", "05"]})
    matching, wanted = id_in(contacts, contacts.id_field, asked, "wanted")
    assert matching.startswith("cast(") and wanted.equals(asked)


def test_s9_an_integer_criterion_matches_as_its_text_would(tmp_path):
    """An integer merge criterion (suppliers' MailAddress.Id against addresses' Id) is
    compared as stored, not trimmed as text row by row, and matches exactly the values its
    rendering gives: '05', '+5' or 'x' name no address 5."""
    criterion = next(c for c in _criteria(CTXS) if c.dt.key == "powerofficego.addresses")
    assert criterion.dt.polars_schema()[criterion.path].is_integer()
    store = TenantStore(tmp_path / "t.duckdb")
    with store.connect(read_only=False) as con:
        con.execute("create schema powerofficego")
        con.execute("create table powerofficego.addresses as select range as Id from range(1, 8)")
    values = pl.DataFrame(
        {"group": criterion.group, "value": ["5", "05", "+5", "x", "7", "12"]}
    ).vstack(pl.DataFrame({"group": ["another group"], "value": ["3"]}))

    found = _sharing(store, criterion, values)

    assert sorted(found.to_list()) == ["powerofficego.addresses:5", "powerofficego.addresses:7"]
