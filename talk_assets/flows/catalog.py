"""Choosing flows: specification files, Talk documents or folders of them.

`talk-assets sync --flows PATH ...`, `talk-assets flows list` and the UI's definitions read the
flows from the paths given, else from `TALK_ASSETS_FLOWS` (paths separated by `os.pathsep`),
else from the committed specifications. A `.yaml`/`.yml` file is a specification, a `.rst`/
`.txt` file a Talk document (imported on the fly), a folder holds either (not recursively).

Every flow is then checked against the schemas. A flow is
- active: it takes part in the one graph of all active flows;
- off: switched off (`enabled: false`), or a conditional flow whose condition gives no
  machine-readable filter (the spec's `filter`, or a condition that already is one);
- active with mappings "not in the API": a property the schema declares as documented but
  absent from the real API (`Datatype.not_in_api`) is reported and kept for lineage, never run;
- in error: a datatype, qualifier, property, data type or filter that does not resolve, or a
  name another active flow has too. `active_flows` refuses then, naming document, flow and
  property, before anything runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from talk_assets.errors import UserError
from talk_assets.flows.document import DocumentError, import_file
from talk_assets.flows.model import NO_DATA_TYPE, Flow, FlowDocument, RuleKind
from talk_assets.flows.spec import SpecError, committed_spec_files, load_spec_file

FLOWS_ENV = "TALK_ASSETS_FLOWS"
SPEC_SUFFIXES = (".yaml", ".yml")
DOCUMENT_SUFFIXES = (".rst", ".txt")
_FIELD_FILTER = re.compile(r"^\s*([\w.]+)\s*(?:==|=|is)\s*(.+?)\s*$", re.IGNORECASE)
"""`FIELD is VALUE` (or `=`, `==`): the condition grammar the engine reads."""

ACTIVE, OFF, ERROR = "active", "off", "error"


class FlowsError(UserError):
    """Flows that cannot be read or do not resolve; found before any run starts."""

    exit_code = 2


@dataclass
class CatalogFlow:
    """One flow of one file, with its state and what does not resolve."""

    flow: Flow
    origin: Path
    document: str
    problems: list[str] = field(default_factory=list)
    """Names that do not resolve (an error: the flow cannot run)."""
    not_in_api: list[str] = field(default_factory=list)
    """Mappings kept for lineage whose property the API does not have: reported, never run."""
    off_reason: str | None = None
    engine_condition: str | None = None
    """The machine-readable filter handed to the engine as the flow's condition."""

    @property
    def status(self) -> str:
        if self.problems:
            return ERROR
        return OFF if self.off_reason else ACTIVE

    def engine_flow(self) -> Flow:
        """The flow as the engine runs it: as written (the engine reads `filter` itself, and
        applies it together with the datatype qualifier)."""
        return self.flow


def flow_paths(paths: Sequence[str | os.PathLike] | None = None) -> list[Path]:
    """The paths given, else those of TALK_ASSETS_FLOWS, else the committed spec files."""
    if paths:
        return [Path(p) for p in paths]
    raw = os.environ.get(FLOWS_ENV, "")
    named = [p for p in raw.split(os.pathsep) if p.strip()]
    return [Path(p.strip()) for p in named] if named else committed_spec_files()


def flow_files(paths: Sequence[Path]) -> list[Path]:
    """The specification and document files the paths name (folders expanded, in name order)."""
    files: list[Path] = []
    suffixes = SPEC_SUFFIXES + DOCUMENT_SUFFIXES
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in suffixes)
            if not found:
                raise FlowsError(
                    f"flows: the folder {path} holds no specification (.yaml) or Talk document "
                    "(.rst, .txt)"
                )
            files += found
        elif not path.exists():
            raise FlowsError(
                f"flows: {path} does not exist",
                fix=f"name existing files or folders in --flows or {FLOWS_ENV}",
            )
        elif path.suffix not in suffixes:
            raise FlowsError(
                f"flows: {path} is neither a specification (.yaml, .yml) nor a Talk document "
                "(.rst, .txt)"
            )
        else:
            files.append(path)
    return list(dict.fromkeys(files))


def load_file(path: Path) -> FlowDocument:
    """A specification, or a Talk document imported on the fly; `FlowsError` on any defect."""
    try:
        if path.suffix in SPEC_SUFFIXES:
            return load_spec_file(path)
        return import_file(path)
    except (SpecError, DocumentError) as exc:
        raise FlowsError(f"flows: {exc}") from None
    except OSError as exc:
        raise FlowsError(f"flows: {path}: {exc.strerror or exc}") from None


