import re
from pathlib import Path

import pytest

from talk_assets.flows.document import (
    DocumentError,
    import_file,
    parse_document,
    render_document,
)
from talk_assets.flows.model import (
    DatatypeRef,
    Flow,
    FlowDocument,
    MergeCriterion,
    PropertyMapping,
    RuleKind,
)
from talk_assets.flows.spec import SPECS_DIR, committed_documents, load_spec_file

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
SEED_SPECS = {
    "000_265dbc7c6246be08.txt": "powerofficego_to_crmoffice.yaml",
    "003_f422fd5dec3f0e74.txt": "powerofficego_to_powerofficego.yaml",
}

POG, CRM = "Powerofficego", "Crmoffice"


@pytest.mark.parametrize(("seed", "spec"), SEED_SPECS.items())
def test_each_seed_imports_to_its_committed_spec(seed, spec):
    assert import_file(SEEDS / seed) == load_spec_file(SPECS_DIR / spec)


def test_seed_000_renders_back_byte_for_byte():
    text = (SEEDS / "000_265dbc7c6246be08.txt").read_text(encoding="utf-8")
    assert render_document(parse_document(text)) == text


def test_seed_003_renders_back_but_for_the_introduction_heading_typo():
    text = (SEEDS / "003_f422fd5dec3f0e74.txt").read_text(encoding="utf-8")
    rendered = render_document(parse_document(text))
    assert rendered == text.replace("Introduction.\n", "Introduction\n", 1)


@pytest.mark.parametrize("doc", committed_documents(), ids=lambda d: d.title)
def test_committed_docs_render_then_import_unchanged(doc):
    assert parse_document(render_document(doc)) == doc


def _props(*names: str, type: str = "string") -> tuple[PropertyMapping, ...]:
    return tuple(PropertyMapping(n, n.lower(), type) for n in names)


HAND_BUILT = [
    FlowDocument(
        title="Powerofficego to Crmoffice Dataflow",
        generated="2025-01-02 03:04:05",
        introduction="First paragraph.\n\nSecond paragraph.",
        flows=(
            Flow(
                DatatypeRef(POG, "Supplier"),
                DatatypeRef(CRM, "Companies"),
                RuleKind.MERGE_ONLY,
                merge_criteria=(MergeCriterion("OrgNo", "orgNumber"),),
                properties=_props("Name"),
            ),
            Flow(DatatypeRef(POG, "Product"), DatatypeRef(CRM, "Companies"), RuleKind.INSERT),
            Flow(
                DatatypeRef(POG, "Customers", "person"),
                DatatypeRef(CRM, "Contacts"),
                RuleKind.MERGE_ELSE_INSERT,
                merge_criteria=(
                    MergeCriterion("EmailAddress", "email"),
                    MergeCriterion("MailAddress.Id", "address.id"),
                ),
                properties=_props("FirstName", "Id", type="integer"),
            ),
            Flow(
                DatatypeRef(POG, "Customers", "person"),
                DatatypeRef(CRM, "Contacts"),
                RuleKind.MERGE_ELSE_INSERT,
            ),
            Flow(
                DatatypeRef(POG, "Employees"),
                DatatypeRef(CRM, "Contacts"),
                RuleKind.CONDITIONAL_INSERT,
                properties=_props("FirstName"),
                condition="it is connected to a Powerofficego Customers that is synchronized",
            ),
            Flow(
                DatatypeRef(POG, "Projects"),
                DatatypeRef(CRM, "Activities"),
                RuleKind.CONDITIONAL_INSERT,
                merge_criteria=(MergeCriterion("Code", "code"),),
                condition="the project is active, e.g. not archived.",
            ),
            Flow(DatatypeRef(POG, "Customer"), DatatypeRef(POG, "Customer"), RuleKind.INSERT),
        ),
    ),
    FlowDocument(
        title="PowerOffice GO to Business Central Dataflow",
        flows=(
            Flow(
                DatatypeRef("PowerOffice GO", "Customers"),
                DatatypeRef("Business Central", "Sales Orders"),
                RuleKind.MERGE_ONLY,
                merge_criteria=(MergeCriterion("Id", "id"),),
            ),
        ),
    ),
    FlowDocument(title="Nothing to see Dataflow", flows=()),
]


@pytest.mark.parametrize("doc", HAND_BUILT, ids=lambda d: d.title)
def test_hand_built_docs_render_then_import_unchanged(doc):
    assert parse_document(render_document(doc)) == doc


HEAD = """\
=====================
Hubspot to Tripletex Dataflow
=====================

Generated: 2024-01-01 00:00:00

{intro}

This is the introduction.
It spans two lines.

"""


def _doc(body: str, intro: str = "Introduction\n------------") -> str:
    return HEAD.format(intro=intro) + body


