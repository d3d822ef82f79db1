"""Run settings: tenant, dry run, circuit breaker, full reads. Set per run in the launchpad,
by `talk-assets sync` flags, or from TALK_ASSETS_* environment variables."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field

from talk_assets.errors import env_int
from talk_assets.store.tenant import TenantStore, tenant_path


class SyncSettings(ConfigurableResource):
    tenant: str = Field(default="default", description="State file name under TALK_ASSETS_HOME.")
    home: str | None = Field(default=None, description="State folder; default TALK_ASSETS_HOME.")
    dry_run: bool = Field(default=False, description="Plan and report, write nothing (S12).")
    allow_mass_write: bool = Field(default=False, description="Override the circuit breaker.")
    mass_write_limit: int = Field(
        default_factory=lambda: env_int("TALK_ASSETS_MASS_WRITE_LIMIT", 1000),
        description="Most records one run may write to one datatype (S12 circuit breaker).",
    )
    full_read: bool = Field(
        default=False,
        description="Read every datatype in full (detects disappearances, S8) instead of since the cursor.",
    )
    retry_rejected: bool = Field(
        default=False,
        description=(
            "Plan even when nothing changed, so rows rejected before are planned and sent again "
            "(and logged again)."
        ),
    )
    max_reject_share: float = Field(
        default=0.2, description="Asset checks warn when rejects exceed this share of a flow."
    )

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Tag the run with the process that executes it, also when the webserver or the daemon
        launched it, so that a killed run can be told from a live one (dead_runs.py)."""
        from talk_assets.defs.dead_runs import tag_owner  # dead_runs imports the definitions

        if context.instance is not None and context.run is not None:
            tag_owner(context.instance, context.run)

    def store(self) -> TenantStore:
        return TenantStore(tenant_path(self.tenant, Path(self.home) if self.home else None))
