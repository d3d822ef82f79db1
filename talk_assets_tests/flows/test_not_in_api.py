"""Mappings of a property the real API does not have (contact persons' `DateOfBirth`): kept for
lineage and reported, never read, planned or sent, and never an error that stops a run."""

import os
from pathlib import Path

import pytest

from talk_assets.cli import main
from talk_assets.engine.flows import prepare
from talk_assets.flows.catalog import ACTIVE, ERROR, CatalogFlow, _check, active_flows, catalog
from talk_assets.flows.model import DatatypeRef, Flow, MergeCriterion, RuleKind
from talk_assets.flows.spec import SPECS_DIR, committed_flows
from talk_assets.lineage import all_edges, connected
from talk_assets.systems import resolve_flow

from .test_catalog import DOCUMENTS, talk_assets

ACTIVITIES_DOCUMENT = DOCUMENTS / "powerofficego_activities_to_crmoffice.rst"
SELF_SPEC = SPECS_DIR / "powerofficego_to_powerofficego.yaml"
ABSENT = "powerofficego.contactpersons.DateOfBirth"
TO_PERSON = "powerofficego_customer__powerofficego_contactperson"
FROM_PERSON = "powerofficego_contactperson__powerofficego_customer"


@pytest.fixture(autouse=True)
def _no_flows_variable(monkeypatch):
    monkeypatch.delenv("TALK_ASSETS_FLOWS", raising=False)
    monkeypatch.setenv("TALK_ASSETS_ENV_FILE", os.devnull)


def test_the_catalog_keeps_the_flows_active_and_reports_the_mapping():
    entries = {e.flow.name: e for e in catalog([SELF_SPEC])}
    assert {e.status for e in entries.values()} == {ACTIVE}
    for name, role in ((TO_PERSON, "target"), (FROM_PERSON, "source")):
        (line,) = entries[name].not_in_api
        assert f"{role} 'dateOfBirth'" in line and "ContactPersonDto" in line
    assert not entries["powerofficego_supplier__powerofficego_address"].not_in_api
    assert len(active_flows([SELF_SPEC])) == 3


def test_flows_list_says_not_in_the_api_and_exits_0():
    proc = talk_assets("flows", "list", "--flows", str(SPECS_DIR), str(ACTIVITIES_DOCUMENT))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    absent = [i for i, line in enumerate(lines) if "not in the API" in line]
    assert len(absent) == 2
    for i in absent:  # each under its flow's line
        assert lines[i - 1].split()[:2] in (["active", TO_PERSON], ["active", FROM_PERSON])
        assert "dateOfBirth" in lines[i] and "ContactPersonDto" in lines[i]
    assert "11 flows: 11 active, 0 off, 0 that do not resolve" in proc.stdout


def test_the_engine_never_plans_it_and_notes_why():
    resolved = {f.name: resolve_flow(f) for f in committed_flows()}
    to_person = resolved[TO_PERSON]
    assert "DateOfBirth" not in {t.path for _, t, _ in to_person.properties}
    assert [(s.path, t.path) for s, t, _ in to_person.not_in_api] == [
        ("DateOfBirth", "DateOfBirth")
    ]
    ctx = next(c for c in prepare(list(resolved.values())) if c.name == TO_PERSON)
    assert "DateOfBirth" not in {t.path for _, _, t, _ in ctx.writable}
    (note,) = [n for n in ctx.notes if "not in the API" in n]
    assert "ContactPersonDto" in note and "never" in note


def test_lineage_keeps_the_mapping_as_not_in_the_api(capsys):
    edges = connected(ABSENT, all_edges(committed_flows()))
    assert {e.flow for e in edges} == {TO_PERSON, FROM_PERSON}
    for edge in edges:
        assert "powerofficego.customers.DateOfBirth" in (edge.source, edge.target)
        assert not (edge.source_writable and edge.target_writable)
        assert edge.direction.startswith("not in the API")
    assert main(["lineage", "powerofficego.contactpersons.dateOfBirth"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"{ABSENT} (date, not in the API: ")
    assert out.count("not in the API") >= 3  # the property and its two mappings


def test_a_merge_criterion_on_it_is_an_error(tmp_path: Path):
    flow = Flow(
        DatatypeRef("Powerofficego", "Customer"),
        DatatypeRef("Powerofficego", "Contactperson"),
        RuleKind.MERGE_ONLY,
        merge_criteria=(MergeCriterion("dateOfBirth", "dateOfBirth"),),
    )
    entry = CatalogFlow(flow, tmp_path / "x.yaml", "x")
    _check(entry)
    assert entry.status == ERROR
    assert "is not in the API" in entry.problems[0]
