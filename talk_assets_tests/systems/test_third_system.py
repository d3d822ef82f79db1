"""A third system, defined only in `toy/`, gets its source asset, its resource and its emulator
from the registry alone: no change anywhere else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import AssetKey

from talk_assets.defs.build import build_definitions
from talk_assets.flows.model import DatatypeRef, Flow, MergeCriterion, RuleKind
from talk_assets.systems import datatype, registry
from talk_assets.systems.emulator import running_emulators
from talk_assets_tests.systems.toy.system import SPEC, ToyClient, ToyResource

FLOW = Flow(
    source=DatatypeRef("Toysystem", "Widgets"),
    target=DatatypeRef("Crmoffice", "Companies"),
    rule=RuleKind.MERGE_ONLY,
    merge_criteria=(MergeCriterion("name", "name"),),
)


@pytest.fixture
def toy() -> Iterator[None]:
    with registry.registered(SPEC):
        yield
    assert "toysystem" not in registry.names()


def test_registered_system_resolves_and_gets_source_asset_and_resource(toy: None) -> None:
    assert datatype("toysystem.widgets").key == "toysystem.widgets"
    defs = build_definitions([FLOW])
    assert defs.get_assets_def(AssetKey(["toysystem", "widgets"])) is not None
    resources = defs.resources or {}
    assert isinstance(resources["toysystem"], ToyResource)
    sensor = next(s for s in defs.sensors or () if s.name == "changes_sensor")
    assert "toysystem" in sensor.required_resource_keys


def test_registered_system_gets_its_emulator_and_is_read_through_the_connector(toy: None) -> None:
    with running_emulators(seed=3, size=2) as emus:
        assert set(emus.handles) == {"powerofficego", "crmoffice", "toysystem"}
        env = emus.env
        assert env["TOYSYSTEM_BASE_URL"] == emus.toysystem.base_url
        with ToyClient.from_env(env) as client:
            read = client.read("widgets")
            assert read.frame.height == 2
            assert read.frame["name"].null_count() == 0
            stored = client.insert("widgets", {"name": "Ny"}, reference="ref-1")
            assert client.get("widgets", stored["id"])["name"] == "Ny"
        resource = ToyResource.from_env()
        assert resource.client_id == "toy-id"
        assert emus.toysystem.write_requests() == 1
