"""The flow model: one section of a Sesam Talk dataflow document, as data.

A flow says which records of a source datatype move to a target datatype (the rule kind), how
records of the two are recognised as the same thing (merge criteria) and which properties are
kept in sync (property mappings with the target data type). Names are kept exactly as the
document writes them; resolving them against datatype schemas is `talk_assets.systems`' job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class RuleKind(StrEnum):
    """How a flow creates target records."""

    MERGE_ONLY = "merge_only"
    """Records are only linked by merge criteria; nothing is ever inserted."""
    INSERT = "insert"
    """Every source record gets a target record (no merge criteria)."""
    MERGE_ELSE_INSERT = "merge_else_insert"
    """Link by merge criteria where they match, insert a new target record otherwise."""
    CONDITIONAL_INSERT = "conditional_insert"
    """Insert only source records that meet the flow's condition (merge criteria optional)."""

    @property
    def inserts(self) -> bool:
        return self is not RuleKind.MERGE_ONLY


class Phrasing(StrEnum):
    """How a document words a flow's rule sentence (kept so that rendering gives it back)."""

    EVERY = "every"
    """'Every X will be synchronized with a Y[ if CONDITION].'"""
    LEADING = "leading"
    """'CONDITION, it  will be synchronized with a Y.' (a condition or note before the rule:
    'When a X has ...', 'removed person customers for now until that pattern is resolved')."""
    CREATED = "created"
    """'Before any synchronization can take place, a link ... must be established.' and
    'A new Y will be created from a X if CONDITION.'"""


@dataclass(frozen=True)
class DatatypeRef:
    """A datatype as a document names it: `Acme` `Customers` filtered to `person`.

    `filter` is the document's qualifier as written: a lower-case word (`person`) or a
    parenthesised one (`(human data)`). `system` is empty where the document leaves the system
    out ('Tripletex Customer to  Customer').
    """

    system: str
    datatype: str
    filter: str | None = None

    @property
    def label(self) -> str:
        """The datatype as the document writes it, filter included ("Customers person")."""
        return f"{self.datatype} {self.filter}" if self.filter else self.datatype

    @property
    def title(self) -> str:
        return f"{self.system} {self.label}"


@dataclass(frozen=True)
class MergeCriterion:
    """Source and target property paths whose equal, non-empty values link two records."""

    source: str
    target: str


NO_DATA_TYPE = "N/A"
"""What a document writes (unquoted) where a mapping has no data type."""


@dataclass(frozen=True)
class PropertyMapping:
    """A source property synced with a target property, coerced to the target data type."""

    source: str
    target: str
    type: str = "string"


@dataclass(frozen=True)
class Flow:
    """One section of a dataflow document."""

    source: DatatypeRef
    target: DatatypeRef
    rule: RuleKind
    merge_criteria: tuple[MergeCriterion, ...] = ()
    properties: tuple[PropertyMapping, ...] = ()
    condition: str | None = None
    """For conditional inserts: the document's condition, verbatim."""
    phrasing: Phrasing = Phrasing.EVERY
    """How the document words the rule sentence."""
    filter: str | None = None
    """A machine-readable filter for the condition (spec only): a filter word of the source
    datatype (`person`) or `FIELD is VALUE`. The engine reads it itself and applies it to the
    flow's inserts together with the source's qualifier. A conditional flow without one that
    its condition does not already give stays off."""
    enabled: bool = True
    """False switches the flow off (spec only); documents always import enabled."""

    @property
    def title(self) -> str:
        return f"{self.source.title} to {self.target.title}"

    @property
    def name(self) -> str:
        """A stable identifier usable as an asset name."""
        return f"{slug(self.source.title)}__{slug(self.target.title)}"


@dataclass(frozen=True)
class FlowDocument:
    """A whole dataflow document: its heading and its flows in document order."""

    title: str
    flows: tuple[Flow, ...]
    generated: str | None = None
    introduction: str | None = None


def slug(text: str) -> str:
    """Lower-case identifier: 'Acme Customers person' -> 'acme_customers_person'."""
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")
