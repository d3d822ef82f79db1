"""Deterministic Norwegian sample data for the emulators, shared part: same (seed, size), same records.

`size` records per datatype. Each system's folder has a `sample_data.py` with a
`sample(ctx)` generator (its `SystemSpec.sample`); `generate` runs them in registry order on
one `SampleContext` (one random stream), so a later system can twin an earlier one's records.
 The data is meant to be awkward on purpose: names with Æ, Ø and Å,
empty ("") and missing (null or absent) optional fields, e-mail addresses shared by several
records (within a datatype, across customers and suppliers, and across the two systems), persons
and organisations mixed among customers and suppliers (`IsPerson`), contact persons under
organisation customers and suppliers, and records of one system that are the same people and
companies as another system's records (same e-mail, same organisation number).

Only seeded generators are used (faker `no_NO`, its name for nb_NO, seeded per call, `random.Random(seed)`), never
today's date, so the output does not depend on when or where it runs.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from faker import Faker

Json = dict[str, Any]

SAMPLE_EPOCH = datetime(2024, 1, 2, 7, 30, tzinfo=UTC)

_ASCII = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "é": "e", "ü": "u", "ö": "o", "ä": "a"})
AWKWARD_PEOPLE = [("Åsmund", "Ødegård"), ("Ærlend", "Bjørkåsen"), ("Øydis", "Østrem-Aas")]


class SampleData(dict[str, dict[str, list[Json]]]):
    """System name -> datatype -> records; `data.acme` reads `data["acme"]`."""

    def __getattr__(self, name: str) -> dict[str, list[Json]]:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class SampleClock:
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


def email(first: str, last: str, domain: str) -> str:
    local = f"{first}.{last}".lower().translate(_ASCII).replace(" ", "").replace("-", "")
    return f"{local}@{domain}"


def birth(rng: random.Random) -> str:
    return (date(1948, 1, 1) + timedelta(days=rng.randrange(365 * 55))).isoformat()


def day(rng: random.Random, start: date = date(2019, 1, 1), span: int = 1800) -> date:
    return start + timedelta(days=rng.randrange(span))


class SampleContext:
    """What every system's generator shares: the size, one random stream, one faker, one clock,
    and the records of the systems generated before it (`data`)."""

    def __init__(self, seed: int, size: int) -> None:
        self.size = size
        self.rng = random.Random(seed)
        self.fake = Faker("no_NO")  # faker names Norwegian bokmål no_NO; there is no nb_NO
        self.fake.seed_instance(seed)
        self.clock = SampleClock(random.Random(seed * 7919 + 1))
        self.data = SampleData()

    def person(self, i: int) -> tuple[str, str]:
        if i < len(AWKWARD_PEOPLE) and self.rng.random() < 0.8:
            return AWKWARD_PEOPLE[i]
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


def generate(seed: int, size: int) -> SampleData:
    """The sample data of (seed, size) of every registered system; `size` records per datatype,
    none when size is 0."""
    from talk_assets.systems import registry

    ctx = SampleContext(seed, max(0, size))
    for spec in registry.specs():
        generator = spec.sample_generator
        ctx.data[spec.name] = generator(ctx) if generator is not None else {}
    return ctx.data
