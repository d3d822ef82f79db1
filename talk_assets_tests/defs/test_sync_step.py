"""The sync step (`plan_and_write`): planning and the sinks in one step, with the asset lineage
of two steps (every sink depends on `talk/plan` and on the flows that write into it, every
planning asset on the sources it reads) and a subset that can be materialized."""

from __future__ import annotations

from talk_assets.defs.build import build_definitions
from talk_assets.defs.planning import CLUSTERS_KEY, PLAN_KEY, flow_key
from talk_assets.defs.sinks import sink_datatypes, sink_key, writes_into
from talk_assets.defs.sources import source_key
from talk_assets.defs.sync_step import SYNC_STEP
from talk_assets.flows.catalog import active_flows
from talk_assets.systems import resolve_flow


def _graph():
    flows = [resolve_flow(f) for f in active_flows()]
    return flows, build_definitions().resolve_asset_graph()


def test_every_sink_depends_on_the_plan_and_the_flows_writing_into_it():
    flows, graph = _graph()
    datatypes = sink_datatypes(flows)
    assert datatypes
    for dt in datatypes:
        parents = graph.get(sink_key(dt)).parent_keys
        writing = {flow_key(f) for f in flows if writes_into(f, dt)}
        assert writing, dt.key
        assert parents == {PLAN_KEY, *writing}, dt.key


def test_planning_assets_depend_on_the_sources_they_read():
    flows, graph = _graph()
    for f in flows:
        assert graph.get(flow_key(f)).parent_keys == {source_key(f.source), source_key(f.target)}
    sources = {
        key for key in graph.get_all_asset_keys() if key.path[0] not in {"talk", "flows", "sinks"}
    }
    assert graph.get(PLAN_KEY).parent_keys == sources
    assert graph.get(CLUSTERS_KEY).parent_keys == sources


def test_planning_and_the_sinks_are_one_step_that_can_be_subset():
    flows, graph = _graph()
    node = graph.get(PLAN_KEY)
    step_keys = node.assets_def.keys
    assert {CLUSTERS_KEY, PLAN_KEY} <= step_keys
    assert {sink_key(dt) for dt in sink_datatypes(flows)} <= step_keys
    assert {flow_key(f) for f in flows} <= step_keys
    assert node.assets_def.op.name == SYNC_STEP
    assert node.assets_def.can_subset
