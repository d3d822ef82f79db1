"""The committed flow specification format (YAML) and the committed specifications.

One file per dataflow document under `talk_assets/flows/specs/`. Loading validates every key
and names the offending flow, so a hand-edited spec fails loudly instead of half-loading.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from talk_assets.flows.model import (
    DatatypeRef,
    Flow,
    FlowDocument,
    MergeCriterion,
    Phrasing,
    PropertyMapping,
    RuleKind,
)

SPECS_DIR = Path(__file__).parent / "specs"


class SpecError(ValueError):
    """A flow specification that does not follow the format."""


def _ref_to_dict(ref: DatatypeRef) -> dict[str, str]:
    out = {"system": ref.system, "datatype": ref.datatype}
    if ref.filter:
        out["filter"] = ref.filter
    return out


def document_to_dict(doc: FlowDocument) -> dict[str, Any]:
    flows = []
    for flow in doc.flows:
        item: dict[str, Any] = {
            "source": _ref_to_dict(flow.source),
            "target": _ref_to_dict(flow.target),
            "rule": flow.rule.value,
        }
        if not flow.enabled:
            item["enabled"] = False
        if flow.condition:
            item["condition"] = flow.condition
        if flow.phrasing is not Phrasing.EVERY:
            item["phrasing"] = flow.phrasing.value
        if flow.filter:
            item["filter"] = flow.filter
        item["merge_criteria"] = [
            {"source": c.source, "target": c.target} for c in flow.merge_criteria
        ]
        item["properties"] = [
            {"source": p.source, "target": p.target, "type": p.type} for p in flow.properties
        ]
        flows.append(item)
    out: dict[str, Any] = {"title": doc.title}
    if doc.generated:
        out["generated"] = doc.generated
    if doc.introduction:
        out["introduction"] = doc.introduction
    out["flows"] = flows
    return out


def dump_document(doc: FlowDocument) -> str:
    """The specification of one document as committed YAML text."""
    return yaml.safe_dump(
        document_to_dict(doc),
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=None,
    )


def _keys(obj: Any, where: str, required: Iterable[str], optional: Iterable[str] = ()) -> dict:
    if not isinstance(obj, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(obj).__name__}")
    required, allowed = set(required), set(required) | set(optional)
    missing = required - obj.keys()
    unknown = obj.keys() - allowed
    if missing:
        raise SpecError(f"{where}: missing key(s) {sorted(missing)}")
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {sorted(unknown)}")
    for key, value in obj.items():
        if key == "enabled":
            if not isinstance(value, bool):
                raise SpecError(f"{where}.{key}: expected true or false, got {value!r}")
        elif key not in ("merge_criteria", "properties", "flows", "source", "target") and not (
            value is None or isinstance(value, str)
        ):
            raise SpecError(f"{where}.{key}: expected a string, got {value!r}")
    return obj


def _ref(obj: Any, where: str) -> DatatypeRef:
    d = _keys(obj, where, ("system", "datatype"), ("filter",))
    return DatatypeRef(d["system"], d["datatype"], d.get("filter") or None)


def document_from_dict(data: Any, origin: str = "spec") -> FlowDocument:
    d = _keys(data, origin, ("title", "flows"), ("generated", "introduction"))
    if not isinstance(d["flows"], list):
        raise SpecError(f"{origin}.flows: expected a list")
    flows = []
    for i, raw in enumerate(d["flows"]):
        where = f"{origin}.flows[{i}]"
        f = _keys(
            raw,
            where,
            ("source", "target", "rule"),
            ("enabled", "condition", "phrasing", "filter", "merge_criteria", "properties"),
        )
        try:
            rule = RuleKind(f["rule"])
        except ValueError:
            kinds = ", ".join(k.value for k in RuleKind)
            raise SpecError(f"{where}.rule: {f['rule']!r} is not one of {kinds}") from None
        criteria = tuple(
            MergeCriterion(**_keys(c, f"{where}.merge_criteria[{j}]", ("source", "target")))
            for j, c in enumerate(f.get("merge_criteria") or [])
        )
        props = tuple(
            PropertyMapping(**_keys(p, f"{where}.properties[{j}]", ("source", "target"), ("type",)))
            for j, p in enumerate(f.get("properties") or [])
        )
        try:
            phrasing = Phrasing(f.get("phrasing") or Phrasing.EVERY)
        except ValueError:
            kinds = ", ".join(k.value for k in Phrasing)
            raise SpecError(f"{where}.phrasing: {f['phrasing']!r} is not one of {kinds}") from None
        if rule is RuleKind.CONDITIONAL_INSERT and not f.get("condition"):
            raise SpecError(f"{where}: a conditional_insert flow needs a condition")
        flows.append(
            Flow(
                source=_ref(f["source"], f"{where}.source"),
                target=_ref(f["target"], f"{where}.target"),
                rule=rule,
                merge_criteria=criteria,
                properties=props,
                condition=f.get("condition") or None,
                phrasing=phrasing,
                filter=f.get("filter") or None,
                enabled=f.get("enabled", True),
            )
        )
    return FlowDocument(
        title=d["title"],
        flows=tuple(flows),
        generated=d.get("generated"),
        introduction=d.get("introduction"),
    )


def load_document(text: str, origin: str = "spec") -> FlowDocument:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{origin}: not valid YAML: {exc}") from None
    return document_from_dict(data, origin)


def load_spec_file(path: str | Path) -> FlowDocument:
    path = Path(path)
    return load_document(path.read_text(encoding="utf-8"), origin=str(path))


def committed_spec_files() -> list[Path]:
    return sorted(SPECS_DIR.glob("*.yaml"))


def committed_documents() -> list[FlowDocument]:
    return [load_spec_file(p) for p in committed_spec_files()]


def committed_flows() -> list[Flow]:
    """All flows of all committed specifications, in file and document order."""
    return [flow for doc in committed_documents() for flow in doc.flows]
