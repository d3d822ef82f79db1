"""Configuration is checked before any request: URLs, numbers, folders, `.env` lines and
credentials; a real endpoint never gets the emulator's demo credentials; errors that retrying
cannot fix fail at once. Nothing here leaves loopback: a guard fails the test on any connect."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from talk_assets.cli import main
from talk_assets.commands.environment import load_environment, require_configuration
from talk_assets.errors import ConfigError
from talk_assets.systems import registry
from talk_assets.systems.connector import ConfigurationError, SystemUnavailable
from talk_assets.systems.connector.endpoints import is_loopback, url_problem
from talk_assets.systems.connector.settings import HttpSettings
from talk_assets.systems.crmoffice.client import CrmofficeClient
from talk_assets.systems.powerofficego.client import PowerOfficeGoClient

SYSTEM_VARS = [spec.env_var(arg) for spec in registry.specs() for arg in spec.env_config]


@pytest.fixture
def no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in SYSTEM_VARS:
        monkeypatch.delenv(name, raising=False)
    for name in ("TALK_ASSETS_MASS_WRITE_LIMIT", "TALK_ASSETS_LOCK_WAIT", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TALK_ASSETS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TALK_ASSETS_ENV_FILE", os.devnull)
    return tmp_path


@pytest.fixture
def no_connect(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Fails the test on any outgoing connection (and records the attempt)."""
    attempts: list[object] = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise AssertionError(f"a connection was attempted: {address}")

    def refuse_dns(host, *args, **kwargs):
        attempts.append(host)
        raise AssertionError(f"a name lookup was attempted: {host}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse_dns)
    monkeypatch.setattr(socket, "create_connection", refuse_dns)
    return attempts


def cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "talk_assets.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SYSTEM_VARS}
    env.pop("TALK_ASSETS_MASS_WRITE_LIMIT", None)
    return {
        **env,
        "TALK_ASSETS_HOME": str(tmp_path / "home"),
        "TALK_ASSETS_ENV_FILE": os.devnull,
        **extra,
    }


def test_without_configuration_sync_refuses_before_any_request(no_config, no_connect, capsys):
    assert main(["sync"]) == 2
    err = capsys.readouterr().err
    assert no_connect == []
    assert "https://goapi.poweroffice.net/v2 is a real service" in err
    for name in ("POWEROFFICEGO_CLIENT_KEY", "CRMOFFICE_CLIENT_SECRET", "CRMOFFICE_BASE_URL"):
        assert name in err
    assert "talk-assets emulate" in err
    assert "Traceback" not in err
    assert len(err.splitlines()) <= 4


def test_the_connector_never_sends_demo_credentials_to_a_real_endpoint(no_config, no_connect):
    for client in (
        PowerOfficeGoClient.from_env({}),  # the real service's URLs, the demo credentials
        CrmofficeClient(client_id="demo-client-id", client_secret="demo-client-secret"),
        CrmofficeClient(base_url="https://crm.example.com", token_url="http://127.0.0.1:9/t"),
    ):
        with client, pytest.raises(ConfigurationError, match="real service") as info:
            client.read(next(dt for dt in client.system.datatypes if dt.endpoint))
        assert "demo" not in str(info.value).replace("demo credentials", "")
    assert no_connect == []


def test_loopback_urls_take_the_demo_credentials(no_config):
    client = CrmofficeClient(base_url="http://127.0.0.1:9", token_url="http://localhost:9/t")
    client._check_endpoints()  # no error: the emulator may get the demo credentials
    assert is_loopback("http://[::1]:8701/v2") and is_loopback("http://127.0.0.2/")
    assert not is_loopback("https://goapi.poweroffice.net/v2")
    assert not is_loopback("http://localhost.example.com/")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("localhost:8701", "X='localhost:8701' has no scheme: write http://localhost:8701"),
        ("ftp://h/x", "the scheme must be http or https"),
        ("http:///v2", "has no host"),
        ("http://h:99999/", "out of range"),
        ("", "X is empty"),
    ],
)
def test_url_problems_say_what_to_write(value, message):
    assert message in (url_problem("X", value) or "")
    assert url_problem("X", "https://api.example.com/v2") is None


