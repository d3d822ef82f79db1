"""Datatype schemas: the fields of each datatype, their JSON paths and the names documents use.

A field's `path` is its dotted path in the API payload (`MailAddress.City`) and is also the
column name of the field in every polars frame and DuckDB table of the product. Documents name
fields loosely (`city`, `lastChanged`, `mailAddress.city`); `Datatype.field()` resolves such a
name case-insensitively, through the field's aliases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    references: str | None = None
    """The datatype (same system) whose record id this field holds: `companyId` -> `companies`.
    A new child record's parent may be found through it (`engine/parents.py`)."""

    @property
    def writable(self) -> bool:
        return not (self.read_only or self.identity)

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

    @property
    def key(self) -> str:
        return f"{self.system}.{self.name}"

    def field(self, name: str) -> Field:
        """The field a document's property name means, case-insensitively, through aliases."""
        wanted = name.strip().lower()
        for f in self.fields:
            if f.path.lower() == wanted or wanted in (a.lower() for a in f.aliases):
                return f
        raise SchemaError(
            f"{self.system}.{self.name} has no field {name!r} "
            f"(known: {', '.join(f.path for f in self.fields)})"
        )

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
        wanted = _norm(name)
        for dt in self.datatypes:
            if wanted == _norm(dt.name) or wanted in (_norm(a) for a in dt.aliases):
                return dt
        raise SchemaError(
            f"{self.title} has no datatype {name!r} "
            f"(known: {', '.join(dt.name for dt in self.datatypes)})"
        )


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def simple_field(path: str, type: str = "string", *aliases: str) -> Field:
    return Field(path=path, type=type, aliases=aliases)
