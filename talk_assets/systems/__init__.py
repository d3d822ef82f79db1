"""The systems the product syncs: one folder per system (its `system.py` declares a
`SystemSpec`), listed by `registry.py`; the connector kit (`connector/`), the emulator kit
(`emulator/`) and the record work (`records.py`) they are built from.

This module resolves the names documents use against the registered systems' schemas.
"""

from __future__ import annotations

from typing import Any

from talk_assets.flows.model import NO_DATA_TYPE, DatatypeRef, Flow, PropertyMapping
from talk_assets.systems.schema import Datatype, Field, SchemaError, System

UNTYPED_AS = "string"
"""A mapping whose document data type is `N/A` is compared and synced as a string (the values'
rendering); the flow keeps `N/A` for lineage and rendering."""


def _systems() -> tuple[System, ...]:
    from talk_assets.systems import registry

    return tuple(s.schema for s in registry.specs())


def __getattr__(name: str) -> Any:
    if name == "SYSTEMS":  # the registered systems' schemas, as registered right now
        return _systems()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SYSTEMS",
    "Datatype",
    "Field",
    "ResolvedFlow",
    "SchemaError",
    "System",
    "datatype",
    "resolve_flow",
    "resolve_ref",
    "system",
]


def system(name: str) -> System:
    """A system by key or by any spelling a document uses ("AcmeSystem", "Acmesystem")."""
    wanted = name.strip().lower().replace(" ", "")
    systems = _systems()
    for s in systems:
        if wanted == s.name or wanted in (a.lower() for a in s.aliases):
            return s
    raise SchemaError(f"unknown system {name!r} (known: {', '.join(s.title for s in systems)})")


def datatype(key: str) -> Datatype:
    """A datatype by its key `system.datatype` (`acme.customers`)."""
    sys_name, _, dt_name = key.partition(".")
    return system(sys_name).datatype(dt_name)


def resolve_ref(ref: DatatypeRef) -> tuple[Datatype, tuple[str, object] | None]:
    """The datatype a document reference means, and its filter as (field path, value)."""
    dt = system(ref.system).datatype(ref.datatype)
    if not ref.filter:
        return dt, None
    word = ref.filter.strip().strip("()").strip().lower()  # "person" or "(human data)"
    if word in dt.filters:
        return dt, dt.filters[word]
    if word in dt.qualifies_all:  # every record is one: nothing to filter
        return dt, None
    known = [*dt.filters, *(f"{q} (all records)" for q in dt.qualifies_all)]
    raise SchemaError(
        f"{dt.key} has no filter {ref.filter!r} (known: {', '.join(known) or 'none'})"
    )


class ResolvedFlow:
    """A flow with every name resolved against the schemas; raises naming flow and property."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        try:
            self.source, self.source_filter = resolve_ref(flow.source)
            self.target, self.target_filter = resolve_ref(flow.target)
        except SchemaError as exc:
            raise SchemaError(f"flow {flow.title!r}: {exc}") from None
        self.criteria: list[tuple[Field, Field]] = []
        self.properties: list[tuple[Field, Field, str]] = []
        for c in flow.merge_criteria:
            self.criteria.append(
                (
                    self._field(self.source, c.source, "merge criterion"),
                    self._field(self.target, c.target, "merge criterion"),
                )
            )
        self.not_in_api: list[tuple[Field, Field, str]] = []
        """Mappings with a side the API does not have (`Field.not_in_api`): kept for lineage
        and reports, never read, planned or sent."""
        self.property_docs: list[PropertyMapping] = []
        self.not_in_api_docs: list[PropertyMapping] = []
        """The document's mappings behind `properties` and `not_in_api`, in the same order."""
        for p in flow.properties:
            mapping = (
                self._field(self.source, p.source, "property", lookup=True),
                self._field(self.target, p.target, "property", lookup=True),
                UNTYPED_AS if p.type == NO_DATA_TYPE else p.type,
            )
            in_api = mapping[0].in_api and mapping[1].in_api
            (self.properties if in_api else self.not_in_api).append(mapping)
            (self.property_docs if in_api else self.not_in_api_docs).append(p)

    @property
    def datatypes(self) -> list[Datatype]:
        """The datatypes the flow needs read: source, target and, where new targets are created
        under a parent, the datatypes the source's references name (a contact's company)."""
        out = [self.source, self.target]
        if self.target.parent and self.flow.rule.inserts:
            system_ = system(self.source.system)
            out += [system_.datatype(f.references) for f in self.source.references]
        return out

    def _field(self, dt: Datatype, name: str, what: str, lookup: bool = False) -> Field:
        try:
            return dt.lookup(name) if lookup else dt.field(name)
        except SchemaError as exc:
            raise SchemaError(f"flow {self.flow.title!r}, {what} {name!r}: {exc}") from None


def resolve_flow(flow: Flow) -> ResolvedFlow:
    return ResolvedFlow(flow)
