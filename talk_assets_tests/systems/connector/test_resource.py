"""The Dagster resources: configuration through EnvVar, use in a real materialization, and no
secret anywhere (logs at DEBUG, exceptions, reprs, Dagster events and run config)."""

import base64
import logging
from collections.abc import Iterator

import pytest
from dagster import AssetExecutionContext, EnvVar, asset, materialize

from talk_assets.systems.connector import AuthError, WriteOp, WriteRejected
from talk_assets.systems.connector.settings import ConfigError
from talk_assets.systems.crmoffice.client import CrmofficeClient
from talk_assets.systems.crmoffice.resource import CrmofficeResource
from talk_assets.systems.emulator import Emulators, running_emulators
from talk_assets.systems.powerofficego.client import PowerOfficeGoClient
from talk_assets.systems.powerofficego.resource import PowerOfficeGoResource
from talk_assets.systems.powerofficego.system import SPEC

DEFAULT_BASE_URL, DEFAULT_TOKEN_URL = SPEC.base_url, SPEC.token_url

SECRETS = {
    "POWEROFFICEGO_APPLICATION_KEY": "app-key-Zq81xw",
    "POWEROFFICEGO_CLIENT_KEY": "client-key-Pp02kd",
    "POWEROFFICEGO_SUBSCRIPTION_KEY": "sub-key-Lm93ja",
    "CRMOFFICE_CLIENT_ID": "crm-id-Vt44hs",
    "CRMOFFICE_CLIENT_SECRET": "crm-secret-Ye55ur",
}
WRONG = "wrong-secret-Qa66pl"
FAST = dict(requests_per_second=0, backoff_initial_seconds=0.01, backoff_max_seconds=0.1)


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulators]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in SECRETS.items():
            mp.setenv(name, value)  # the emulators accept exactly these credentials
        with running_emulators(seed=21, size=6, rate_limits=False) as emulators:
            yield emulators


