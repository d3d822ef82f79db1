"""Rendering a flow specification as a dataflow document (the parser's inverse)."""

from __future__ import annotations

from talk_assets.flows.model import (
    Flow,
    FlowDocument,
    Phrasing,
    RuleKind,
)


def render_document(doc: FlowDocument) -> str:
    """A specification as a dataflow document, phrased as Sesam Talk writes them."""
    head = [_adorn(doc.title, "=", over=True)]
    if doc.generated:
        head.append(f"Generated: {doc.generated}")
    if doc.introduction:
        head.append(f"{_adorn('Introduction', '-')}\n\n{doc.introduction}")
    sections = [_render_flow(flow) for flow in doc.flows]
    return "\n\n".join(head) + "".join(f"\n\n{s}\n" for s in sections) + "\n"


def _render_flow(flow: Flow) -> str:
    src, tgt = flow.source.title, flow.target.title
    parts = [_adorn(flow.title, "-")]
    conditional = flow.rule is RuleKind.CONDITIONAL_INSERT and flow.condition
    created = conditional and flow.phrasing is Phrasing.CREATED
    if flow.rule is RuleKind.MERGE_ONLY or created:
        parts[0] += (
            f"\nBefore any synchronization can take place, a link between a {src} and a {tgt} "
            "must be established."
        )
        if created:
            parts.append(f"A new {tgt} will be created from a {src} if {flow.condition}.")
    elif conditional and flow.phrasing is Phrasing.LEADING:
        # Sesam Talk writes two spaces here
        parts[0] += f"\n{flow.condition}, it  will be synchronized with a {tgt}."
    else:
        condition = f" if {flow.condition}" if flow.condition else ""
        parts[0] += f"\nEvery {src} will be synchronized with a {tgt}{condition}."
    if flow.rule is RuleKind.MERGE_ELSE_INSERT or (
        conditional and not created and flow.merge_criteria
    ):
        parts.append(
            f"If a matching {tgt} already exists, the {src} will be merged with the existing one."
            f"\nIf no matching {tgt} is found, a new {tgt} will be created."
        )
    if flow.merge_criteria or flow.rule in (RuleKind.MERGE_ONLY, RuleKind.MERGE_ELSE_INSERT):
        parts.append(
            f"A {src} will merge with a {tgt} if one of the following property combinations match:"
        )
        parts.append(
            _list_table(
                [f"{src} Property", f"{tgt} Property"],
                [(c.source, c.target) for c in flow.merge_criteria],
            )
        )
    parts.append(
        f"Once a link between a {src} and a {tgt} is established, it will keep in sync between "
        "the two systems, regardless of where it is edited."
    )
    parts.append(f"The following properties are synchronized between a {src} and a {tgt}:")
    parts.append(
        _list_table(
            [f"{src} Property", f"{tgt} Property", f"{flow.target.system} Data Type"],
            [(p.source, p.target, _data_type(p.type)) for p in flow.properties],
        )
    )
    return "\n\n".join(parts)


def _data_type(name: str) -> str:
    """'string' -> '"string"'; Sesam Talk writes `N/A` (no data type) unquoted."""
    return name if name == "N/A" else f'"{name}"'


def _adorn(text: str, char: str, over: bool = False) -> str:
    line = char * len(text)
    return f"{line}\n{text}\n{line}" if over else f"{text}\n{line}"


def _list_table(header: list[str], rows: list[tuple[str, ...]]) -> str:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [tuple(header), *rows]:
        lines += [f"   * - {row[0]}", *(f"     - {cell}" for cell in row[1:])]
    return "\n".join(lines)
