"""Record rules of the Powerofficego emulator: what the API completes or refuses in a record
about to be stored (derived `Name`, `MailAddress` ids, required fields, references to other
records) and the next free `Number` of customers, suppliers and employees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from talk_assets.systems.emulator.app import HttpError
from talk_assets.systems.emulator.validation import is_empty
from talk_assets.systems.powerofficego.sample_data import (
    CUSTOMER_NUMBER_START,
    SUPPLIER_NUMBER_START,
)
from talk_assets.systems.schema import Datatype

Json = dict[str, Any]

PARTIES = ("customers", "suppliers")
REFERENCES = {"projectactivities": ("ProjectId", ("projects",))}
"""Datatype -> (field, datatypes the id it holds must be found in): checked on every write."""
NUMBER_START = {"customers": CUSTOMER_NUMBER_START, "suppliers": SUPPLIER_NUMBER_START}


class Numbers:
    """The next free `Number` per datatype: one above the highest ever stored, kept as a
    high-water mark (one scan after a load, O(1) per insert after that); never reused, also
    after a restart: `marks` are the `high_water()` stored with the data."""

    def __init__(
        self, records: dict[str, dict[int, Json]], marks: dict[str, int] | None = None
    ) -> None:
        self.records = records
        self.marks = dict(marks or {})
        self.top: dict[str, int] = {}

    def next(self, name: str) -> int:
        if name not in self.top:
            used = (r["Number"] for r in self.records[name].values())
            self.top[name] = max(
                [
                    NUMBER_START.get(name, 1) - 1,
                    self.marks.get(name, 0),
                    *(n for n in used if isinstance(n, int)),
                ]
            )
        self.top[name] += 1
        return self.top[name]

    def high_water(self) -> dict[str, int]:
        """Per datatype, the highest `Number` given out (or loaded) so far."""
        return {**self.marks, **self.top}

    def note(self, name: str, record: Json) -> None:
        """Keep the high-water mark above a `Number` a client chose itself."""
        number = record.get("Number")
        if isinstance(number, int):
            marks = self.top if name in self.top else self.marks
            marks[name] = max(marks.get(name, number), number)


def complete(
    dt: Datatype, record: Json, old: Json | None, new_address_id: Callable[[], int]
) -> None:
    """Derived values, MailAddress ids and required fields of a record about to be stored
    (`old`: the stored record a patch changes, None for an insert)."""
    if dt.name in PARTIES:
        derived = " ".join(x for x in (record["FirstName"], record["LastName"]) if x)
        names_changed = old is not None and (
            (record["FirstName"], record["LastName"]) != (old["FirstName"], old["LastName"])
        )
        name_kept = old is not None and record["Name"] == old["Name"]
        if derived and (
            is_empty(record["Name"]) or (record["IsPerson"] and names_changed and name_kept)
        ):
            record["Name"] = derived
        if is_empty(record["Name"]) and is_empty(record["LastName"]):
            kind = "customer" if dt.name == "customers" else "supplier"
            msg = f"A {kind} needs a Name or a LastName."
            raise HttpError(400, msg, errors={"Name": [msg]})
        address = record["MailAddress"]
        if isinstance(address, dict) and address.get("Id") is None:
            old_address = (old or {}).get("MailAddress") or {}
            address["Id"] = old_address.get("Id") or new_address_id()
    missing = [f for f in dt.required if is_empty(record.get(f))]
    if missing:
        errors = {f: [f"The {f} field is required."] for f in missing}
        raise HttpError(400, " ".join(m[0] for m in errors.values()), errors=errors)


def check_references(dt: Datatype, record: Json, records: dict[str, dict[int, Json]]) -> None:
    """A record's reference (`ProjectId` of a project activity) must name an existing record."""
    if dt.name not in REFERENCES:
        return
    field, targets = REFERENCES[dt.name]
    value = record.get(field)
    if value is not None and not any(value in records[t] for t in targets):
        msg = f"{field} {value} does not name an existing record of {', '.join(targets)}."
        raise HttpError(400, msg, errors={field: [msg]})


def referenced_by(name: str, record_id: int, records: dict[str, dict[int, Json]]) -> str | None:
    """The datatype of a record that refers to this one (so it cannot be deleted), or None."""
    for child, (field, targets) in REFERENCES.items():
        if name in targets and any(r[field] == record_id for r in records[child].values()):
            return child
    return None


def refuse_not_in_api(dt: Datatype, names: list[Any]) -> None:
    """400 naming a field the real API does not have (`Datatype.not_in_api`), with the reason;
    `names`: a body's keys or a patch's pointers (`/DateOfBirth`)."""
    for name in names:
        wanted = str(name).strip("/").split("/")[0].lower()
        absent = next((f for f in dt.not_in_api if f.path.lower() == wanted), None)
        if absent is not None:
            msg = f"The field {absent.path} does not exist on {dt.endpoint}: {absent.not_in_api}."
            raise HttpError(400, msg, errors={absent.path: [msg]})
