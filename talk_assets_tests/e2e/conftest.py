"""End-to-end fixtures: real emulators on loopback, a real DuckDB file, real Dagster runs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance

from talk_assets.defs.runner import RunReport, run_sync
from talk_assets.defs.settings import SyncSettings
from talk_assets.flows.model import Flow
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore, tenant_path
from talk_assets.systems.crmoffice.resource import CrmofficeResource
from talk_assets.systems.emulator import Emulators, running_emulators
from talk_assets.systems.powerofficego.resource import PowerOfficeGoResource

SEED, SIZE = 11, 10


@pytest.fixture(scope="module")
def emulators(request: pytest.FixtureRequest) -> Iterator[Emulators]:
    """Both emulators for the module: sample data from its `EMULATOR_DATA` (seed and size), by
    default SEED and SIZE."""
    data = getattr(request.module, "EMULATOR_DATA", {"seed": SEED, "size": SIZE})
    with running_emulators(**data, rate_limits=False) as emu:
        yield emu


@dataclass
class World:
    """One tenant's sync against the emulators, as a user would drive it."""

    emu: Emulators
    home: Path
    flows: Sequence[Flow] | None = None
    instance: DagsterInstance = field(default_factory=DagsterInstance.ephemeral)
    runs: list[RunReport] = field(default_factory=list)

    def settings(self, **overrides) -> SyncSettings:
        return SyncSettings(home=str(self.home), **overrides)

    def resources(self) -> dict:
        fast = {
            "requests_per_second": 0,
            "backoff_initial_seconds": 0.01,
            "backoff_max_seconds": 0.05,
        }
        return {
            "powerofficego": PowerOfficeGoResource.from_env(**fast),
            "crmoffice": CrmofficeResource.from_env(**fast),
        }

    def sync(self, **settings) -> RunReport:
        rep = run_sync(
            self.settings(**settings),
            instance=self.instance,
            resources=self.resources(),
            flows=self.flows,
        )
        self.runs.append(rep)
        return rep

    def settle(self, max_runs: int = 5) -> RunReport:
        """Sync until a run writes nothing (values may need a run per hop through new records)."""
        for _ in range(max_runs):
            rep = self.sync()
            assert rep.success, rep.error
            if rep.writes == 0:
                return rep
        raise AssertionError(f"no steady state after {max_runs} runs")

    @property
    def store(self) -> TenantStore:
        return TenantStore(tenant_path("default", self.home))

    def table(self, schema: str, name: str) -> pl.DataFrame:
        frame = self.store.read_table(schema, name)
        assert frame is not None, f"no table {schema}.{name}"
        return frame

    def state(self, name: str) -> pl.DataFrame:
        return self.table(STATE_SCHEMA, name)

    def clusters(self) -> pl.DataFrame:
        return self.table("talk", "clusters")

    def write_requests(self) -> int:
        return self.emu.write_requests()

    def requests(self, method: str) -> list[dict]:
        return [
            row
            for handle in (self.emu.powerofficego, self.emu.crmoffice)
            for row in handle.stats()["requests"]
            if row["method"] == method
        ]

    def po(self, path: str) -> list[dict]:
        with self.emu.powerofficego.client() as c:
            return c.get(path).raise_for_status().json()

    def crm(self, path: str) -> list[dict]:
        with self.emu.crmoffice.client() as c:
            out, cursor = [], None
            for _ in range(1000):
                params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
                page = c.get(path, params=params).raise_for_status().json()
                out += page["items"]
                cursor = page.get("nextCursor")
                if not cursor:
                    return out
            raise AssertionError("endless paging")

    def po_patch(self, path: str, **values) -> dict:
        ops = [
            {"op": "replace", "path": "/" + k.replace(".", "/"), "value": v}
            for k, v in values.items()
        ]
        with self.emu.powerofficego.client() as c:
            return (
                c.patch(path, json=ops, headers={"Content-Type": "application/json-patch+json"})
                .raise_for_status()
                .json()
            )

    def crm_patch(self, path: str, **values) -> dict:
        with self.emu.crmoffice.client() as c:
            return (
                c.patch(path, json=values, headers={"Content-Type": "application/merge-patch+json"})
                .raise_for_status()
                .json()
            )

    def partners(self, record: str, datatype: str) -> list[str]:
        """Records of `datatype` in the cluster of `record`."""
        cl = self.clusters()
        cluster = cl.filter(pl.col("record") == record)["cluster"]
        assert cluster.len() == 1, f"{record} is in {cluster.len()} clusters"
        return cl.filter((pl.col("cluster") == cluster[0]) & (pl.col("datatype") == datatype))[
            "record"
        ].to_list()


@pytest.fixture
def world(emulators: Emulators, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    emulators.reset(seed=SEED, size=SIZE)
    emulators.set_faults(0.0)
    monkeypatch.setenv("TALK_ASSETS_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    for key, value in emulators.env.items():
        monkeypatch.setenv(key, value)
    return World(emulators, tmp_path)


def scope_of(world: World) -> str:
    """The `planned_scope` the last planning step published on `talk/clusters`."""
    event = world.instance.get_latest_materialization_event(AssetKey(["talk", "clusters"]))
    assert event is not None and event.asset_materialization is not None
    return event.asset_materialization.metadata["planned_scope"].value