def catalog(paths: Sequence[str | os.PathLike] | None = None) -> list[CatalogFlow]:
    """Every flow of the chosen files, checked against the schemas (see the module doc)."""
    entries = [
        CatalogFlow(flow, path, doc.title)
        for path in flow_files(flow_paths(paths))
        for doc in [load_file(path)]
        for flow in doc.flows
    ]
    for entry in entries:
        if not entry.flow.enabled:
            entry.off_reason = "switched off (enabled: false)"
            continue
        _check(entry)
    seen: dict[str, CatalogFlow] = {}
    for entry in entries:
        if not entry.flow.enabled:
            continue
        name = entry.flow.name
        if name in seen:
            first = seen[name]
            entry.problems.append(
                f"flow name {name!r} is already used by {first.flow.title!r} in {first.origin}: "
                "rename one, switch one off (enabled: false) or leave one file out"
            )
        else:
            seen[name] = entry
    return entries


def active_flows(paths: Sequence[str | os.PathLike] | None = None) -> list[Flow]:
    """The flows of one graph, as the engine runs them; `FlowsError` naming document, flow and
    property when one does not resolve."""
    entries = catalog(paths)
    errors = [e for e in entries if e.problems]
    if errors:
        raise FlowsError(
            f"{len(errors)} flow(s) do not resolve against the schemas",
            details=[f"  {line}" for e in errors for line in problem_lines(e)],
            fix="correct the names, switch the flow off (enabled: false in its spec) or leave "
            f"its file out of --flows / {FLOWS_ENV}; `talk-assets flows list` shows all",
        )
    return [e.engine_flow() for e in entries if e.status == ACTIVE]


def problem_lines(entry: CatalogFlow) -> list[str]:
    where = f"{entry.origin} ({entry.document}), flow {entry.flow.title.strip()!r}"
    return [f"{where}: {problem}" for problem in entry.problems]


def _check(entry: CatalogFlow) -> None:
    """Resolve every name of an enabled flow, collecting each one that does not."""
    from talk_assets.systems import SchemaError, resolve_ref
    from talk_assets.systems.schema import FIELD_TYPES

    flow, problems = entry.flow, entry.problems
    sides = {}
    for role, ref in (("source", flow.source), ("target", flow.target)):
        try:
            sides[role] = resolve_ref(ref)[0]
        except SchemaError as exc:
            problems.append(f"{role} {ref.title.strip()!r}: {exc}")

    def field(role: str, name: str, what: str, lookup: bool = False) -> str | None:
        """The reason the API lacks the field, or None; a name that does not resolve is a
        problem (merge criteria must be in the API, property mappings may be documented only)."""
        if role in sides:
            try:
                return (sides[role].lookup if lookup else sides[role].field)(name).not_in_api
            except SchemaError as exc:
                problems.append(f"{what} {name!r}: {exc}")
        return None

    for c in flow.merge_criteria:
        field("source", c.source, "merge criterion")
        field("target", c.target, "merge criterion")
    for p in flow.properties:
        for role, name in (("source", p.source), ("target", p.target)):
            reason = field(role, name, "property", lookup=True)
            if reason:
                entry.not_in_api.append(
                    f"property {p.source!r} -> {p.target!r}: {role} {name!r} "
                    f"({reason}); kept for lineage, never read or sent"
                )
        if p.type not in FIELD_TYPES and p.type != NO_DATA_TYPE:
            problems.append(
                f"property {p.source!r} -> {p.target!r}: data type {p.type!r} is not one of "
                f"{', '.join(FIELD_TYPES)} (or {NO_DATA_TYPE}: compared and synced as string)"
            )
    if "source" not in sides:
        return
    source = sides["source"]
    if flow.filter:  # any rule: the engine applies it with the source's qualifier
        entry.engine_condition = condition_filter(source, flow.filter)
        if entry.engine_condition is None:
            words = ", ".join(source.filters) or "none"
            problems.append(
                f"filter {flow.filter!r} does not resolve: expected a filter word of "
                f"{source.key} ({words}) or 'FIELD is VALUE' with a field of {source.key}"
            )
        return
    if flow.rule is not RuleKind.CONDITIONAL_INSERT:
        return
    entry.engine_condition = condition_filter(source, flow.condition or "")
    if entry.engine_condition is None:
        entry.off_reason = (
            f"needs a filter: the condition {flow.condition!r} is not machine-readable; "
            "give the flow a `filter:` in its spec"
        )


def condition_filter(dt, text: str) -> str | None:
    """`text` as a condition the engine reads (a filter word of `dt`, or `FIELD is VALUE` with
    the field's path), or None when it is neither."""
    word = text.strip().strip("()").strip().lower()
    if word in dt.filters or word in dt.qualifies_all:
        return word
    m = _FIELD_FILTER.match(text)
    if m and dt.has_field(m[1]):
        return f"{dt.field(m[1]).path} is {m[2]}"
    return None