@pytest.fixture
def env(emu: Emulators, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in emu.env.items():
        monkeypatch.setenv(name, value)
    return emu.env


def test_from_env_uses_envvar_for_set_variables_and_defaults_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (*SECRETS, "POWEROFFICEGO_BASE_URL", "POWEROFFICEGO_TOKEN_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POWEROFFICEGO_CLIENT_KEY", "k")
    resource = PowerOfficeGoResource.from_env(write_concurrency=2)
    assert resource.client_key == EnvVar("POWEROFFICEGO_CLIENT_KEY")
    assert resource.application_key == "demo-application-key"
    assert (resource.base_url, resource.token_url) == (DEFAULT_BASE_URL, DEFAULT_TOKEN_URL)
    assert resource.write_concurrency == 2
    client = PowerOfficeGoClient.from_env()
    assert (client.base_url, client.token_url) == (DEFAULT_BASE_URL, DEFAULT_TOKEN_URL)
    assert client.settings.requests_per_second == 10
    assert CrmofficeClient.from_env({}).settings.requests_per_second == 20
    assert (
        CrmofficeClient.from_env({}, requests_per_second=None).settings.requests_per_second is None
    )


def test_pace_is_a_setting_per_system(monkeypatch: pytest.MonkeyPatch) -> None:
    """`<SYSTEM>_REQUESTS_PER_SECOND` sets the client's pace (0 = off); the default is the
    system's own limit; a value that is not a pace is refused naming the variable."""
    monkeypatch.setenv("POWEROFFICEGO_REQUESTS_PER_SECOND", "4.5")
    monkeypatch.setenv("CRMOFFICE_REQUESTS_PER_SECOND", "0")
    assert PowerOfficeGoResource.from_env().requests_per_second == 4.5
    assert PowerOfficeGoClient.from_env().settings.requests_per_second == 4.5
    assert CrmofficeResource.from_env()._settings().requests_per_second is None
    assert CrmofficeClient.from_env().settings.requests_per_second is None
    monkeypatch.delenv("CRMOFFICE_REQUESTS_PER_SECOND")
    assert CrmofficeResource.from_env().requests_per_second == 20
    for bad in ("fast", "-1", "inf"):
        monkeypatch.setenv("POWEROFFICEGO_REQUESTS_PER_SECOND", bad)
        with pytest.raises(ConfigError, match=f"POWEROFFICEGO_REQUESTS_PER_SECOND .*{bad!r}"):
            PowerOfficeGoResource.from_env()


def test_resources_in_a_materialization(env: dict[str, str]) -> None:
    @asset
    def synced(
        context: AssetExecutionContext, pog: PowerOfficeGoResource, crm: CrmofficeResource
    ) -> int:
        customers = pog.read("customers")
        contacts = crm.read("contacts")
        assert pog.has_changes("customers", customers.cursor) is False
        person = customers.frame.row(0, named=True)
        results = crm.write_many_blocking(
            [
                WriteOp.insert(
                    "contacts",
                    {"givenName": person["FirstName"] or "N", "familyName": person["Name"]},
                    reference=f"pog-customer-{person['Id']}",
                )
            ]
        )
        assert results[0].ok
        pog.update("customers", person["Id"], {"PhoneNumber": "+47 22 00 00 00"})
        context.add_output_metadata(
            {"customers": customers.frame.height, "cursor": customers.cursor}
        )
        return contacts.frame.height + 1

    result = materialize(
        [synced],
        resources={
            "pog": PowerOfficeGoResource.from_env(**FAST),
            "crm": CrmofficeResource.from_env(**FAST),
        },
    )
    assert result.success
    assert result.output_for_node("synced") == 7
    text = repr(result.dagster_run.run_config) + "".join(repr(e) for e in result.all_events)
    assert_no_secret(text)


def assert_no_secret(text: str, extra: tuple[str, ...] = ()) -> None:
    basic = base64.b64encode(
        f"{SECRETS['POWEROFFICEGO_APPLICATION_KEY']}:{SECRETS['POWEROFFICEGO_CLIENT_KEY']}".encode()
    ).decode()
    for secret in (*SECRETS.values(), WRONG, basic, *extra):
        assert secret not in text, f"a secret leaked: ...{secret[-4:]}"


def test_no_secret_in_logs_errors_or_reprs(
    env: dict[str, str], emu: Emulators, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "talk_assets", "dagster"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    seen: list[str] = []
    pog = PowerOfficeGoClient.from_env(backoff_initial=0.01, backoff_max=0.05)
    crm = CrmofficeClient.from_env(backoff_initial=0.01, backoff_max=0.05)
    resources = [PowerOfficeGoResource.from_env(**FAST), CrmofficeResource.from_env(**FAST)]
    with pog, crm:
        pog.read("customers")
        crm.read("companies")
        # Faults: retries, lost answers, 401 on an invalidated token.
        emu.set_faults(0.4, ["500", "503", "drop", "drop_after"])
        try:
            results = pog.write_many_blocking(
                [
                    WriteOp.insert("customers", {"Name": f"S{i}"}, reference=f"s{i}")
                    for i in range(4)
                ]
            )
            results += crm.write_many_blocking(
                [
                    WriteOp.insert("activities", {"subject": f"S{i}"}, reference=f"s{i}")
                    for i in range(4)
                ]
            )
        finally:
            emu.set_faults(0)
        seen += [repr(r) for r in results]
        token = pog.transport.tokens._token
        tokens = (token.reveal(),) if token else ()
        pog.transport.tokens._token = None
        for client, bad in (
            (pog, {"Name": "X", "Number": "not a number"}),
            (crm, {"subject": "X", "startsAt": "never"}),
        ):
            name = "customers" if client is pog else "activities"
            with pytest.raises(WriteRejected) as rejected:
                client.insert(name, bad, reference="bad")
            seen += [str(rejected.value), repr(rejected.value), repr(rejected.value.__dict__)]
        seen += [repr(pog), str(pog), repr(crm), repr(pog.settings), repr(pog.transport.__dict__)]
        seen += [repr(r) for r in resources] + [str(r) for r in resources]
    for wrong in (
        PowerOfficeGoClient.from_env({**env, "POWEROFFICEGO_CLIENT_KEY": WRONG}),
        CrmofficeClient.from_env({**env, "CRMOFFICE_CLIENT_SECRET": WRONG}),
    ):
        with wrong, pytest.raises(AuthError) as refused:
            wrong.read("customers" if isinstance(wrong, PowerOfficeGoClient) else "contacts")
        seen += [str(refused.value), repr(refused.value), repr(wrong)]
    logged = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert "POST /OAuth/Token" in logged and "retry" in logged  # DEBUG logging was on
    assert_no_secret(logged + "\n".join(seen), tokens)
