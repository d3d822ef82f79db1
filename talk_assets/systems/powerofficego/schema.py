"""PowerOffice Go v2 datatypes (see shared/design/SYSTEMS.md), with the older camelCase names
the Sesam Talk documents use as aliases."""

from __future__ import annotations

from talk_assets.systems.schema import Datatype, Field, System


def _common() -> tuple[Field, ...]:
    return (
        Field("Id", "integer", read_only=True, identity=True, aliases=("id",)),
        Field("LastChangedDateTimeOffset", "datetime", read_only=True, aliases=("lastChanged",)),
    )


def _mail_address(with_id: bool, line2: bool) -> tuple[Field, ...]:
    fields = [
        Field("MailAddress.AddressLine1", aliases=("addressLine1", "streetAddress")),
        Field("MailAddress.City", aliases=("city",)),
        Field("MailAddress.CountryCode", aliases=("countryCode", "residenceCountryCode")),
        Field("MailAddress.ZipCode", aliases=("zipCode",)),
    ]
    if line2:
        fields.insert(1, Field("MailAddress.AddressLine2", aliases=("addressLine2",)))
    if with_id:
        fields.insert(0, Field("MailAddress.Id", "integer", read_only=True, aliases=("addressId",)))
    return tuple(fields)


def _party(name: str, endpoint: str, aliases: tuple[str, ...]) -> Datatype:
    return Datatype(
        system="powerofficego",
        name=name,
        endpoint=endpoint,
        fields=(
            *_common(),
            Field("Number", "integer"),
            Field("Name"),
            Field("IsPerson", "boolean"),
            Field("FirstName"),
            Field("LastName"),
            Field("DateOfBirth", "date"),
            Field("EmailAddress", aliases=("email",)),
            Field("PhoneNumber"),
            Field("OrganizationNumber"),
            Field("ExternalImportReference"),
            *_mail_address(with_id=True, line2=True),
        ),
        id_field="Id",
        last_changed_field="LastChangedDateTimeOffset",
        aliases=aliases,
        filters={
            "person": ("IsPerson", True),
            "human data": ("IsPerson", True),
            "organisation data": ("IsPerson", False),
            "organization data": ("IsPerson", False),
        },
    )


CUSTOMERS = _party("customers", "Customers", ("Customer", "Customers"))
SUPPLIERS = _party("suppliers", "Suppliers", ("Supplier", "Suppliers"))

CONTACT_PERSONS = Datatype(
    system="powerofficego",
    name="contactpersons",
    endpoint="ContactPersons",
    fields=(
        *_common(),
        Field("ContactId", "integer", aliases=("contactId",)),
        Field("FirstName"),
        Field("LastName"),
        Field("EmailAddress", aliases=("email",)),
        Field("PhoneNumber"),
        Field("Title"),
        Field("ExternalCode"),
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
    not_in_api=(
        Field(
            "DateOfBirth",
            "date",
            aliases=("dateOfBirth",),
            not_in_api="PowerOffice GO's ContactPersonDto has no DateOfBirth",
        ),
    ),
)

EMPLOYEES = Datatype(
    system="powerofficego",
    name="employees",
    endpoint="Employees",
    fields=(
        *_common(),
        Field("Number", "integer"),
        Field("FirstName"),
        Field("LastName"),
        Field("EmailAddress", aliases=("email",)),
        Field("PhoneNumber"),
        Field("DateOfBirth", "date"),
        Field("JobTitle"),
        Field("StartDate", "date"),
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
        Field("Code"),
        Field("Name"),
        Field("Description"),
        Field("UnitPrice", "number"),
        Field("IsArchived", "boolean"),
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
        Field("Code"),
        Field("Name"),
        Field("ProjectManagerEmployeeId", "integer"),
        Field("StartDate", "date"),
        Field("EndDate", "date"),
        Field("CustomerId", "integer"),
        Field("IsActive", "boolean"),
    ),
    id_field="Id",
    last_changed_field="LastChangedDateTimeOffset",
    aliases=("Project", "Projects"),
    required=("Name",),
)

TIME_TRACKING_ACTIVITIES = Datatype(
    system="powerofficego",
    name="timetrackingactivities",
    endpoint="TimeTracking/Activities",
    fields=(
        *_common(),
        Field("Code"),
        Field("Name"),
        Field("IsActive", "boolean", aliases=("active",)),
    ),
    id_field="Id",
    last_changed_field="LastChangedDateTimeOffset",
    aliases=(
        "Timetrackingactivity",
        "Timetrackingactivities",
        "TimeTrackingActivity",
        "TimeTrackingActivities",
        "Time tracking activity",
        "Time tracking activities",
    ),
    required=("Name",),
)

PROJECT_ACTIVITIES = Datatype(
    system="powerofficego",
    name="projectactivities",
    endpoint="ProjectActivities",
    fields=(
        *_common(),
        Field("ProjectId", "integer"),
        Field("Code"),
        Field("Name"),
        Field("IsActive", "boolean", aliases=("active",)),
    ),
    id_field="Id",
    last_changed_field="LastChangedDateTimeOffset",
    aliases=(
        "Projectactivity",
        "Projectactivities",
        "ProjectActivity",
        "ProjectActivities",
        "Project activity",
        "Project activities",
    ),
    required=("ProjectId", "Name"),
)

ADDRESSES = Datatype(
    system="powerofficego",
    name="addresses",
    endpoint=None,
    fields=(
        Field("Id", "integer", read_only=True, identity=True, aliases=("id",)),
        Field("LastChangedDateTimeOffset", "datetime", read_only=True, aliases=("lastChanged",)),
        Field("OwnerId", "integer", read_only=True, aliases=("supplierId", "ownerId")),
        Field("AddressLine1", aliases=("addressLine1", "streetAddress")),
        Field("AddressLine2", aliases=("addressLine2",)),
        Field("City", aliases=("city",)),
        Field("CountryCode", aliases=("countryCode", "residenceCountryCode")),
        Field("ZipCode", aliases=("zipCode",)),
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
    datatypes=(
        CUSTOMERS,
        SUPPLIERS,
        CONTACT_PERSONS,
        EMPLOYEES,
        PRODUCTS,
        PROJECTS,
        TIME_TRACKING_ACTIVITIES,
        PROJECT_ACTIVITIES,
        ADDRESSES,
    ),
    aliases=("poweroffice", "powerofficegov2", "poweroffice go"),
)