def _one_flow(text: str, tmp_path: Path) -> Flow:
    path = tmp_path / "doc.rst"
    path.write_text(text, encoding="utf-8", newline="")
    doc = import_file(path)
    assert len(doc.flows) == 1
    return doc.flows[0]


@pytest.mark.parametrize(
    ("sentence", "condition"),
    [
        ("if it has an email address", "it has an email address"),
        ("when its status is 'active'", "its status is 'active'"),
        ("only if Deleted is false", "Deleted is false"),
        ("provided that it has a name", "it has a name"),
    ],
)
def test_conditional_insert_keeps_the_condition_verbatim(sentence, condition, tmp_path):
    flow = _one_flow(
        _doc(
            "Hubspot Contact to Tripletex Customer\n---\n"
            f"Every Hubspot Contact will be synchronized with a Tripletex Customer {sentence}.\n"
        ),
        tmp_path,
    )
    assert (flow.rule, flow.condition) == (RuleKind.CONDITIONAL_INSERT, condition)
    assert (flow.merge_criteria, flow.properties) == ((), ())


def test_every_rule_kind_and_the_sesam_phrasings(tmp_path):
    text = _doc(
        """\
Hubspot Company to Tripletex Customer
-------------------------------------
Before any synchronization can take place, a link between a Hubspot Company and a Tripletex Customer must be established.

A Hubspot Company will merge with a Tripletex Customer if one of the following property combinations match:

.. list-table::
   :header-rows: 1

   * - Hubspot Company Property
     - Tripletex Customer Property
   * - properties.orgnr
     - organizationNumber

Hubspot Contact to Tripletex Contact
------------------------------------
Every Hubspot Contact will be synchronized with a Tripletex Contact.

If a matching Tripletex Contact already exists, the Hubspot Contact will be merged with the existing one.
If no matching Tripletex Contact is found, a new Tripletex Contact will be created.

A Hubspot Contact will merge with a Tripletex Contact if one of the following property combinations match:

.. list-table::
   :header-rows: 1

   * - Hubspot Contact Property
     - Tripletex Contact Property
   * - properties.email
     - email

Hubspot Deal to Tripletex Order
-------------------------------
Every Hubspot Deal will be synchronized with a Tripletex Order.

Hubspot Lineitem to Tripletex Orderline
---------------------------------------
Before any synchronization can take place, a link between a Hubspot Lineitem and a Tripletex Orderline must be established.

A new Tripletex Orderline will be created from a Hubspot Lineitem if it is connected to a Hubspot Deal that is synchronized into Tripletex.
"""
    )
    doc = parse_document(text)
    assert doc.introduction == "This is the introduction. It spans two lines."
    assert [f.rule for f in doc.flows] == [
        RuleKind.MERGE_ONLY,
        RuleKind.MERGE_ELSE_INSERT,
        RuleKind.INSERT,
        RuleKind.CONDITIONAL_INSERT,
    ]
    assert doc.flows[0].merge_criteria == (
        MergeCriterion("properties.orgnr", "organizationNumber"),
    )
    assert doc.flows[1].merge_criteria == (MergeCriterion("properties.email", "email"),)
    assert doc.flows[3].condition == (
        "it is connected to a Hubspot Deal that is synchronized into Tripletex"
    )
    assert parse_document(render_document(doc)) == doc


def test_empty_table_extra_columns_odd_spacing_and_heading_typos(tmp_path):
    text = _doc(
        """\
Hubspot  Contact   person to Tripletex Contact
--------
Every Hubspot Contact person will be synchronized
with a Tripletex Contact.

The following properties are synchronized between a Hubspot Contact person and a Tripletex Contact:

.. list-table:: Properties
   :widths: 10 10 10

   * - Hubspot Contact person Property
     - Tripletex Contact Property
     - Tripletex Data Type


Hubspot Company to Tripletex Customer
-------------------------------------------------------------------
Every Hubspot Company will be synchronized with a Tripletex Customer.

The following properties are synchronized between a Hubspot Company and a Tripletex Customer:

.. list-table::
    :header-rows:   1

    *   -  Note
        -  Tripletex Data Type
        - Hubspot Company Property
        -    Tripletex Customer Property

    *   -  ignored
        -  "integer"
        -  id
        -  id
    * -
      - string
      - properties.name
      - name

    * - a long
        note on two lines
      - "string"
      - properties.domain
      - website
""",
        intro="Introdution:\n------",
    )
    doc = parse_document(text.replace("\n", "\r\n").replace("    ", "\t", 1), "odd.rst")
    assert doc.introduction == "This is the introduction. It spans two lines."
    assert doc.generated == "2024-01-01 00:00:00"
    empty, extra = doc.flows
    assert empty.source == DatatypeRef("Hubspot", "Contact", "person")
    assert (empty.rule, empty.properties) == (RuleKind.INSERT, ())
    assert extra.properties == (
        PropertyMapping("id", "id", "integer"),
        PropertyMapping("properties.name", "name", "string"),
        PropertyMapping("properties.domain", "website", "string"),
    )


