"""Crmoffice datatypes as the emulator defines them (shared/design/SYSTEMS.md)."""

from __future__ import annotations

from talk_assets.systems.schema import Datatype, Field, System

F = Field


def _common() -> tuple[Field, ...]:
    return (
        F("id", "string", read_only=True, identity=True),
        F("updatedAt", "datetime", read_only=True, aliases=("lastChanged", "lastModified")),
    )


CONTACTS = Datatype(
    system="crmoffice",
    name="contacts",
    endpoint="contacts",
    fields=(
        *_common(),
        F("givenName", aliases=("firstName",)),
        F("familyName", aliases=("lastName",)),
        F("directPhone", aliases=("phone",)),
        F("mobilePhone", aliases=("mobile",)),
        F("email", aliases=("emailAddress",)),
        F("companyId"),
    ),
    id_field="id",
    last_changed_field="updatedAt",
    aliases=("Contact", "Contacts"),
)

COMPANIES = Datatype(
    system="crmoffice",
    name="companies",
    endpoint="companies",
    fields=(
        *_common(),
        F("name"),
        F("orgNr", aliases=("organizationNumber",)),
        F("visitAddress.streetAddress", aliases=("streetAddress",)),
        F("visitAddress.postCode", aliases=("postCode", "zipCode")),
        F("visitAddress.postalArea", aliases=("postalArea", "city")),
        F("visitAddress.country", aliases=("country", "countryCode")),
    ),
    id_field="id",
    last_changed_field="updatedAt",
    aliases=("Company", "Companies"),
    required=("name",),
)

ACTIVITIES = Datatype(
    system="crmoffice",
    name="activities",
    endpoint="activities",
    fields=(
        *_common(),
        F("subject"),
        F("ownerId"),
        F("startsAt"),
    ),
    id_field="id",
    last_changed_field="updatedAt",
    aliases=("Activity", "Activities"),
    required=("subject",),
)

CRMOFFICE = System(
    name="crmoffice",
    title="Crmoffice",
    datatypes=(CONTACTS, COMPANIES, ACTIVITIES),
    aliases=("crm office",),
)
