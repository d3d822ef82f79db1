"""Datatype schemas: the fields of each datatype, their JSON paths and the names documents use.

A field's `path` is its dotted path in the API payload (`MailAddress.City`) and is also the
column name of the field in every polars frame and DuckDB table of the product. Documents name
fields loosely (`city`, `lastChanged`, `mailAddress.city`); `Datatype.field()` resolves such a
name case-insensitively, through the field's aliases.

Some names documents use have no field in the real API (PowerOffice's contact persons have no
`DateOfBirth`). A datatype declares them as `not_in_api` fields, each with the reason:
`Datatype.lookup()` resolves them (for lineage and reporting), `Datatype.field()` does not, so
nothing reads, plans or sends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import polars as pl

FIELD_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.String(),  # ISO `YYYY-MM-DD`, kept as text as the APIs send it
    "datetime": pl.String(),  # ISO 8601 with offset, kept as text as the APIs send it
}


class SchemaError(LookupError):
    """A datatype or property name that does not resolve against the schemas."""


@dataclass(frozen=True)
class Field:
    path: str
    type: str = "string"
    read_only: bool = False
    identity: bool = False
    aliases: tuple[str, ...] = ()
    not_in_api: str | None = None
    """Why the API has no such field, for a name documents use all the same (None: it has)."""
    references: str | None = None
    """The datatype (same system) whose record id this field holds: `companyId` -> `companies`.
    A new child record's parent may be found through it (`engine/parents.py`)."""

    @property
    def writable(self) -> bool:
        return not (self.read_only or self.identity or self.not_in_api)

    @property
    def in_api(self) -> bool:
        return self.not_in_api is None

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))

    @property
    def polars_type(self) -> pl.DataType:
        return FIELD_TYPES[self.type]


@dataclass(frozen=True)
class Datatype:
    """One kind of record in one system."""

    system: str
    name: str
    """Canonical key, lower case and plural: `customers`, `contactpersons`, `contacts`."""
    endpoint: str | None
    """Path below the API base; None for datatypes derived from another (`addresses`)."""
    fields: tuple[Field, ...]
    id_field: str
    last_changed_field: str
    aliases: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    """Fields a new record must have (paths); the system rejects an insert without them."""
    filters: dict[str, tuple[str, object]] = field(default_factory=dict, hash=False)
    """Document filter word -> (field path, required value): `person` -> (`IsPerson`, True)."""
    qualifies_all: tuple[str, ...] = ()
    """Document qualifiers every record of this datatype meets (`human data` for a datatype of
    people only): they filter nothing. Any other qualifier does not resolve."""
    parent: str | None = None
    """For derived or child datatypes: the field holding the parent record's id."""
    parent_datatypes: tuple[str, ...] = ()
    """Datatypes a child record may belong to (`ContactPersons` under customers or suppliers)."""
    derived_from: tuple[str, ...] = ()
    """Datatypes whose records embed this one (`addresses` in `suppliers`)."""
    embedded_as: str | None = None
    """For derived datatypes: the object path in the parent record (`MailAddress`)."""
    not_in_api: tuple[Field, ...] = ()
    """Names documents use that the API does not have, each with `Field.not_in_api` (the
    reason): resolved by `lookup()` for lineage and reports, never read or written."""

    def __hash__(self) -> int:
        """By system and name (equal datatypes share them): the generated hash would hash every
        field on each call, and caches keyed by datatype are asked once per record."""
        return hash((self.system, self.name))

    @property
    def key(self) -> str:
        return f"{self.system}.{self.name}"

    def field(self, name: str) -> Field:
        """The field a document's property name means, case-insensitively, through aliases."""
        found = self._fields_by_name.get(_wanted(name))
        if found is not None:
            return found
        absent = self._absent_by_name.get(_wanted(name))
        if absent is not None:
            raise SchemaError(
                f"{self.system}.{self.name} field {absent.path!r} is not in the API: "
                f"{absent.not_in_api}"
            )
        raise SchemaError(
            f"{self.system}.{self.name} has no field {name!r} "
            f"(known: {', '.join(f.path for f in self.fields)})"
        )

    def lookup(self, name: str) -> Field:
        """Like `field()`, but a name the API lacks resolves to its `not_in_api` field."""
        absent = self._absent_by_name.get(_wanted(name))
        return absent if absent is not None else self.field(name)

    @cached_property
    def _fields_by_name(self) -> dict[str, Field]:
        """Every name a field answers to (`field()` runs for every value of every write)."""
        return _name_index(self.fields)

    @cached_property
    def _absent_by_name(self) -> dict[str, Field]:
        return _name_index(self.not_in_api)

    def has_field(self, name: str) -> bool:
        try:
            self.field(name)
        except SchemaError:
            return False
        return True

    @property
    def references(self) -> tuple[Field, ...]:
        """Fields that hold the id of another record of this system."""
        return tuple(f for f in self.fields if f.references)

    @property
    def id(self) -> Field:
        return self.field(self.id_field)

    @property
    def last_changed(self) -> Field:
        return self.field(self.last_changed_field)

    def polars_schema(self) -> dict[str, pl.DataType]:
        """Column name -> polars type for a frame of this datatype's records."""
        return {f.path: f.polars_type for f in self.fields}

    def empty_frame(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars_schema())


@dataclass(frozen=True)
class System:
    name: str
    """Canonical key, lower case: `acme`, the system's folder name."""
    title: str
    datatypes: tuple[Datatype, ...]
    aliases: tuple[str, ...] = ()

    def datatype(self, name: str) -> Datatype:
        """A datatype by canonical name or by any name a document uses, case-insensitively."""
        found = self._by_name.get(_norm(name))
        if found is not None:
            return found
        raise SchemaError(
            f"{self.title} has no datatype {name!r} "
            f"(known: {', '.join(dt.name for dt in self.datatypes)})"
        )

    @cached_property
    def _by_name(self) -> dict[str, Datatype]:
        """Every name a datatype answers to, normalized; the first datatype wins a shared one."""
        index: dict[str, Datatype] = {}
        for dt in self.datatypes:
            for name in (dt.name, *dt.aliases):
                index.setdefault(_norm(name), dt)
        return index


def _name_index(fields: tuple[Field, ...]) -> dict[str, Field]:
    """Lower-case path and aliases -> field; the first field wins a name two share."""
    index: dict[str, Field] = {}
    for f in fields:
        for name in (f.path, *f.aliases):
            index.setdefault(name.lower(), f)
    return index


def _wanted(name: str) -> str:
    return name.strip().lower()


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def simple_field(path: str, type: str = "string", *aliases: str) -> Field:
    return Field(path=path, type=type, aliases=aliases)
