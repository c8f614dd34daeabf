"""The fleet graph: which VM talks to which other VM of the fleet.

A cross-VM edge is a connection found in one member's inventory (``Inventory.connections``: the
connection strings, nginx upstreams and proxy_pass targets, JDBC URLs, PHP connect calls ... that the
analyzers already parsed) whose host is another member, matched against what each member calls
itself: its hostname and the /etc/hosts entries for that name (``FleetMember.hostnames``) and the
addresses of those entries (``FleetMember.addresses``), both filled from its inventory when it was
inspected (migrate.fleet.worker.member_facts). Nothing here re-parses a guest file and nothing
compares server kinds: an edge is an address that resolves to another member, whatever speaks on it.

A name two members claim (cloned VMs that kept their hostname) matches neither: the edge would be a
guess. Such names and hosts that are not members are kept as :class:`Unmatched` so the report can say
what stays outside the fleet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from migrate.graph import effective_port, is_loopback, local_names
from migrate.model.fleet import CrossVMEdge, FleetMember
from migrate.model.inventory import Inventory


@dataclass(frozen=True)
class Unmatched:
    source: str
    address: str
    via: str
    reason: str  # "not a fleet member" | "claimed by several members: a, b"


@dataclass
class FleetGraph:
    graph: nx.DiGraph  # nodes: member names (attribute ``member``); edges: attribute ``edges`` (list)
    edges: list[CrossVMEdge] = field(default_factory=list)
    unmatched: list[Unmatched] = field(default_factory=list)

    def components(self) -> list[list[str]]:
        """Groups of members that depend on each other in either direction, each sorted, in name order."""
        return sorted(sorted(c) for c in nx.weakly_connected_components(self.graph))


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None


class NameIndex:
    """Who claims which name or address: lowercase hostnames/FQDNs and normalised IPs → member names."""

    def __init__(self, members: Iterable[FleetMember]) -> None:
        self.names: dict[str, set[str]] = {}
        self.addresses: dict[str, set[str]] = {}
        for m in members:
            for n in m.hostnames:
                if n.strip():
                    self.names.setdefault(n.strip().lower().rstrip("."), set()).add(m.name)
            for a in m.addresses:
                ip = _ip(a)
                if ip and not is_loopback(ip):
                    self.addresses.setdefault(ip, set()).add(m.name)

    def lookup(self, host: str) -> tuple[set[str], str]:
        """(members claiming ``host``, how it was matched: ip | fqdn | hostname)."""
        ip = _ip(host)
        if ip is not None:
            return self.addresses.get(ip, set()), "ip"
        name = host.strip().lower().rstrip(".")
        return self.names.get(name, set()), "fqdn" if "." in name else "hostname"


def member_edges(member: FleetMember, inventory: Inventory, index: NameIndex) -> tuple[list[CrossVMEdge],
                                                                                         list[Unmatched]]:
    """The edges from one member's connections (its own names and loopback are local, not edges)."""
    edges: dict[tuple[str, str, int | None, str], CrossVMEdge] = {}
    unmatched: list[Unmatched] = []
    local = local_names(inventory) | {n.lower() for n in member.hostnames}
    for c in inventory.connections:
        host = (c.host or "").strip()
        if not host or c.unix_socket or is_loopback(host) or host.lower() in local:
            continue
        via = c.via or c.scheme
        targets, how = index.lookup(host)
        targets = targets - {member.name}
        if len(targets) != 1:
            if not targets and member.name in index.lookup(host)[0]:
                continue  # its own address
            reason = ("not a fleet member" if not targets
                      else f"claimed by several members: {', '.join(sorted(targets))}")
            unmatched.append(Unmatched(member.name, host, via, reason))
            continue
        target = next(iter(targets))
        port = effective_port(c)
        key = (target, host, port, via)
        edges.setdefault(key, CrossVMEdge(source=member.name, target=target, matched_by=how, address=host,
                                          port=port, via=via, evidence=c.evidence.path))
    return list(edges.values()), unmatched


def load_inventory(fleet_dir: Path, member: FleetMember) -> Inventory | None:
    if not member.inventory_path:
        return None
    path = Path(fleet_dir) / member.inventory_path
    return Inventory.load(path) if path.is_file() else None


def build_fleet_graph(members: list[FleetMember], inventories: dict[str, Inventory]) -> FleetGraph:
    """The graph of ``members``; ``inventories`` maps member names to their inventories (members without
    one are nodes without outgoing edges: not inspected, or failed)."""
    index = NameIndex(members)  # a member's names stay valid evidence after a later inspection failed
    g = nx.DiGraph()
    for m in sorted(members, key=lambda m: m.name):
        g.add_node(m.name, member=m)
    all_edges: list[CrossVMEdge] = []
    unmatched: list[Unmatched] = []
    for m in sorted(members, key=lambda m: m.name):
        inv = inventories.get(m.name)
        if inv is None:
            continue
        edges, missed = member_edges(m, inv, index)
        unmatched += missed
        for e in edges:
            all_edges.append(e)
            if g.has_edge(e.source, e.target):
                g.edges[e.source, e.target]["edges"].append(e)
            else:
                g.add_edge(e.source, e.target, edges=[e])
    all_edges.sort(key=lambda e: (e.source, e.target, e.address, e.via))
    return FleetGraph(g, all_edges, sorted(unmatched, key=lambda u: (u.source, u.address, u.via)))


def fleet_graph(fleet_dir: Path, members: list[FleetMember]) -> FleetGraph:
    """The graph of a fleet directory's members, reading each inspected member's inventory.json."""
    inventories = {}
    for m in members:
        inv = load_inventory(fleet_dir, m)
        if inv is not None:
            inventories[m.name] = inv
    return build_fleet_graph(members, inventories)
