"""Crmoffice datatypes as the emulator defines them (shared/design/SYSTEMS.md)."""

from __future__ import annotations

from talk_assets.systems.schema import Datatype, Field, System


def _common() -> tuple[Field, ...]:
    return (
        Field("id", "string", read_only=True, identity=True),
        Field("updatedAt", "datetime", read_only=True, aliases=("lastChanged", "lastModified")),
    )


CONTACTS = Datatype(
    system="crmoffice",
    name="contacts",
    endpoint="contacts",
    fields=(
        *_common(),
        Field("givenName", aliases=("firstName",)),
        Field("familyName", aliases=("lastName",)),
        Field("directPhone", aliases=("phone",)),
        Field("mobilePhone", aliases=("mobile",)),
        Field("email", aliases=("emailAddress",)),
        Field("companyId", references="companies"),
    ),
    id_field="id",
    last_changed_field="updatedAt",
    aliases=("Contact", "Contacts"),
    qualifies_all=("human data",),
)

COMPANIES = Datatype(
    system="crmoffice",
    name="companies",
    endpoint="companies",
    fields=(
        *_common(),
        Field("name"),
        Field("orgNr", aliases=("organizationNumber",)),
        Field("visitAddress.streetAddress", aliases=("streetAddress",)),
        Field("visitAddress.postCode", aliases=("postCode", "zipCode")),
        Field("visitAddress.postalArea", aliases=("postalArea", "city")),
        Field("visitAddress.country", aliases=("country", "countryCode")),
        Field("postAddress.streetAddress", aliases=("postStreetAddress",)),
        Field("postAddress.postCode", aliases=("postPostCode",)),
        Field("postAddress.postalArea", aliases=("postPostalArea",)),
        Field("postAddress.country", aliases=("postCountry",)),
    ),
    id_field="id",
    last_changed_field="updatedAt",
    aliases=("Company", "Companies"),
    required=("name",),
    qualifies_all=("organisation data", "organization data"),
)

ACTIVITIES = Datatype(
    system="crmoffice",
    name="activities",
    endpoint="activities",
    fields=(
        *_common(),
        Field("subject"),
        Field("ownerId"),
        Field("startsAt"),
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
