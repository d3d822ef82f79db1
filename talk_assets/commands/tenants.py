"""Which tenant a reading command means, and its state file opened read-only.

`--tenant` wins, else `TALK_ASSETS_TENANT`, else `default`. An unknown tenant is an error that
names the tenants that do exist, never an empty answer.
"""

from __future__ import annotations

import os

from talk_assets.errors import UserError
from talk_assets.store.tenant import TenantStore, home, tenant_path


def tenant_name(arg: str | None) -> str:
    return arg or os.environ.get("TALK_ASSETS_TENANT") or "default"


def known_tenants() -> list[str]:
    folder = home()
    return sorted(p.stem for p in folder.glob("*.duckdb")) if folder.is_dir() else []


def read_state(tenant: str, lock_timeout: float = 5.0) -> TenantStore:
    """The tenant's state, read-only (a short lock wait: it never holds up a sync)."""
    try:
        path = tenant_path(tenant)
    except ValueError as exc:
        raise UserError(str(exc), exit_code=2) from None
    if not path.exists():
        others = known_tenants()
        raise UserError(
            f"unknown tenant {tenant!r}: no state file {path}",
            fix=(
                f"tenants in {home()}: {', '.join(others)}"
                if others
                else "run `talk-assets sync` first, or set TALK_ASSETS_HOME to the state folder"
            ),
        )
    return TenantStore(path).read_only(lock_timeout=lock_timeout)
