"""The ServiceGraph document (graph.json): what runs in the guest and how the pieces connect.

Pure data. ``migrate.graph`` builds it from an Inventory and turns it into networkx, dot and mermaid.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from migrate.model.base import Document, Evidence, Model

NodeKind = Literal["service", "port", "path", "config", "secret", "package", "job", "external"]
EdgeKind = Literal[
    "listens-on",  # service -> port
    "depends-on",  # service -> service (systemd After/Requires/Wants)
    "connects-to",  # service -> service | external (connection strings, proxy_pass, JDBC ...)
    "reads-config",  # service -> config
    "writes-data",  # service -> persistent path
    "uses-secret",  # service -> secret
    "installed-from",  # service -> package
    "runs-with",  # job -> service whose files or user the job uses
]


class GraphNode(Model):
    id: str  # "<kind>:<key>", unique
    kind: NodeKind
    label: str
    attrs: dict[str, str | int | bool | None] = Field(default_factory=dict)
    evidence: list[Evidence] = Field(default_factory=list)


class GraphEdge(Model):
    source: str
    target: str
    kind: EdgeKind
    detail: str | None = None  # e.g. "After=postgresql.service", "DATABASE_URL"
    evidence: list[Evidence] = Field(default_factory=list)


class ExternalDependency(Model):
    """A connection nothing in the guest answers: the stack needs it from outside."""

    from_service: str | None
    scheme: str
    host: str
    port: int | None
    url_redacted: str
    via: str | None = None
    reason: str
    evidence: Evidence


class UnresolvedUnit(Model):
    """A systemd dependency naming a unit that is not a service in the inventory."""

    service: str
    unit: str
    relation: str  # After, Requires, Wants


class ServiceGraph(Document):
    KIND = "service-graph"
    SCHEMA_VERSION = 1

    source_vm: str
    nodes: list[GraphNode] = Field(default_factory=list)
    edges: list[GraphEdge] = Field(default_factory=list)
    cycles: list[list[str]] = Field(default_factory=list)  # service node ids, each cycle rotated to min
    external: list[ExternalDependency] = Field(default_factory=list)
    unresolved_units: list[UnresolvedUnit] = Field(default_factory=list)

    def canonical(self) -> ServiceGraph:
        data = self.model_copy(deep=True)
        data.nodes.sort(key=lambda n: n.id)
        data.edges.sort(key=lambda e: (e.source, e.target, e.kind, e.detail or ""))
        data.cycles.sort()
        data.external.sort(key=lambda x: (x.from_service or "", x.scheme, x.host, x.port or 0, x.via or ""))
        data.unresolved_units.sort(key=lambda u: (u.service, u.relation, u.unit))
        return data

    def node(self, node_id: str) -> GraphNode | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def service_edges(self, kind: str) -> list[tuple[str, str]]:
        """(from service, to service) names for edges of ``kind`` between two services."""
        return sorted(
            (e.source.removeprefix("service:"), e.target.removeprefix("service:"))
            for e in self.edges
            if e.kind == kind and e.source.startswith("service:") and e.target.startswith("service:")
        )
