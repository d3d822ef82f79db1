"""PowerOffice Go v2 datatypes (see shared/design/SYSTEMS.md), with the older camelCase names
the Sesam Talk documents use as aliases."""

from __future__ import annotations

from talk_assets.systems.schema import Datatype, Field, System

F = Field


def _common() -> tuple[Field, ...]:
    return (
        F("Id", "integer", read_only=True, identity=True, aliases=("id",)),
        F("LastChangedDateTimeOffset", "datetime", read_only=True, aliases=("lastChanged",)),
    )


def _mail_address(with_id: bool, line2: bool) -> tuple[Field, ...]:
    fields = [
        F("MailAddress.AddressLine1", aliases=("addressLine1", "streetAddress")),
        F("MailAddress.City", aliases=("city",)),
        F("MailAddress.CountryCode", aliases=("countryCode", "residenceCountryCode")),
        F("MailAddress.ZipCode", aliases=("zipCode",)),
    ]
    if line2:
        fields.insert(1, F("MailAddress.AddressLine2", aliases=("addressLine2",)))
    if with_id:
        fields.insert(0, F("MailAddress.Id", "integer", read_only=True, aliases=("addressId",)))
    return tuple(fields)


def _party(name: str, endpoint: str, aliases: tuple[str, ...]) -> Datatype:
    return Datatype(
        system="powerofficego",
        name=name,
        endpoint=endpoint,
        fields=(
            *_common(),
            F("Number", "integer"),
            F("Name"),
            F("IsPerson", "boolean"),
            F("FirstName"),
            F("LastName"),
            F("DateOfBirth", "date"),
            F("EmailAddress", aliases=("email",)),
            F("PhoneNumber"),
            F("OrganizationNumber"),
            F("ExternalImportReference"),
            *_mail_address(with_id=True, line2=True),
        ),
        id_field="Id",
        last_changed_field="LastChangedDateTimeOffset",
        aliases=aliases,
        filters={"person": ("IsPerson", True)},
    )


CUSTOMERS = _party("customers", "Customers", ("Customer", "Customers"))
SUPPLIERS = _party("suppliers", "Suppliers", ("Supplier", "Suppliers"))

CONTACT_PERSONS = Datatype(
    system="powerofficego",
    name="contactpersons",
    endpoint="ContactPersons",
    fields=(
        *_common(),
        F("ContactId", "integer", aliases=("contactId",)),
        F("FirstName"),
        F("LastName"),
        F("EmailAddress", aliases=("email",)),
        F("PhoneNumber"),
        F("DateOfBirth", "date"),
        F("Title"),
        F("ExternalCode"),
        *_mail_address(with_id=False, line2=False),
    ),
    id_field="Id",
    last_changed_field="LastChangedDateTimeOffset",
    aliases=(
        "Contactperson",
        "Contactpersons",
        "ContactPerson",
        "ContactPersons",
        "Contact person",
    ),
    required=("FirstName", "LastName"),
    parent="ContactId",
    parent_datatypes=("customers", "suppliers"),
)

EMPLOYEES = Datatype(
    system="powerofficego",
    name="employees",
    endpoint="Employees",
    fields=(
        *_common(),
        F("Number", "integer"),
        F("FirstName"),
        F("LastName"),
        F("EmailAddress", aliases=("email",)),
        F("PhoneNumber"),
        F("DateOfBirth", "date"),
        F("JobTitle"),
        F("StartDate", "date"),
    ),
    id_field="Id",
    last_changed_field="LastChangedDateTimeOffset",
    aliases=("Employee", "Employees"),
    required=("FirstName", "LastName"),
)

PRODUCTS = Datatype(
    system="powerofficego",
    name="products",
    endpoint="Products",
    fields=(
        *_common(),
        F("Code"),
        F("Name"),
        F("Description"),
        F("UnitPrice", "number"),
        F("IsArchived", "boolean"),
    ),
    id_field="Id",
    last_changed_field="LastChangedDateTimeOffset",
    aliases=("Product", "Products"),
    required=("Name",),
)

PROJECTS = Datatype(
    system="powerofficego",
    name="projects",
    endpoint="Projects",
    fields=(
        *_common(),
        F("Code"),
        F("Name"),
        F("ProjectManagerEmployeeId", "integer"),
        F("StartDate", "date"),
        F("EndDate", "date"),
        F("CustomerId", "integer"),
        F("IsActive", "boolean"),
    ),
    id_field="Id",
    last_changed_field="LastChangedDateTimeOffset",
    aliases=("Project", "Projects"),
    required=("Name",),
)

ADDRESSES = Datatype(
    system="powerofficego",
    name="addresses",
    endpoint=None,
    fields=(
        F("Id", "integer", read_only=True, identity=True, aliases=("id",)),
        F("LastChangedDateTimeOffset", "datetime", read_only=True, aliases=("lastChanged",)),
        F("OwnerId", "integer", read_only=True, aliases=("supplierId", "ownerId")),
        F("AddressLine1", aliases=("addressLine1", "streetAddress")),
        F("AddressLine2", aliases=("addressLine2",)),
        F("City", aliases=("city",)),
        F("CountryCode", aliases=("countryCode", "residenceCountryCode")),
        F("ZipCode", aliases=("zipCode",)),
    ),
    id_field="Id",
    last_changed_field="LastChangedDateTimeOffset",
    aliases=("Address", "Addresses", "MailAddress"),
    parent="OwnerId",
    parent_datatypes=("suppliers",),
    derived_from=("suppliers",),
    embedded_as="MailAddress",
)

POWEROFFICEGO = System(
    name="powerofficego",
    title="Powerofficego",
    datatypes=(CUSTOMERS, SUPPLIERS, CONTACT_PERSONS, EMPLOYEES, PRODUCTS, PROJECTS, ADDRESSES),
    aliases=("poweroffice", "powerofficegov2", "poweroffice go"),
)
