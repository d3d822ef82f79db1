"""Deterministic Norwegian sample data for the emulators: same (seed, size), same records.

`size` records per datatype. The data is meant to be awkward on purpose: names with Æ, Ø and Å,
empty ("") and missing (null or absent) optional fields, e-mail addresses shared by several
records (within a datatype, across customers and suppliers, and across the two systems), persons
and organisations mixed among customers and suppliers (`IsPerson`), contact persons under
organisation customers and suppliers, and Crmoffice records that are the same people and
companies as Powerofficego records (same e-mail, same organisation number).

Only seeded generators are used (faker `no_NO`, its name for nb_NO, seeded per call, `random.Random(seed)`), never
today's date, so the output does not depend on when or where it runs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from faker import Faker

Json = dict[str, Any]

# First ids of each Powerofficego id sequence (customers and suppliers share "contacts").
POWEROFFICEGO_ID_START = {
    "contacts": 1_000_001,
    "contactpersons": 2_000_001,
    "employees": 3_000_001,
    "products": 4_000_001,
    "projects": 5_000_001,
    "addresses": 9_000_001,
}
CUSTOMER_NUMBER_START = 10_000
SUPPLIER_NUMBER_START = 20_000
CRMOFFICE_ID_PREFIX = {"contacts": "ct", "companies": "co", "activities": "ac"}
SAMPLE_EPOCH = datetime(2024, 1, 2, 7, 30, tzinfo=UTC)

_ASCII = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "é": "e", "ü": "u", "ö": "o", "ä": "a"})
_AWKWARD_PEOPLE = [("Åsmund", "Ødegård"), ("Ærlend", "Bjørkåsen"), ("Øydis", "Østrem-Aas")]
_AWKWARD_COMPANIES = ["Ærlig Økonomi & Sønn AS", "Blåbær Ålesund ANS", "Øst-Ås Rør og Varme AS"]
_JOB_TITLES = [
    "Daglig leder",
    "Regnskapsfører",
    "Prosjektleder",
    "Selger",
    "Konsulent",
    "Lagermedarbeider",
    "Økonomisjef",
    "Kundebehandler",
]
_PRODUCTS = [
    "Konsulenttime",
    "Rådgivning",
    "Vedlikeholdsavtale",
    "Lisens årlig",
    "Kontorstol",
    "Skrivebord",
    "Opplæring halv dag",
    "Reisekostnad",
    "Støttetime kveld",
    "Serviceavgift",
]
_PROJECTS = ["Oppgradering", "Innføring", "Rammeavtale", "Ombygging", "Kartlegging", "Migrering"]
_SUBJECTS = ["Oppfølgingsmøte", "Telefon", "Tilbud sendt", "Demo", "Årsgjennomgang", "Befaring"]
_TITLES = ["Innkjøper", "Daglig leder", "Økonomiansvarlig", "Kontaktperson", None, ""]


@dataclass(frozen=True)
class SampleData:
    powerofficego: dict[str, list[Json]]
    """customers, suppliers, contactpersons, employees, products, projects."""
    crmoffice: dict[str, list[Json]]
    """contacts, companies, activities."""


class _Clock:
    """Strictly increasing sample timestamps, one per record, all in the past."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.moment = SAMPLE_EPOCH

    def next(self) -> datetime:
        self.moment += timedelta(
            seconds=self.rng.randint(60, 7200), microseconds=1 + self.rng.randint(0, 999_999)
        )
        return self.moment


def organization_number(rng: random.Random) -> str:
    """A 9-digit Norwegian organisation number with a valid mod-11 check digit."""
    while True:
        digits = [8 if rng.random() < 0.5 else 9] + [rng.randint(0, 9) for _ in range(7)]
        rest = sum(d * w for d, w in zip(digits, (3, 2, 7, 6, 5, 4, 3, 2), strict=True)) % 11
        check = 0 if rest == 0 else 11 - rest
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def _email(first: str, last: str, domain: str) -> str:
    local = f"{first}.{last}".lower().translate(_ASCII).replace(" ", "").replace("-", "")
    return f"{local}@{domain}"


