"""Per-property lineage: which property feeds which, through which flow.

Shared by the Dagster layer (`dagster/column_lineage` and the readable lineage table in asset
metadata) and by `talk-assets lineage`. Flows sync both ways (S4), so a mapping is an edge that
carries values in both directions; inserts only go the document's way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from talk_assets.flows.model import Flow
from talk_assets.systems import Datatype, Field, ResolvedFlow, SchemaError, resolve_flow, system


@dataclass(frozen=True)
class PropertyEdge:
    flow: str
    flow_title: str
    source: str
    """`system.datatype.Field.Path` of the document's source side."""
    target: str
    target_type: str
    rule: str
    source_writable: bool
    target_writable: bool
    not_in_api: str | None = None
    """Why a side of this mapping is not in the API (the edge is lineage only), or None."""

    @property
    def direction(self) -> str:
        if self.not_in_api:
            return f"not in the API ({self.not_in_api}); never synced"
        if self.source_writable and self.target_writable:
            return "both ways"
        if self.target_writable:
            return "source -> target"
        if self.source_writable:
            return "target -> source"
        return "compared only (read-only on both sides)"


def field_key(dt: Datatype, f: Field) -> str:
    return f"{dt.key}.{f.path}"


def edges_of(resolved: ResolvedFlow) -> list[PropertyEdge]:
    return [
        PropertyEdge(
            flow=resolved.flow.name,
            flow_title=resolved.flow.title,
            source=field_key(resolved.source, s),
            target=field_key(resolved.target, t),
            target_type=typ if doc.type == typ else f"{doc.type}, as {typ}",
            rule=resolved.flow.rule.value,
            source_writable=s.writable,
            target_writable=t.writable,
            not_in_api="; ".join(f"{f.path}: {f.not_in_api}" for f in (s, t) if f.not_in_api)
            or None,
        )
        for (s, t, typ), doc in zip(
            [*resolved.properties, *resolved.not_in_api],
            [*resolved.property_docs, *resolved.not_in_api_docs],
            strict=True,
        )
    ]


def all_edges(flows: Iterable[Flow]) -> list[PropertyEdge]:
    return [edge for flow in flows for edge in edges_of(resolve_flow(flow))]


def resolve_property(text: str) -> tuple[Datatype, Field]:
    """`SYSTEM.DATATYPE.PROPERTY` (any document spelling) -> the datatype and field."""
    parts = text.split(".")
    if len(parts) < 3:
        from talk_assets.systems import SYSTEMS

        example = SYSTEMS[-1].datatypes[0]
        raise SchemaError(
            f"{text!r}: expected SYSTEM.DATATYPE.PROPERTY, "
            f"e.g. {example.key}.{example.fields[-1].path}"
        )
    dt = system(parts[0]).datatype(parts[1])
    return dt, dt.lookup(".".join(parts[2:]))


def connected(start: str, edges: Sequence[PropertyEdge]) -> list[PropertyEdge]:
    """Every edge reachable from a property, breadth first: the whole chain its values travel."""
    seen_nodes, seen_edges, out = {start}, set(), []
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for i, edge in enumerate(edges):
            if i in seen_edges or node not in (edge.source, edge.target):
                continue
            seen_edges.add(i)
            out.append(edge)
            for nxt in (edge.source, edge.target):
                if nxt not in seen_nodes:
                    seen_nodes.add(nxt)
                    queue.append(nxt)
    return out
