"""PowerOffice Go v2, as the product knows it: everything about the system in one `SystemSpec`."""

from talk_assets.systems.powerofficego.schema import POWEROFFICEGO
from talk_assets.systems.spec import SystemSpec

PACKAGE = "talk_assets.systems.powerofficego"

SPEC = SystemSpec(
    schema=POWEROFFICEGO,
    client=f"{PACKAGE}.client:PowerOfficeGoClient",
    resource=f"{PACKAGE}.resource:PowerOfficeGoResource",
    emulator=f"{PACKAGE}.emulator:PowerofficegoEmulator",
    sample=f"{PACKAGE}.sample_data:sample",
    base_url="https://goapi.poweroffice.net/v2",
    token_url="https://goapi.poweroffice.net/OAuth/Token",
    credentials={
        "application_key": "demo-application-key",
        "client_key": "demo-client-key",
        "subscription_key": "demo-subscription-key",
    },
    emulator_base_path="/v2",
    emulator_token_path="/OAuth/Token",
    default_port=8701,
    requests_per_second=10.0,
    page_size=5000,
    token_ttl=1200.0,
)
