"""Choosing flows: --flows / TALK_ASSETS_FLOWS, switching flows off, what does not resolve."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from talk_assets.engine.flows import prepare
from talk_assets.flows.catalog import ACTIVE, ERROR, OFF, FlowsError, active_flows, catalog
from talk_assets.flows.document import import_file
from talk_assets.flows.spec import committed_flows, dump_document

DOCUMENTS = Path(__file__).parent / "documents"
SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
RUN_AND_REPORT = """\
import sys
from talk_assets.cli import main
code = main(sys.argv[1:])
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"dagster", "httpx"})
print("HEAVY", heavy, file=sys.stderr)
sys.exit(code)
"""


@pytest.fixture(autouse=True)
def _no_flows_variable(monkeypatch):
    monkeypatch.delenv("TALK_ASSETS_FLOWS", raising=False)


def _spec(tmp_path: Path, document: str, edit=lambda text: text, name: str = "") -> Path:
    """The spec of a test document, edited, written as a .yaml file."""
    spec = tmp_path / (name or Path(document).with_suffix(".yaml").name)
    spec.write_text(edit(dump_document(import_file(DOCUMENTS / document))), encoding="utf-8")
    return spec


def _status(entries) -> dict[str, str]:
    return {e.flow.name: e.status for e in entries}


def test_default_is_the_committed_specs():
    assert active_flows() == committed_flows()
    assert {e.status for e in catalog()} == {ACTIVE}


def test_the_seed_documents_give_the_committed_flows():
    assert active_flows([SEEDS]) == committed_flows()
    assert [e.origin.name for e in catalog([SEEDS])][:1] == ["000_265dbc7c6246be08.txt"]


def test_the_variable_names_files_separated_by_the_path_separator(monkeypatch, tmp_path):
    spec = _spec(tmp_path, "merge_only.rst")
    monkeypatch.setenv(
        "TALK_ASSETS_FLOWS", os.pathsep.join([str(spec), str(DOCUMENTS / "qualifiers.rst")])
    )
    assert [e.origin for e in catalog()] == [spec, spec] + [DOCUMENTS / "qualifiers.rst"] * 3
    assert catalog([spec])[0].origin == spec  # --flows wins over the variable


def test_qualifiers_resolve_to_filters_and_an_unknown_one_is_reported():
    from talk_assets.systems import resolve_ref

    human, organisation, classification = catalog([DOCUMENTS / "qualifiers.rst"])
    assert resolve_ref(human.flow.source)[1] == ("IsPerson", True)
    assert resolve_ref(organisation.flow.source)[1] == ("IsPerson", False)
    assert (human.status, organisation.status, classification.status) == (ACTIVE, ACTIVE, ERROR)
    assert "has no filter '(classification data)'" in classification.problems[0]


def test_a_condition_without_a_filter_stays_off_until_the_spec_gives_one(tmp_path):
    entries = catalog([DOCUMENTS / "note_before_rule.rst"])
    assert [e.status for e in entries] == [OFF, OFF]
    assert "needs a filter" in entries[0].off_reason
    assert active_flows([DOCUMENTS / "note_before_rule.rst"]) == []

    spec = _spec(
        tmp_path,
        "note_before_rule.rst",
        lambda t: t.replace("  phrasing: leading\n", "  phrasing: leading\n  filter: person\n", 1),
    )
    first, second = catalog([spec])
    assert (first.status, second.status) == (ACTIVE, OFF)
    (flow,) = active_flows([spec])
    assert flow.filter == "person"  # the engine reads the filter itself ...
    assert flow.condition.startswith("removed person customers")  # ... the condition is kept
    assert prepare([flow])[0].condition == ("IsPerson", True)


def test_a_field_filter_resolves_to_its_path_and_a_bad_one_is_an_error(tmp_path):
    def with_filter(value):
        return lambda t: t.replace(
            "  phrasing: leading\n", f"  phrasing: leading\n  filter: {value}\n", 1
        )

    good = _spec(tmp_path, "note_before_rule.rst", with_filter("isperson is false"), "good.yaml")
    assert catalog([good])[0].engine_condition == "IsPerson is false"
    assert prepare(active_flows([good]))[0].condition == ("IsPerson", False)
    bad = _spec(tmp_path, "note_before_rule.rst", with_filter("Colour is red"), "bad.yaml")
    assert catalog([bad])[0].status == ERROR
    with pytest.raises(FlowsError, match="filter 'Colour is red' does not resolve"):
        active_flows([bad])


def test_a_machine_readable_condition_needs_no_filter():
    entries = catalog([DOCUMENTS / "conditional_rules.rst"])
    assert entries[2].status == ACTIVE and entries[2].engine_condition == "IsArchived is false"


def test_a_switched_off_flow_is_listed_but_not_run(tmp_path):
    spec = _spec(
        tmp_path,
        "qualifiers.rst",
        lambda t: t.replace("  rule: insert\n", "  rule: insert\n  enabled: false\n", 1),
    )
    entries = catalog([spec])
    assert [e.status for e in entries] == [OFF, ACTIVE, ERROR]
    assert entries[0].off_reason == "switched off (enabled: false)"
    assert not entries[0].flow.enabled


def test_an_unresolvable_flow_refuses_naming_document_flow_and_property(tmp_path):
    spec = _spec(
        tmp_path, "merge_only.rst", lambda t: t.replace("source: MailAddress.City", "source: Town")
    )
    with pytest.raises(FlowsError) as caught:
        active_flows([spec])
    text = str(caught.value)
    assert str(spec) in text
    assert "Powerofficego to PowerOfficeGo Dataflow" in text
    assert "'Powerofficego Supplier to PowerOfficeGo Address'" in text
    assert "property 'Town'" in text
    assert caught.value.exit_code == 2


def test_the_same_flow_name_in_two_documents_is_an_error_naming_both(tmp_path):
    entries = catalog([DOCUMENTS / "merge_only.rst", SEEDS / "003_f422fd5dec3f0e74.txt"])
    assert _status(entries)["powerofficego_customer__powerofficego_contactperson"] == ACTIVE
    (duplicate,) = [e for e in entries if e.status == ERROR]
    assert duplicate.origin.name == "003_f422fd5dec3f0e74.txt"
    assert "merge_only.rst" in duplicate.problems[0]
    assert "powerofficego_supplier__powerofficego_address" in duplicate.problems[0]


def test_paths_that_name_nothing_usable(tmp_path):
    with pytest.raises(FlowsError, match="does not exist"):
        catalog([tmp_path / "missing.yaml"])
    (tmp_path / "notes.md").write_text("x")
    with pytest.raises(FlowsError, match="neither a specification"):
        catalog([tmp_path / "notes.md"])
    with pytest.raises(FlowsError, match="holds no specification"):
        catalog([tmp_path])
    (tmp_path / "bad.rst").write_text("no title\n")
    with pytest.raises(FlowsError, match=r"bad\.rst:1: expected"):
        catalog([tmp_path / "bad.rst"])


def talk_assets(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-c", RUN_AND_REPORT, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TALK_ASSETS_ENV_FILE": os.devnull, **env},
    )
    assert "HEAVY []" in proc.stderr, proc.stderr  # no Dagster: nothing ran
    return proc


def test_flows_list_shows_status_file_and_problems_and_exits_1_on_errors():
    proc = talk_assets("flows", "list", "--flows", str(DOCUMENTS / "qualifiers.rst"))
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["status", "flow", "file"]
    assert lines[1].split()[:2] == [
        "active",
        "powerofficego_customers_human_data__crmoffice_contacts",
    ]
    assert lines[1].endswith("qualifiers.rst")
    assert "has no filter '(classification data)'" in proc.stdout
    assert "3 flows: 2 active, 0 off, 1 that do not resolve" in proc.stdout


def test_flows_list_reads_the_variable_and_lists_flows_needing_a_filter():
    proc = talk_assets("flows", "list", TALK_ASSETS_FLOWS=str(DOCUMENTS / "note_before_rule.rst"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("needs a filter") == 2


def test_sync_refuses_an_unresolvable_flow_before_any_run(tmp_path):
    proc = talk_assets(
        "sync",
        "--flows",
        str(DOCUMENTS / "qualifiers.rst"),
        TALK_ASSETS_HOME=str(tmp_path),
    )
    assert proc.returncode == 2, proc.stderr
    assert "1 flow(s) do not resolve against the schemas" in proc.stderr
    assert "qualifiers.rst" in proc.stderr
    assert "'Powerofficego Customers (classification data) to Crmoffice Companies'" in proc.stderr
    assert not any(tmp_path.iterdir())  # no state, no Dagster instance


def test_the_ui_definitions_read_the_variable(monkeypatch, tmp_path):
    from talk_assets.defs.build import build_definitions

    monkeypatch.setenv("TALK_ASSETS_FLOWS", str(DOCUMENTS / "merge_only.rst"))
    monkeypatch.setenv("TALK_ASSETS_HOME", str(tmp_path))
    keys = {
        k.to_user_string() for k in build_definitions().resolve_asset_graph().get_all_asset_keys()
    }
    assert {k for k in keys if k.startswith("flows/")} == {
        "flows/powerofficego_to_powerofficego/supplier_to_address",
        "flows/powerofficego_to_powerofficego/customer_to_address",
    }