def test_crlf_seed_imports_the_same(tmp_path):
    seed = SEEDS / "003_f422fd5dec3f0e74.txt"
    crlf = tmp_path / "crlf.rst"
    crlf.write_bytes(seed.read_bytes().replace(b"\n", b"\r\n"))
    assert import_file(crlf) == import_file(seed)


GOOD_FLOW = """\
Hubspot Contact to Tripletex Contact
------------------------------------
Every Hubspot Contact will be synchronized with a Tripletex Contact.

The following properties are synchronized between a Hubspot Contact and a Tripletex Contact:

.. list-table::
   :header-rows: 1

   * - Hubspot Contact Property
     - Tripletex Contact Property
     - Tripletex Data Type
   * - firstname
     - firstName
     - "string"
"""


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "marker", "expected"),
    [
        (
            "   * - firstname",
            "   * firstname",
            "   * firstname",
            "expected a list-table row '* - ...', got '* firstname'",
        ),
        ('     - "string"\n', "", "   * - firstname", "expected 3 cells like the header row"),
        (
            "Every Hubspot Contact will be synchronized with a Tripletex Contact.\n",
            "",
            "Hubspot Contact to Tripletex Contact",
            "expected a rule sentence in flow section",
        ),
        (
            "Hubspot Contact to Tripletex Contact\n",
            "Hubspot Contact and Tripletex Contact\n",
            "Hubspot Contact and Tripletex Contact",
            "expected a flow heading '{System} {Datatype} to {System} {Datatype}'",
        ),
        (
            "with a Tripletex Contact.",
            "with a Tripletex Customer.",
            "Every Hubspot",
            "expected a rule sentence ('Every Hubspot Contact will be synchronized",
        ),
        (
            "     - Tripletex Data Type",
            "     - Data Type",
            "   * - Hubspot Contact Property",
            "expected a column 'Tripletex Data Type' in the header row",
        ),
        ('"string"', '""', "   * - firstname", 'expected a data type such as "string"'),
        (
            "The following properties are synchronized between a Hubspot Contact and a "
            "Tripletex Contact:\n",
            "",
            ".. list-table::",
            "expected 'A ... will merge with ...:' or 'The following properties",
        ),
        (".. list-table::", ".. table::", ".. table::", "expected '.. list-table::'"),
        (":header-rows: 1", ":header-rows: 2", ":header-rows: 2", "expected ':header-rows: 1'"),
        (
            "Every Hubspot Contact will be synchronized with a Tripletex Contact.\n",
            "Before any synchronization can take place, a link between a Hubspot Contact "
            "and a Tripletex Contact must be established.\n",
            "Hubspot Contact to Tripletex Contact",
            "expected a merge criteria table with at least one row",
        ),
    ],
)
def test_malformed_documents_name_the_line_and_the_expectation(old, new, marker, expected):
    assert old in GOOD_FLOW
    text = _doc(GOOD_FLOW + "\n" + GOOD_FLOW.replace(old, new, 1))
    with pytest.raises(DocumentError) as caught:
        parse_document(text, "doc.rst")
    # the first flow is fine: the line is in the second one
    second = text.rindex(GOOD_FLOW.replace(old, new, 1))
    line = text[:second].count("\n") + _line_of(text[second:], marker)
    assert str(caught.value).startswith(f"doc.rst:{line}: {expected}"), str(caught.value)
    assert caught.value.line == line


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("", 1, "expected a document title"),
        ("====\nTitle\n", 3, "expected the title's underline"),
        (
            HEAD.format(intro="Stray line") + GOOD_FLOW,
            7,
            "expected 'Generated: ...' or a section heading",
        ),
        (
            _doc(".. list-table::\n\n   * - a\n"),
            13,
            "expected a paragraph, got a list-table",
        ),
    ],
)
def test_malformed_document_heads(text, line, expected):
    with pytest.raises(DocumentError, match=rf"^doc\.rst:{line}: {expected}"):
        parse_document(text, "doc.rst")


def test_unknown_paragraph_in_a_flow_is_an_error_not_dropped():
    text = _doc(GOOD_FLOW.replace("\nThe following", "\nSome note.\n\nThe following", 1))
    with pytest.raises(DocumentError, match=r"doc\.rst:\d+: expected a rule sentence .*'Some"):
        parse_document(text, "doc.rst")


def test_import_file_names_the_path_of_a_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.rst"
    path.write_bytes(_doc(GOOD_FLOW).replace("flow", "fl\xf8w").encode("latin-1"))
    with pytest.raises(DocumentError, match=rf"^{re.escape(str(path))}: not UTF-8"):
        import_file(path)
