"""Parsing a dataflow document (see `document.py`): a line-based scanner with line numbers."""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

from talk_assets.flows.document_blocks import Block, DocumentError, Paragraph, Row, Table
from talk_assets.flows.model import (
    DatatypeRef,
    Flow,
    FlowDocument,
    MergeCriterion,
    Phrasing,
    PropertyMapping,
    RuleKind,
)

_TITLE_ADORNMENT = re.compile(r"={3,}")
_SECTION_UNDERLINE = re.compile(r"(-{3,}|~{3,}|\^{3,})")
_GENERATED = re.compile(r"Generated:\s*(.*)", re.IGNORECASE)
_TITLE_SYSTEMS = re.compile(r"(.+?)\s+to\s+(.+?)\s+Dataflow", re.IGNORECASE)
_TABLE_DIRECTIVE = re.compile(r"\.\.\s+list-table::.*")
_TABLE_OPTION = re.compile(r":([\w-]+):\s*(.*)")
_TABLE_ROW = re.compile(r"\*\s+-(?:\s+(.*))?")
_TABLE_CELL = re.compile(r"-(?:\s+(.*))?")
_CONDITION_WORDS = r"(?:only if|provided that|if|when)"
_LINK_SENTENCE = re.compile(r"Once a link between .+ is established\b.*")
_MERGE_EXPLANATION = re.compile(r"If (?:a|no) matching .+")
_QUALIFIER = re.compile(r"(.+?) (\([^()]+\))")


def parse_document(text: str, origin: str = "<document>") -> FlowDocument:
    """Read a Sesam Talk dataflow document; raise `DocumentError` on any defect."""
    return _Parser(text, origin).document()


