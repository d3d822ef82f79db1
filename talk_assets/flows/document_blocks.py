"""The pieces a dataflow document is scanned into, and the error any defect raises."""

from __future__ import annotations

from dataclasses import dataclass, field


class DocumentError(ValueError):
    """A dataflow document that does not follow the expected shape; names origin and line."""

    def __init__(self, origin: str, line: int | None, message: str) -> None:
        where = f"{origin}:{line}" if line is not None else origin
        super().__init__(f"{where}: {message}")
        self.origin = origin
        self.line = line


@dataclass
class Paragraph:
    line: int
    text: str


@dataclass
class Row:
    line: int
    cells: list[str]


@dataclass
class Table:
    line: int
    rows: list[Row] = field(default_factory=list)


Block = Paragraph | Table
