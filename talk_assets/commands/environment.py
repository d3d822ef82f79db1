"""Configuration from the environment and an optional `.env` file (SYSTEMS.md), checked before
any request: URLs, numbers, folders and credentials, each problem naming its variable.

A real endpoint (any URL off loopback, the defaults included) never gets the emulator's demo
credentials: without its credentials a system's real service is refused here, and once more by
the connector before its first request (`connector/endpoints.py`).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from talk_assets.errors import ConfigError, number_problem

NUMBERS: dict[str, tuple[bool, float]] = {
    "TALK_ASSETS_MASS_WRITE_LIMIT": (True, 0),
    "TALK_ASSETS_LOCK_WAIT": (False, 0),
    "TALK_ASSETS_SENSOR_SECONDS": (True, 1),
}
"""Numeric variables: (whole number?, minimum)."""
FOLDERS = ("TALK_ASSETS_HOME", "DAGSTER_HOME")


def env_file() -> tuple[Path, bool]:
    """The `.env` file to read, and whether it was named (TALK_ASSETS_ENV_FILE)."""
    named = os.environ.get("TALK_ASSETS_ENV_FILE")
    return Path(named or ".env"), bool(named)


def load_environment() -> None:
    """Read `.env` (if present; real environment variables win) and quiet Dagster's chatter.

    A named file (TALK_ASSETS_ENV_FILE) that does not exist, or a line of the file that is no
    `NAME=value`, is a `ConfigError` naming the file and line.
    """
    from dotenv import load_dotenv
    from dotenv.parser import parse_stream

    path, named = env_file()
    if named and not path.exists():
        raise ConfigError(f"TALK_ASSETS_ENV_FILE names {path}, which does not exist")
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the env file {path}: {exc}") from None
        bad = [b.original for b in parse_stream(io.StringIO(text)) if b.error]
        if bad:
            raise ConfigError(
                [
                    f"{path}:{o.line}: cannot parse {o.string.strip()[:80]!r}: write NAME=value "
                    "(quote values with spaces, close every quote)"
                    for o in bad
                ],
                what="env file error",
            )
        load_dotenv(path, override=False)
    logging.getLogger("dagster").setLevel(logging.WARNING)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")


def system_problems(
    specs: Iterable | None = None, env: Mapping[str, str] | None = None
) -> list[str]:
    """URL and credential problems of every registered system (or `specs`)."""
    from talk_assets.systems import registry
    from talk_assets.systems.connector.endpoints import credential_problem, url_problem
    from talk_assets.systems.connector.settings import pace_problem

    env = os.environ if env is None else env
    problems: list[str] = []
    for spec in registry.specs() if specs is None else specs:
        urls = {
            arg: env.get(spec.env_var(arg)) or default
            for arg, default in (("base_url", spec.base_url), ("token_url", spec.token_url))
        }
        bad_urls = [url_problem(spec.env_var(arg), url) for arg, url in urls.items()]
        problems += [p for p in bad_urls if p]
        pace = pace_problem(spec.env_var("requests_per_second"), env)
        if pace:
            problems.append(pace)
        if not any(bad_urls):
            creds = {arg: env.get(spec.env_var(arg)) for arg in spec.credentials}
            problem = credential_problem(spec, urls, creds)
            if problem:
                problems.append(problem)
    return problems


def setting_problems() -> list[str]:
    """Numbers and folders."""
    problems = [
        p
        for name, (whole, minimum) in NUMBERS.items()
        if (p := number_problem(name, whole=whole, minimum=minimum))
    ]
    for name in FOLDERS:
        value = os.environ.get(name)
        if value and Path(value).exists() and not Path(value).is_dir():
            problems.append(f"{name}={value!r} is a file, not a folder")
    return problems


def require_configuration(*, systems: bool = True) -> None:
    """`ConfigError` listing every problem of the configuration; nothing is sent before."""
    problems = setting_problems() + (system_problems() if systems else [])
    if problems:
        raise ConfigError(problems)