def test_numbers_and_urls_are_checked_in_a_subprocess_without_traceback(tmp_path):
    started = time.monotonic()
    proc = cli(
        "sync",
        env=clean_env(
            tmp_path,
            TALK_ASSETS_MASS_WRITE_LIMIT="abc",
            POWEROFFICEGO_BASE_URL="localhost:8701",
        ),
    )
    assert proc.returncode == 2
    assert "TALK_ASSETS_MASS_WRITE_LIMIT must be a whole number, got 'abc'" in proc.stderr
    assert "POWEROFFICEGO_BASE_URL='localhost:8701' has no scheme: write http://localhost:8701" in (
        proc.stderr
    )
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - started < 20


def test_env_file_errors_name_the_file_and_line(no_config, tmp_path, monkeypatch):
    env = tmp_path / "bad.env"
    env.write_text("GOOD=1\n# a comment\nthis line is no assignment\n")
    monkeypatch.setenv("TALK_ASSETS_ENV_FILE", str(env))
    with pytest.raises(ConfigError) as info:
        load_environment()
    assert f"{env}:3: cannot parse 'this line is no assignment'" in str(info.value)

    monkeypatch.setenv("TALK_ASSETS_ENV_FILE", str(tmp_path / "missing.env"))
    with pytest.raises(ConfigError, match=r"missing\.env, which does not exist"):
        load_environment()


def test_a_folder_that_is_a_file_and_a_negative_wait_are_errors(no_config, tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("TALK_ASSETS_HOME", str(tmp_path / "afile"))
    monkeypatch.setenv("TALK_ASSETS_LOCK_WAIT", "-1")
    with pytest.raises(ConfigError) as info:
        require_configuration(systems=False)
    assert "TALK_ASSETS_HOME=" in str(info.value) and "is a file, not a folder" in str(info.value)
    assert "TALK_ASSETS_LOCK_WAIT must be at least 0, got '-1'" in str(info.value)


FAST = HttpSettings(max_attempts=6, max_retry_seconds=60, backoff_initial=0.5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_port_on_first_contact_fails_at_once():
    port = free_port()  # nothing listens there
    client = CrmofficeClient(
        base_url=f"http://127.0.0.1:{port}",
        token_url=f"http://127.0.0.1:{port}/connect/token",
        settings=FAST,
    )
    started = time.monotonic()
    with client, pytest.raises(SystemUnavailable, match="first contact"):
        client.read("contacts")
    assert time.monotonic() - started < 2  # no backoff: 0.5 + 1 + 2 + ... would take 15 s


def test_an_unknown_host_and_an_unsupported_scheme_are_not_retried():
    for error in (
        httpx.ConnectError("[Errno -2] Name or service not known"),
        httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'."),
    ):
        calls = 0

        def handler(request: httpx.Request, error=error) -> httpx.Response:
            nonlocal calls
            calls += 1
            raise error

        client = CrmofficeClient(
            base_url="http://crm.test/",
            token_url="http://crm.test/connect/token",
            settings=FAST,
            http_transport=httpx.MockTransport(handler),
        )
        with client, pytest.raises(SystemUnavailable):
            client.read("contacts")
        assert calls == 1


def test_a_refused_connection_after_first_contact_is_retried():
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if request.url.path.endswith("/connect/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        if calls < 3:
            raise httpx.ConnectError("[Errno 111] Connection refused")
        return httpx.Response(200, json={"items": [], "nextCursor": None})

    client = CrmofficeClient(
        base_url="http://crm.test/",
        token_url="http://crm.test/connect/token",
        settings=HttpSettings(backoff_initial=0.01, backoff_max=0.02),
        http_transport=httpx.MockTransport(handler),
    )
    with client:
        assert client.read("contacts").frame.height == 0
    assert calls == 3  # token, refused (retried), answered