def import_file(path: str | Path) -> FlowDocument:
    """Read and parse the dataflow document at `path` (UTF-8)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(str(path), None, f"not UTF-8 text ({exc.reason})") from None
    return parse_document(text, origin=str(path))


class _Parser:
    def __init__(self, text: str, origin: str) -> None:
        self.origin = origin
        raw = re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff"))
        self.lines = [line.expandtabs(8).rstrip() for line in raw]
        self.systems: list[str] = []

    def fail(self, index: int, message: str) -> DocumentError:
        """The error for the line at 0-based `index` (callers `raise` it)."""
        return DocumentError(self.origin, index + 1, message)

    def text_at(self, index: int) -> str:
        return self.lines[index] if index < len(self.lines) else ""

    def document(self) -> FlowDocument:
        i = next((n for n, line in enumerate(self.lines) if line.strip()), None)
        if i is None:
            raise self.fail(0, "expected a document title, got an empty document")
        title, i = self.title(i)
        if m := _TITLE_SYSTEMS.fullmatch(title):
            self.systems = sorted((s for s in m.groups() if " " in s), key=len, reverse=True)
        headings = [
            n
            for n in range(i, len(self.lines) - 1)
            if self.lines[n].strip()
            and not self.lines[n][:2].isspace()  # one leading space: an empty source system
            and not self.lines[n].startswith("..")
            and not _SECTION_UNDERLINE.fullmatch(self.lines[n])
            and _SECTION_UNDERLINE.fullmatch(self.lines[n + 1])
        ]
        generated = self.preamble(i, headings[0] if headings else len(self.lines))
        bounds = list(itertools.pairwise([*headings, len(self.lines)]))
        introduction = None
        if bounds and _is_introduction(self.lines[bounds[0][0]]):
            start, end = bounds.pop(0)
            paragraphs = [p.text for p in self.paragraphs(start + 2, end)]
            introduction = "\n\n".join(paragraphs) or None
        flows = tuple(self.flow(start, end) for start, end in bounds)
        return FlowDocument(title, flows, generated=generated, introduction=introduction)

    def title(self, i: int) -> tuple[str, int]:
        """The title at line `i` (overlined or not, underlined with '='); the next line index."""
        if _TITLE_ADORNMENT.fullmatch(self.lines[i]):
            title = self.text_at(i + 1).strip()
            if not title or _TITLE_ADORNMENT.fullmatch(title):
                raise self.fail(i + 1, f"expected the document title, got {title!r}")
            if not _TITLE_ADORNMENT.fullmatch(self.text_at(i + 2)):
                raise self.fail(
                    i + 2, f"expected the title's underline '===...', got {self.text_at(i + 2)!r}"
                )
            return title, i + 3
        if _TITLE_ADORNMENT.fullmatch(self.text_at(i + 1)):
            return self.lines[i].strip(), i + 2
        raise self.fail(
            i, f"expected the document title underlined with '===...', got {self.lines[i]!r}"
        )

    def preamble(self, start: int, end: int) -> str | None:
        generated = None
        for n in range(start, end):
            line = self.lines[n].strip()
            if not line:
                continue
            m = _GENERATED.fullmatch(line)
            if not m or generated is not None:
                raise self.fail(n, f"expected 'Generated: ...' or a section heading, got {line!r}")
            generated = m.group(1).strip() or None
        return generated

    def paragraphs(self, start: int, end: int) -> Iterator[Paragraph]:
        for block in self.blocks(start, end):
            if isinstance(block, Table):
                raise self.fail(block.line, "expected a paragraph, got a list-table")
            yield block

    def blocks(self, start: int, end: int) -> list[Block]:
        """Paragraphs (whitespace normalised) and list-tables of lines start..end-1."""
        blocks: list[Block] = []
        n = start
        while n < end:
            line = self.lines[n]
            if not line.strip():
                n += 1
            elif line.strip().startswith(".."):
                if not _TABLE_DIRECTIVE.fullmatch(line.strip()):
                    raise self.fail(n, f"expected '.. list-table::', got {line.strip()!r}")
                indent = _indent(line)
                stop = n + 1
                while stop < end and (
                    not self.lines[stop].strip() or _indent(self.lines[stop]) > indent
                ):
                    stop += 1
                blocks.append(self.table(n, stop))
                n = stop
            else:
                stop = n
                while (
                    stop < end
                    and self.lines[stop].strip()
                    and not self.lines[stop].strip().startswith("..")
                ):
                    stop += 1
                text = " ".join(" ".join(self.lines[k].split()) for k in range(n, stop))
                blocks.append(Paragraph(n, text))
                n = stop
        return blocks

    def table(self, directive: int, end: int) -> Table:
        table = Table(directive)
        row_indent = cell_indent = 0
        for n in range(directive + 1, end):
            line = self.lines[n]
            stripped = line.strip()
            indent = _indent(line)
            if not stripped:
                continue
            if not table.rows and (m := _TABLE_OPTION.fullmatch(stripped)):
                if m.group(1) == "header-rows" and m.group(2).strip() != "1":
                    raise self.fail(n, f"expected ':header-rows: 1', got {stripped!r}")
            elif m := _TABLE_ROW.fullmatch(stripped):
                table.rows.append(Row(n, [(m.group(1) or "").strip()]))
                row_indent, cell_indent = indent, indent + stripped.index("-")
            elif table.rows and indent > row_indent and (m := _TABLE_CELL.fullmatch(stripped)):
                table.rows[-1].cells.append((m.group(1) or "").strip())
                cell_indent = indent
            elif table.rows and indent > cell_indent:
                cells = table.rows[-1].cells
                cells[-1] = f"{cells[-1]} {stripped}".strip()
            else:
                raise self.fail(n, f"expected a list-table row '* - ...', got {stripped!r}")
        if not table.rows:
            raise self.fail(directive, "expected a list-table with a header row '* - ...'")
        return table

    def flow(self, start: int, end: int) -> Flow:
        blocks = self.blocks(start + 2, end)
        source, target = self.heading(start, blocks)
        src, tgt = re.escape(_words(source.title)), re.escape(_words(target.title))
        link_rule = re.compile(
            rf"Before any synchronization can take place, a link between an? {src} "
            rf"and an? {tgt} must be established\."
        )
        every_rule = re.compile(
            rf"Every {src} will be synchronized with an? {tgt}"
            rf"(?: {_CONDITION_WORDS} (?P<condition>.+?))?\."
        )
        created_rule = re.compile(
            rf"A new {tgt} will be created from an? {src} {_CONDITION_WORDS} (?P<condition>.+?)\."
        )
        leading_rule = re.compile(
            rf"(?P<condition>\S.*?), it will be synchronized with an? {tgt}\."
        )
        merge_intro = re.compile(
            rf"An? {src} will merge with an? {tgt} if one of the following property "
            rf"combinations match(?:es)?:"
        )
        properties_intro = re.compile(
            rf"The following properties are synchronized between an? {src} and an? {tgt}:"
        )
        rule_sentences = (link_rule, every_rule, created_rule, leading_rule)
        base: str | None = None
        created = False
        condition: str | None = None
        merge: tuple[MergeCriterion, ...] | None = None
        properties: tuple[PropertyMapping, ...] | None = None
        pending: Paragraph | None = None  # a table introduction waiting for its table
        for block in blocks:
            if isinstance(block, Table):
                if pending is None:
                    raise self.fail(
                        block.line,
                        "expected 'A ... will merge with ...:' or 'The following properties "
                        "are synchronized between ...:' before the list-table",
                    )
                wanted = [f"{_words(source.title)} Property", f"{_words(target.title)} Property"]
                if merge_intro.fullmatch(pending.text):
                    merge = tuple(
                        MergeCriterion(*cells) for _, cells in self.columns(block, wanted)
                    )
                else:
                    wanted.append(_words(f"{target.system} Data Type"))
                    properties = tuple(
                        PropertyMapping(s, t, self.data_type(row, ty))
                        for row, (s, t, ty) in self.columns(block, wanted)
                    )
                pending = None
                continue
            if pending is not None:
                raise self.fail(block.line, f"expected a list-table, got {block.text!r}")
            text = block.text
            m = next(filter(None, (r.fullmatch(text) for r in rule_sentences)), None)
            if m:
                if m.re is not created_rule:
                    if base is not None:
                        raise self.fail(
                            block.line, f"expected one rule sentence, got another: {text!r}"
                        )
                    base = {link_rule: "link", leading_rule: "leading"}.get(m.re, "every")
                else:
                    created = True
                if found := m.groupdict().get("condition"):
                    if condition is not None:
                        raise self.fail(
                            block.line, f"expected one condition, got another: {text!r}"
                        )
                    condition = found
            elif merge_intro.fullmatch(text) or properties_intro.fullmatch(text):
                already = merge if merge_intro.fullmatch(text) else properties
                if already is not None:
                    raise self.fail(block.line, f"expected one such table, got another: {text!r}")
                pending = block
            elif not (_LINK_SENTENCE.fullmatch(text) or _MERGE_EXPLANATION.fullmatch(text)):
                raise self.fail(
                    block.line,
                    f"expected a rule sentence ('Every {source.title} will be synchronized with "
                    f"a {target.title}.' or 'Before any synchronization can take place, ...'), a "
                    f"table introduction or the link sentence, got {text!r}",
                )
        if pending is not None:
            raise self.fail(pending.line, "expected a list-table after this sentence")
        if base is None:
            raise self.fail(
                start,
                f"expected a rule sentence in flow section {self.lines[start].strip()!r} "
                f"('Every ... will be synchronized with a ...' or 'Before any synchronization "
                f"can take place, ...')",
            )
        phrasing = Phrasing.EVERY
        if base == "leading":
            phrasing = Phrasing.LEADING
        elif base == "link" and created:
            phrasing = Phrasing.CREATED
        if condition is not None:
            rule = RuleKind.CONDITIONAL_INSERT
        elif base == "link":
            if merge is None:
                raise self.fail(
                    start,
                    "expected a merge criteria table with at least one row (or its header row "
                    "alone) in a flow that only links ('Before any synchronization can take "
                    "place, ...')",
                )
            rule = RuleKind.MERGE_ONLY
        else:
            rule = RuleKind.INSERT if merge is None else RuleKind.MERGE_ELSE_INSERT
        return Flow(
            source, target, rule, merge or (), properties or (), condition, phrasing=phrasing
        )

    def heading(self, n: int, blocks: list[Block]) -> tuple[DatatypeRef, DatatypeRef]:
        """The source and target of a flow heading; the body settles a doubtful ' to '."""
        heading = self.lines[n]
        candidates = []
        for m in re.finditer(r"(?<=\S) to (?=\s*\S)", heading):
            source, target = self.ref(heading[: m.start()]), self.ref(heading[m.end() :])
            if source and target:
                candidates.append((source, target))
        if len(candidates) > 1:
            body = " ".join(b.text for b in blocks if isinstance(b, Paragraph))
            candidates = [
                (s, t)
                for s, t in candidates
                if f"{_words(s.title)} will be synchronized with" in body
                or re.search(
                    rf"between an? {re.escape(_words(s.title))} and an? "
                    rf"{re.escape(_words(t.title))}",
                    body,
                )
            ]
        if len(candidates) != 1:
            raise self.fail(
                n,
                "expected a flow heading '{System} {Datatype} to {System} {Datatype}', "
                f"got {_words(heading)!r}",
            )
        return candidates[0]

    def ref(self, text: str) -> DatatypeRef | None:
        """'Acme Customers person' -> (Acme, Customers, person); 'Acme Customers (human data)'
        -> (Acme, Customers, (human data)); ' Customers' (leading space) -> ('', Customers)."""
        no_system = text[:1].isspace()
        text = _words(text)
        qualifier = None
        if m := _QUALIFIER.fullmatch(text):
            text, qualifier = m.groups()
        if no_system:
            system = ""
        else:
            system = next((s for s in self.systems if text.startswith(s + " ")), None)
            system = system or text.partition(" ")[0]
            if not system:
                return None
        words = text[len(system) :].split()
        if not words:
            return None
        if qualifier:
            return DatatypeRef(system, " ".join(words), qualifier)
        if len(words) > 1 and words[-1].islower():
            return DatatypeRef(system, " ".join(words[:-1]), words[-1])
        return DatatypeRef(system, " ".join(words))

    def data_type(self, row: Row, value: str) -> str:
        """'"string"' -> 'string' (unquoted cells are accepted as they are)."""
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].strip()
        if not value:
            raise self.fail(row.line, 'expected a data type such as "string"')
        return value

    def columns(self, table: Table, wanted: list[str]) -> list[tuple[Row, tuple[str, ...]]]:
        """Every data row with its cells of the `wanted` columns (found by header text)."""
        header, *rows = table.rows
        names = [_words(cell).casefold() for cell in header.cells]
        indexes: list[int] = []
        for name in wanted:
            index = next(
                (
                    k
                    for k, have in enumerate(names)
                    if have == _words(name).casefold() and k not in indexes
                ),
                None,
            )
            if index is None:
                raise self.fail(
                    header.line, f"expected a column {name!r} in the header row, got {header.cells}"
                )
            indexes.append(index)
        values = []
        for row in rows:
            if len(row.cells) != len(header.cells):
                raise self.fail(
                    row.line,
                    f"expected {len(header.cells)} cells like the header row "
                    f"(line {header.line + 1}), got {len(row.cells)}: {row.cells}",
                )
            for name, k in zip(wanted, indexes, strict=True):
                if not row.cells[k]:
                    raise self.fail(row.line, f"expected a value in column {name!r}")
            values.append((row, tuple(row.cells[k] for k in indexes)))
        return values


def _words(text: str) -> str:
    """`text` with its whitespace normalised, as paragraphs are read."""
    return " ".join(text.split())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _is_introduction(heading: str) -> bool:
    """'Introduction', 'Introduction.', 'Introdution' - but never a flow heading."""
    if " to " in f" {heading.strip()} ":
        return False
    letters = re.sub(r"[^a-z]", "", heading.lower())
    ratio = difflib.SequenceMatcher(None, letters, "introduction").ratio()
    return letters.startswith("intro") or ratio >= 0.75
