"""Crmoffice, as the product knows it: everything about the system in one `SystemSpec`."""

from talk_assets.systems.crmoffice.schema import CRMOFFICE
from talk_assets.systems.spec import SystemSpec

PACKAGE = "talk_assets.systems.crmoffice"
MAX_LIMIT = 1000
"""Records per list request the API allows."""

SPEC = SystemSpec(
    schema=CRMOFFICE,
    client=f"{PACKAGE}.client:CrmofficeClient",
    resource=f"{PACKAGE}.resource:CrmofficeResource",
    emulator=f"{PACKAGE}.emulator:CrmofficeEmulator",
    sample=f"{PACKAGE}.sample_data:sample",
    base_url="https://api.crmoffice.no/",
    token_url="https://api.crmoffice.no/connect/token",
    credentials={"client_id": "demo-client-id", "client_secret": "demo-client-secret"},
    emulator_base_path="",
    emulator_token_path="/connect/token",
    default_port=8702,
    requests_per_second=20.0,
    page_size=MAX_LIMIT,
    token_ttl=3600.0,
)
