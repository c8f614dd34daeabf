"""The fleet graph: which VM talks to which other VM of the fleet.

A cross-VM edge is a connection found in one member's inventory (``Inventory.connections``: the
connection strings, nginx upstreams and proxy_pass targets, JDBC URLs, PHP connect calls ... that the
analyzers already parsed) whose host is another member, matched against what each member is known as:

- from its guest, filled when it was inspected (migrate.fleet.worker.member_facts): its hostname and
  the /etc/hosts entries for that name (``FleetMember.hostnames``), the addresses of those entries and
  the static addresses its network configuration gives its interfaces (``FleetMember.addresses``, each
  with its file and line in ``address_evidence``);
- from an RVTools export (``FleetMember.sizing``): the DNS name and IP addresses VMware Tools reported,
  so a VM whose disk is not exported yet (an RVTools-only member) can be the target of an edge.

Nothing here re-parses a guest file and nothing compares server kinds: an edge is an address that
resolves to another member, whatever speaks on it, and it says why (``CrossVMEdge.target_evidence``).

A name or address two members claim (cloned VMs that kept their hostname or static address, a stale
RVTools row) matches neither: the edge would be a guess. Such names and hosts that are not members are
kept as :class:`Unmatched` so the report can say what stays outside the fleet.
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
    """Who claims which name or address: lowercase hostnames/FQDNs and normalised IPs → member names,
    with why each member claims it (the first reason found per member)."""

    def __init__(self, members: Iterable[FleetMember]) -> None:
        self.names: dict[str, dict[str, str]] = {}
        self.addresses: dict[str, dict[str, str]] = {}
        for m in members:
            for n in m.hostnames:
                self._name(n, m.name, "guest hostname" if n == m.hostnames[0] else "/etc/hosts")
            for a in m.addresses:
                self._address(a, m.name, m.address_evidence.get(a, "guest"))
            if m.sizing is not None:
                where = _rvtools_row(m)
                if m.sizing.dns_name:
                    self._name(m.sizing.dns_name, m.name, f"{where}: DNS Name")
                    self._name(m.sizing.dns_name.split(".")[0], m.name, f"{where}: DNS Name")
                for i, a in enumerate(m.sizing.ip_addresses):
                    self._address(a, m.name, f"{where}: {'Primary IP Address' if i == 0 else 'IP address'}")

    def _name(self, name: str, member: str, why: str) -> None:
        key = name.strip().lower().rstrip(".")
        if key:
            self.names.setdefault(key, {}).setdefault(member, why)

    def _address(self, address: str, member: str, why: str) -> None:
        ip = _ip(address)
        if ip and not is_loopback(ip):
            self.addresses.setdefault(ip, {}).setdefault(member, why)

    def claims(self, host: str) -> tuple[dict[str, str], str]:
        """({member: why it claims ``host``}, how it was matched: ip | fqdn | hostname)."""
        ip = _ip(host)
        if ip is not None:
            return self.addresses.get(ip, {}), "ip"
        name = host.strip().lower().rstrip(".")
        return self.names.get(name, {}), "fqdn" if "." in name else "hostname"

    def lookup(self, host: str) -> tuple[set[str], str]:
        """(members claiming ``host``, how it was matched: ip | fqdn | hostname)."""
        claims, how = self.claims(host)
        return set(claims), how


def _rvtools_row(m: FleetMember) -> str:
    ref = next((r for r in reversed(m.sources) if r.kind == "rvtools"), None)
    return f"RVTools vInfo row {ref.row}" if ref is not None and ref.row else "RVTools"


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
        claims, how = index.claims(host)
        targets = set(claims) - {member.name}
        if len(targets) != 1:
            if not targets and member.name in claims:
                continue  # its own address
            reason = ("not a fleet member" if not targets
                      else f"claimed by several members: {', '.join(sorted(targets))}")
            unmatched.append(Unmatched(member.name, host, via, reason))
            continue
        target = next(iter(targets))
        port = effective_port(c)
        key = (target, host, port, via)
        edges.setdefault(key, CrossVMEdge(source=member.name, target=target, matched_by=how, address=host,
                                          port=port, via=via, evidence=c.evidence.path,
                                          target_evidence=claims[target]))
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
