"""Every shape Sesam Talk documents use, each in a small document under `documents/`."""

from pathlib import Path

import pytest

from talk_assets.flows.document import import_file, parse_document, render_document
from talk_assets.flows.model import DatatypeRef, MergeCriterion, Phrasing, RuleKind
from talk_assets.flows.spec import dump_document, load_document

DOCUMENTS = Path(__file__).parent / "documents"
ALL = sorted(DOCUMENTS.glob("*.rst"))
POG, CRM = "Powerofficego", "Crmoffice"


def _flows(name: str):
    return import_file(DOCUMENTS / name).flows


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_import_then_render_is_the_identity(path):
    text = path.read_text(encoding="utf-8")
    doc = parse_document(text, str(path))
    assert render_document(doc) == text
    assert parse_document(render_document(doc)) == doc


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_the_specification_round_trips_through_yaml(path):
    doc = import_file(path)
    spec = dump_document(doc)
    assert load_document(spec) == doc
    assert render_document(load_document(spec)) == path.read_text(encoding="utf-8")


def test_conditional_rules_keep_the_condition_word_for_word():
    leading, created, every = _flows("conditional_rules.rst")
    assert (leading.rule, leading.phrasing) == (RuleKind.CONDITIONAL_INSERT, Phrasing.LEADING)
    assert leading.condition == (
        "When a Powerofficego Projects has a project manager and is still running"
    )
    assert leading.properties[1].type == "N/A"
    assert (created.rule, created.phrasing) == (RuleKind.CONDITIONAL_INSERT, Phrasing.CREATED)
    assert created.condition == (
        "it is connected to a Powerofficego Projects that is synchronized into Crmoffice"
    )
    assert created.merge_criteria == ()
    assert (every.rule, every.phrasing) == (RuleKind.CONDITIONAL_INSERT, Phrasing.EVERY)
    assert every.condition == "IsArchived is false"


def test_a_note_before_the_rule_sentence_is_the_condition():
    customers, product = _flows("note_before_rule.rst")
    assert customers.condition == (
        "removed person customers for now until that pattern is resolved"
    )
    assert customers.rule is RuleKind.CONDITIONAL_INSERT
    assert customers.merge_criteria == (MergeCriterion("OrganizationNumber", "orgNr"),)
    assert product.condition.startswith("preliminary mapping until we can sort out suppliers.")
    assert product.condition.endswith("for now")


def test_an_empty_system_part():
    named, unnamed = _flows("empty_system.rst")
    assert named.target == DatatypeRef("", "Inventory")
    assert named.title == "Powerofficego Product to  Inventory"
    assert unnamed.source == DatatypeRef("", "Product")
    assert unnamed.name == "product__inventory"


def test_datatype_qualifiers_are_kept_as_written():
    human, organisation, classification = _flows("qualifiers.rst")
    assert human.source == DatatypeRef(POG, "Customers", "(human data)")
    assert organisation.source == DatatypeRef(POG, "Suppliers", "(organisation data)")
    assert classification.source.filter == "(classification data)"
    assert human.source.title == "Powerofficego Customers (human data)"


def test_merge_only_flows_with_several_criteria_and_with_none():
    several, none = _flows("merge_only.rst")
    assert several.rule is none.rule is RuleKind.MERGE_ONLY
    assert [c.source for c in several.merge_criteria] == [
        "MailAddress.Id",
        "MailAddress.AddressLine1",
        "MailAddress.ZipCode",
    ]
    assert none.merge_criteria == ()


def test_spec_keys_for_phrasing_filter_and_enabled():
    doc = import_file(DOCUMENTS / "note_before_rule.rst")
    spec = dump_document(doc)
    assert "phrasing: leading" in spec
    assert "enabled" not in spec and "filter:" not in spec
    edited = spec.replace(
        "  phrasing: leading\n", "  phrasing: leading\n  filter: IsPerson is false\n", 1
    ).replace("  rule: conditional_insert\n", "  rule: conditional_insert\n  enabled: false\n", 1)
    first = load_document(edited).flows[0]
    assert (first.filter, first.enabled) == ("IsPerson is false", False)
    assert load_document(dump_document(load_document(edited))) == load_document(edited)
    # the spec-only keys do not change the document
    assert render_document(load_document(edited)) == render_document(doc)
