"""PowerOffice Go sample data: customers and suppliers (persons and organisations mixed),
contact persons under the organisations, employees, products, projects, time-tracking activities
and project activities (under the projects)."""

from __future__ import annotations

from datetime import date, timedelta

from talk_assets.systems.sampling import (
    Json,
    SampleContext,
    birth,
    day,
    email,
    organization_number,
)

# First ids of each Powerofficego id sequence (customers and suppliers share "contacts").
ID_START = {
    "contacts": 1_000_001,
    "contactpersons": 2_000_001,
    "employees": 3_000_001,
    "products": 4_000_001,
    "projects": 5_000_001,
    "timetrackingactivities": 6_000_001,
    "projectactivities": 7_000_001,
    "addresses": 9_000_001,
}
CUSTOMER_NUMBER_START = 10_000
SUPPLIER_NUMBER_START = 20_000
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
_ACTIVITIES = [
    "Møte",
    "Reise/kjøring",
    "Fravær – sykdom",
    "Utvikling",
    "Rådgivning",
    "Internt",
    "Kurs & opplæring",
    "Ferie",
]
_PROJECT_ACTIVITIES = ["Analyse", "Design", "Gjennomføring", "Testing", "Prosjektstyring", "Øvrig"]
_TITLES = ["Innkjøper", "Daglig leder", "Økonomiansvarlig", "Kontaktperson", None, ""]


def sample(ctx: SampleContext) -> dict[str, list[Json]]:
    """customers, suppliers, contactpersons, employees, products, projects,
    timetrackingactivities, projectactivities."""
    g = _Gen(ctx)
    customers = g.parties("customers", person_share=0.55)
    suppliers = g.parties("suppliers", person_share=0.35)
    mailed = [c for c in customers if c["EmailAddress"]]
    if mailed and len(suppliers) >= 3:
        suppliers[2]["EmailAddress"] = mailed[0]["EmailAddress"]  # shared across datatypes
    contact_persons = g.contact_persons(customers + suppliers)
    employees = g.employees()
    projects = g.projects(employees, customers)
    return {
        "customers": customers,
        "suppliers": suppliers,
        "contactpersons": contact_persons,
        "employees": employees,
        "products": g.products(),
        "projects": projects,
        "timetrackingactivities": g.time_tracking_activities(),
        "projectactivities": g.project_activities(projects),
    }


class _Gen:
    def __init__(self, ctx: SampleContext) -> None:
        self.ctx = ctx
        self.size, self.rng, self.fake = ctx.size, ctx.rng, ctx.fake
        self.person, self.phone, self.domain = ctx.person, ctx.phone, ctx.domain
        self.ids = dict(ID_START)

    def next_id(self, sequence: str) -> int:
        value = self.ids[sequence]
        self.ids[sequence] += 1
        return value

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
        return self.ctx.clock.next().isoformat(timespec="microseconds")

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
                    DateOfBirth=birth(self.rng) if self.rng.random() < 0.7 else None,
                    EmailAddress=email(first, last, self.domain()),
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
                    "EmailAddress": email(first, last, domain) if self.rng.random() < 0.9 else "",
                    "PhoneNumber": self.phone(),
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
                    "EmailAddress": email(first, last, "firma.no"),
                    "PhoneNumber": self.phone(),
                    "DateOfBirth": birth(self.rng),
                    "JobTitle": self.rng.choice(_JOB_TITLES) if self.rng.random() < 0.9 else None,
                    "StartDate": day(self.rng, date(2005, 1, 1), 6500).isoformat(),
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
            start = day(self.rng)
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

    def time_tracking_activities(self) -> list[Json]:
        """Awkward on purpose: non-ASCII names, a name used twice, empty and missing codes."""
        out = []
        for i in range(self.size):
            base = _ACTIVITIES[i % len(_ACTIVITIES)]
            name = base if i < len(_ACTIVITIES) else f"{base} {i // len(_ACTIVITIES) + 1}"
            roll = self.rng.random()
            out.append(
                {
                    "Id": self.next_id("timetrackingactivities"),
                    "LastChangedDateTimeOffset": self.stamp(),
                    "Code": None if roll < 0.1 else "" if roll < 0.15 else f"T{100 + i}",
                    "Name": name,
                    "IsActive": self.rng.random() < 0.85,
                }
            )
        if len(out) >= 3:
            out[2]["Name"] = out[1]["Name"]  # the same name twice
        return out

    def project_activities(self, projects: list[Json]) -> list[Json]:
        """Activities under existing projects; several per project, names repeated across
        projects, some without a code."""
        if not projects:
            return []
        out = []
        for i in range(self.size):
            project = projects[(i * 2) % len(projects)] if i % 3 else projects[0]
            name = _PROJECT_ACTIVITIES[i % len(_PROJECT_ACTIVITIES)]
            out.append(
                {
                    "Id": self.next_id("projectactivities"),
                    "LastChangedDateTimeOffset": self.stamp(),
                    "ProjectId": project["Id"],
                    "Code": f"{project['Code']}-{i + 1:02d}" if self.rng.random() < 0.8 else None,
                    "Name": name,
                    "IsActive": self.rng.random() < 0.8,
                }
            )
        return out