def _birth(rng: random.Random) -> str:
    return (date(1948, 1, 1) + timedelta(days=rng.randrange(365 * 55))).isoformat()


def _day(rng: random.Random, start: date = date(2019, 1, 1), span: int = 1800) -> date:
    return start + timedelta(days=rng.randrange(span))


class _Gen:
    def __init__(self, seed: int, size: int) -> None:
        self.size = size
        self.rng = random.Random(seed)
        self.fake = Faker("no_NO")  # faker names Norwegian bokmål no_NO; there is no nb_NO
        self.fake.seed_instance(seed)
        self.clock = _Clock(random.Random(seed * 7919 + 1))
        self.ids = dict(POWEROFFICEGO_ID_START)

    def next_id(self, sequence: str) -> int:
        value = self.ids[sequence]
        self.ids[sequence] += 1
        return value

    def person(self, i: int) -> tuple[str, str]:
        if i < len(_AWKWARD_PEOPLE) and self.rng.random() < 0.8:
            return _AWKWARD_PEOPLE[i]
        first = self.fake.first_name()
        return first, self.fake.last_name()

    def phone(self) -> str | None:
        roll = self.rng.random()
        if roll < 0.08:
            return None
        if roll < 0.14:
            return ""
        return self.fake.phone_number()

    def domain(self) -> str:
        return self.fake.free_email_domain() if self.rng.random() < 0.6 else self.fake.domain_name()

    def address(self, with_id: bool) -> Json | None:
        if self.rng.random() < 0.1:
            return None
        address: Json = {
            "AddressLine1": self.fake.street_address(),
            "AddressLine2": ("" if self.rng.random() < 0.3 else None),
            "City": self.fake.city(),
            "CountryCode": "NO" if self.rng.random() < 0.9 else self.rng.choice(["SE", "DK", None]),
            "ZipCode": self.fake.postcode(),
        }
        if with_id:
            return {"Id": self.next_id("addresses"), **address}
        del address["AddressLine2"]
        return address

    def stamp(self) -> str:
        return self.clock.next().isoformat(timespec="microseconds")

    def parties(self, kind: str, person_share: float) -> list[Json]:
        number = CUSTOMER_NUMBER_START if kind == "customers" else SUPPLIER_NUMBER_START
        awkward = _AWKWARD_COMPANIES if kind == "suppliers" else list(reversed(_AWKWARD_COMPANIES))
        out: list[Json] = []
        for i in range(self.size):
            is_person = self.rng.random() < person_share
            if self.size >= 2 and i < 2:
                is_person = (i == 0) == (kind == "customers")
            record: Json = {
                "Id": self.next_id("contacts"),
                "LastChangedDateTimeOffset": self.stamp(),
                "Number": number + i,
                "Name": None,
                "IsPerson": is_person,
                "FirstName": None,
                "LastName": None,
                "DateOfBirth": None,
                "EmailAddress": None,
                "PhoneNumber": self.phone(),
                "OrganizationNumber": None,
                "ExternalImportReference": None,
                "MailAddress": self.address(with_id=True),
            }
            if is_person:
                first, last = self.person(i)
                record.update(
                    FirstName=first,
                    LastName=last,
                    Name=f"{first} {last}",
                    DateOfBirth=_birth(self.rng) if self.rng.random() < 0.7 else None,
                    EmailAddress=_email(first, last, self.domain()),
                )
            else:
                name = awkward[i % 3] if i < 6 and self.rng.random() < 0.5 else self.fake.company()
                record.update(
                    Name=name,
                    OrganizationNumber=organization_number(self.rng)
                    if self.rng.random() < 0.85
                    else None,
                    EmailAddress="post@" + self.fake.domain_name(),
                )
            if self.rng.random() < 0.08:
                record["EmailAddress"] = self.rng.choice(["", None])
            out.append(record)
        # Duplicates by e-mail: two customers share one address.
        if len(out) >= 4:
            out[3]["EmailAddress"] = out[2]["EmailAddress"]
        return out

    def contact_persons(self, owners: list[Json]) -> list[Json]:
        organisations = [o for o in owners if not o["IsPerson"]]
        if not organisations:
            return []
        out = []
        for i in range(self.size):
            owner = organisations[i % len(organisations)]
            first, last = self.person(i) if i % 5 == 4 else (None, None)
            if first is None:
                first, last = self.fake.first_name(), self.fake.last_name()
            domain = (owner["EmailAddress"] or "post@firma.no").partition("@")[2] or "firma.no"
            out.append(
                {
                    "Id": self.next_id("contactpersons"),
                    "LastChangedDateTimeOffset": self.stamp(),
                    "ContactId": owner["Id"],
                    "FirstName": first,
                    "LastName": last,
                    "EmailAddress": _email(first, last, domain) if self.rng.random() < 0.9 else "",
                    "PhoneNumber": self.phone(),
                    "DateOfBirth": _birth(self.rng) if self.rng.random() < 0.3 else None,
                    "Title": self.rng.choice(_TITLES),
                    "ExternalCode": None,
                    "MailAddress": self.address(with_id=False),
                }
            )
        return out

    def employees(self) -> list[Json]:
        out = []
        for i in range(self.size):
            first, last = self.person(i + 1)
            out.append(
                {
                    "Id": self.next_id("employees"),
                    "LastChangedDateTimeOffset": self.stamp(),
                    "Number": i + 1,
                    "FirstName": first,
                    "LastName": last,
                    "EmailAddress": _email(first, last, "firma.no"),
                    "PhoneNumber": self.phone(),
                    "DateOfBirth": _birth(self.rng),
                    "JobTitle": self.rng.choice(_JOB_TITLES) if self.rng.random() < 0.9 else None,
                    "StartDate": _day(self.rng, date(2005, 1, 1), 6500).isoformat(),
                }
            )
        return out

    def products(self) -> list[Json]:
        out = []
        for i in range(self.size):
            base = _PRODUCTS[i % len(_PRODUCTS)]
            name = base if i < len(_PRODUCTS) else f"{base} {i // len(_PRODUCTS) + 1}"
            out.append(
                {
                    "Id": self.next_id("products"),
                    "LastChangedDateTimeOffset": self.stamp(),
                    "Code": str(1001 + i),
                    "Name": name,
                    "Description": self.fake.sentence(nb_words=6)
                    if self.rng.random() < 0.6
                    else "",
                    "UnitPrice": round(self.rng.uniform(49, 12_500), 2),
                    "IsArchived": self.rng.random() < 0.1,
                }
            )
        return out

    def projects(self, employees: list[Json], customers: list[Json]) -> list[Json]:
        out = []
        for i in range(self.size):
            start = _day(self.rng)
            manager = (
                self.rng.choice(employees)["Id"] if employees and self.rng.random() < 0.9 else None
            )
            customer = self.rng.choice(customers) if customers and self.rng.random() < 0.8 else None
            area = customer["Name"] if customer else self.fake.city()
            out.append(
                {
                    "Id": self.next_id("projects"),
                    "LastChangedDateTimeOffset": self.stamp(),
                    "Code": f"P{1000 + i}",
                    "Name": f"{self.rng.choice(_PROJECTS)} {area}",
                    "ProjectManagerEmployeeId": manager,
                    "StartDate": start.isoformat(),
                    "EndDate": (start + timedelta(days=self.rng.randint(30, 700))).isoformat()
                    if self.rng.random() < 0.6
                    else None,
                    "CustomerId": customer["Id"] if customer else None,
                    "IsActive": self.rng.random() < 0.75,
                }
            )
        return out

    # --- Crmoffice -----------------------------------------------------------------------------

    def crm_stamp(self) -> str:
        return self.clock.next().isoformat(timespec="microseconds").replace("+00:00", "Z")

    def companies(self, poweroffice_parties: list[Json]) -> list[Json]:
        organisations = [p for p in poweroffice_parties if not p["IsPerson"]]
        out = []
        for i in range(self.size):
            record: Json = {"id": f"co_{i + 1:08d}", "updatedAt": ""}
            twin = organisations[i // 3] if i % 3 == 0 and i // 3 < len(organisations) else None
            if twin:  # the same company as a Powerofficego customer or supplier
                record["name"] = twin["Name"]
                if twin["OrganizationNumber"]:
                    record["orgNr"] = twin["OrganizationNumber"]
            else:
                record["name"] = self.fake.company()
                if self.rng.random() < 0.8:
                    record["orgNr"] = organization_number(self.rng)
            if self.rng.random() < 0.85:
                address = {
                    "streetAddress": self.fake.street_address(),
                    "postCode": self.fake.postcode(),
                    "postalArea": self.fake.city(),
                    "country": "NO",
                }
                if self.rng.random() < 0.1:
                    address["postalArea"] = ""
                record["visitAddress"] = address
            record["updatedAt"] = self.crm_stamp()
            out.append(record)
        return out

    def contacts(self, people: list[Json], companies: list[Json]) -> list[Json]:
        persons = [p for p in people if p.get("IsPerson", True) and p.get("FirstName")]
        out = []
        for i in range(self.size):
            record: Json = {"id": f"ct_{i + 1:08d}", "updatedAt": ""}
            twin = persons[i // 2] if i % 2 == 0 and i // 2 < len(persons) else None
            if twin:  # the same person as in Powerofficego, found by e-mail
                first, last, email = twin["FirstName"], twin["LastName"], twin["EmailAddress"]
            else:
                first, last = self.person(i)
                email = _email(first, last, self.domain())
            record["givenName"] = first
            record["familyName"] = last
            if self.rng.random() < 0.8:
                record["directPhone"] = self.phone()
            if self.rng.random() < 0.6:
                record["mobilePhone"] = self.fake.phone_number()
            if email is not None and self.rng.random() < 0.95:
                record["email"] = email
            if companies and self.rng.random() < 0.5:
                record["companyId"] = self.rng.choice(companies)["id"]
            record["updatedAt"] = self.crm_stamp()
            out.append(record)
        if len(out) >= 3 and "email" in out[1]:
            out[2]["email"] = out[1]["email"]  # duplicate by e-mail
        return out

    def activities(self, employees: list[Json]) -> list[Json]:
        out = []
        for i in range(self.size):
            record: Json = {"id": f"ac_{i + 1:08d}", "updatedAt": ""}
            record["subject"] = f"{self.rng.choice(_SUBJECTS)} {self.fake.company()}"
            if employees and self.rng.random() < 0.8:
                record["ownerId"] = str(self.rng.choice(employees)["Id"])
            day = _day(self.rng, date(2023, 1, 1), 900)
            if self.rng.random() < 0.5:
                record["startsAt"] = day.isoformat()
            else:
                hour = self.rng.randint(8, 16)
                record["startsAt"] = (
                    f"{day.isoformat()}T{hour:02d}:{self.rng.choice([0, 15, 30, 45]):02d}:00+01:00"
                )
            record["updatedAt"] = self.crm_stamp()
            out.append(record)
        return out


def generate(seed: int, size: int) -> SampleData:
    """The sample data of (seed, size); `size` records per datatype, none when size is 0."""
    g = _Gen(seed, max(0, size))
    customers = g.parties("customers", person_share=0.55)
    suppliers = g.parties("suppliers", person_share=0.35)
    mailed = [c for c in customers if c["EmailAddress"]]
    if mailed and len(suppliers) >= 3:
        suppliers[2]["EmailAddress"] = mailed[0]["EmailAddress"]  # shared across datatypes
    contact_persons = g.contact_persons(customers + suppliers)
    employees = g.employees()
    products = g.products()
    projects = g.projects(employees, customers)
    companies = g.companies(customers + suppliers)
    contacts = g.contacts(customers + suppliers + employees, companies)
    activities = g.activities(employees)
    return SampleData(
        powerofficego={
            "customers": customers,
            "suppliers": suppliers,
            "contactpersons": contact_persons,
            "employees": employees,
            "products": products,
            "projects": projects,
        },
        crmoffice={"contacts": contacts, "companies": companies, "activities": activities},
    )
