"""`talk-assets check`: test the configuration and the connection, like a "test connection".

Per system: its configuration, a token (the credentials), read access per datatype (one small
GET each, through the connector) and the rate-limit headroom (from the answers' headers when
the API sends them, else the connector's configured pace). Then the tenant's state file: it
opens read-only, its tables, the newest run. Writes nothing. Prints a table of checks; exits 1
when one failed.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from talk_assets.commands.environment import load_environment, setting_problems, system_problems

OK, FAILED, SKIPPED = "ok", "FAILED", "skipped"
RATE_HEADERS = (
    ("x-ratelimit-remaining", "x-ratelimit-limit"),
    ("ratelimit-remaining", "ratelimit-limit"),
    ("x-rate-limit-remaining", "x-rate-limit-limit"),
)


@dataclass
class Check:
    name: str
    result: str
    detail: str


def check_command(args: argparse.Namespace) -> int:
    load_environment()
    from talk_assets.systems import registry

    checks: list[Check] = []
    problems = setting_problems()
    checks.append(
        Check("settings", FAILED if problems else OK, "; ".join(problems) or "numbers and folders")
    )
    for spec in registry.specs():
        checks += system_checks(spec)
    checks += state_checks(args.tenant)
    print(table(checks))
    failed = [c for c in checks if c.result == FAILED]
    print(f"\n{len(failed)} of {len(checks)} checks failed" if failed else "\nall checks passed")
    return 1 if failed else 0


def system_checks(spec) -> list[Check]:
    from talk_assets.systems.connector import ConnectorError

    name = spec.name
    problems = system_problems([spec])
    client_class = spec.client_class
    if problems:
        return [
            Check(f"{name} configuration", FAILED, "; ".join(problems)),
            Check(f"{name} connection", SKIPPED, "fix the configuration first"),
        ]
    # few, quick retries: a check answers in seconds
    client = client_class.from_env(max_attempts=2, max_retry_seconds=5.0, timeout=10.0)
    out = [Check(f"{name} configuration", OK, f"API {client.base_url}")]
    with client:
        started = time.monotonic()
        try:
            client.fetch_token()
        except ConnectorError as exc:
            out.append(Check(f"{name} token", FAILED, f"{exc}; {fix_of(spec, exc)}"))
            return out
        out.append(Check(f"{name} token", OK, f"in {time.monotonic() - started:.2f} s"))
        for dt in spec.schema.datatypes:
            if dt.endpoint is None:
                continue
            started = time.monotonic()
            try:
                client.probe(dt)
            except ConnectorError as exc:
                out.append(Check(f"{name}.{dt.name} read", FAILED, str(exc)))
                continue
            out.append(
                Check(f"{name}.{dt.name} read", OK, f"in {time.monotonic() - started:.2f} s")
            )
        out.append(Check(f"{name} rate limit", OK, headroom(client)))
    return out


def fix_of(spec, exc: Exception) -> str:
    from talk_assets.systems.connector import AuthError

    if isinstance(exc, AuthError):
        return "check " + ", ".join(spec.env_var(a) for a in spec.credentials)
    urls = f"{spec.env_var('base_url')} and {spec.env_var('token_url')}"
    return f"check {urls}, and that {spec.title} is up there"


def headroom(client) -> str:
    """Rate-limit headroom from the latest answer's headers, else the configured pace."""
    headers = client.transport.paced.last_headers
    if headers is not None:
        for remaining, limit in RATE_HEADERS:
            if remaining in headers:
                of = f" of {headers[limit]}" if limit in headers else ""
                return f"{headers[remaining]}{of} requests left in the window (from the API)"
    rps = client.settings.requests_per_second
    pace = f"{rps:g} requests/s" if rps else "no pacing"
    return (
        f"the API sends no rate-limit headers; the connector paces at {pace} "
        f"(declared limit {client.spec.requests_per_second:g}/s); "
        f"429s seen: {client.transport.statuses.get(429, 0)}"
    )


def state_checks(tenant: str) -> list[Check]:
    import duckdb

    from talk_assets.store.tenant import STATE_SCHEMA, StateLocked, TenantStore, tenant_path

    path = tenant_path(tenant)
    name = f"state {tenant}"
    if not path.exists():
        return [Check(name, OK, f"no state yet at {path}: the first sync creates it")]
    store = TenantStore(path).read_only(lock_timeout=5.0)
    try:
        with store.connect() as con:
            rows = con.execute(
                "select schema_name, count(*) from duckdb_tables() group by 1 order by 1"
            ).fetchall()
            newest = None
            if store.has_table(con, STATE_SCHEMA, "sync_log"):
                newest = con.execute(
                    f"select run_id, max(time) as t from {STATE_SCHEMA}.sync_log "
                    "group by run_id order by t desc limit 1"
                ).fetchone()
    except StateLocked:
        return [Check(name, OK, f"{path} is held by a running sync right now")]
    except (duckdb.Error, OSError) as exc:
        return [Check(name, FAILED, f"{path} does not open read-only: {exc}")]
    tables = ", ".join(f"{schema}: {n} tables" for schema, n in rows) or "no tables"
    run = (
        f"latest run with writes {newest[0][:8]} at {newest[1]:%Y-%m-%d %H:%M:%S}"
        if newest
        else "no writes yet"
    )
    return [Check(name, OK, f"{path} opens read-only; {tables}; {run}")]


def table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'check'.ljust(width)}  result   detail", f"{'-' * width}  -------  ------"]
    lines += [f"{c.name.ljust(width)}  {c.result.ljust(7)}  {c.detail}" for c in checks]
    return "\n".join(lines)
