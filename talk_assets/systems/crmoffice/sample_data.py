"""Crmoffice sample data: companies, contacts and activities; some are the same companies and
people as PowerOffice Go's sample records (same organisation number, same e-mail)."""

from __future__ import annotations

from datetime import date

from talk_assets.systems.sampling import (
    Json,
    SampleContext,
    organization_number,
)
from talk_assets.systems.sampling import (
    day as random_day,
)
from talk_assets.systems.sampling import (
    email as make_email,
)

TWIN_SYSTEM = "powerofficego"
"""The system whose sample records some of these twin (generated before this one)."""
ID_PREFIX = {"contacts": "ct", "companies": "co", "activities": "ac"}
_SUBJECTS = ["Oppfølgingsmøte", "Telefon", "Tilbud sendt", "Demo", "Årsgjennomgang", "Befaring"]


def sample(ctx: SampleContext) -> dict[str, list[Json]]:
    """contacts, companies, activities."""
    twin = ctx.data.get(TWIN_SYSTEM, {})
    parties = twin.get("customers", []) + twin.get("suppliers", [])
    employees = twin.get("employees", [])
    g = _Gen(ctx)
    companies = g.companies(parties)
    contacts = g.contacts(parties + employees, companies)
    activities = g.activities(employees)
    return {"contacts": contacts, "companies": companies, "activities": activities}


class _Gen:
    def __init__(self, ctx: SampleContext) -> None:
        self.ctx = ctx
        self.size, self.rng, self.fake = ctx.size, ctx.rng, ctx.fake
        self.person, self.phone, self.domain = ctx.person, ctx.phone, ctx.domain

    def crm_stamp(self) -> str:
        return self.ctx.clock.next().isoformat(timespec="microseconds").replace("+00:00", "Z")

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
            post = self.post_address(record.get("visitAddress"))
            if post is not None:
                record["postAddress"] = post
            record["updatedAt"] = self.crm_stamp()
            out.append(record)
        return out

    def post_address(self, visit: Json | None) -> Json | None:
        """Missing, the visit address again, a post box, or partial (no country)."""
        roll = self.rng.random()
        if roll < 0.25:
            return None
        if roll < 0.5 and visit:
            return dict(visit)
        address = {
            "streetAddress": f"Postboks {self.rng.randint(1, 9999)}",
            "postCode": self.fake.postcode(),
            "postalArea": self.fake.city(),
            "country": "NO" if roll < 0.9 else None,
        }
        if address["country"] is None:
            del address["country"]
        return address

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
                email = make_email(first, last, self.domain())
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
            day = random_day(self.rng, date(2023, 1, 1), 900)
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
