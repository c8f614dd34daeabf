"""Fleet graph and waves on small hand-made fleets (members + inventories as the inspection writes them):
matching by hostname, FQDN and IP, names two members claim, loopback and self references, and the
wave rules (groups move together, hints, blocked groups held back, failed and not-inspected last).
The same rules are asserted on the real benchmark fleet in test_bench_fleet.py."""

from __future__ import annotations

from migrate.fleet.graph import build_fleet_graph
from migrate.fleet.waves import hint_key, plan_waves
from migrate.fleet.worker import member_facts
from migrate.model.base import Evidence
from migrate.model.fleet import FleetMember, MemberError, RVToolsSizing, SourceRef
from migrate.model.inventory import Connection, HostEntry, InterfaceAddress, Inventory, NetworkIdentity


def member(name: str, *, ip: str | None = None, readiness: str = "ready", hint: str | None = None,
           names: list[str] | None = None, blockers: list[str] | None = None) -> FleetMember:
    return FleetMember(name=name, state="planned" if readiness in ("ready", "blocked") else "failed",
                       hostnames=names if names is not None else [name, f"{name}.corp.example"],
                       addresses=[ip] if ip else [], readiness=readiness, wave_hint=hint,  # type: ignore[arg-type]
                       blockers=blockers or [],
                       error=MemberError(error_class="CorruptImage", exit_code=12, message="x")
                       if readiness == "failed" else None)


def inv(name: str, *conns: tuple[str, str, int | None, str], hosts: list[HostEntry] | None = None) -> Inventory:
    return Inventory(name=name, backend="native",
                     network=NetworkIdentity(hostname=name, hosts=hosts or []),
                     connections=[Connection(from_service="app", scheme=scheme, host=host, port=port,
                                             url_redacted=f"{scheme}://{host}", via=via,
                                             evidence=Evidence(analyzer="systemd", path=f"/etc/{name}.env"))
                                  for scheme, host, port, via in conns])


def test_edges_match_hostname_fqdn_and_ip_and_nothing_else():
    members = [member("web01", ip="10.0.0.1"), member("db01", ip="10.0.0.2"), member("cache01", ip="10.0.0.3"),
               member("lonely", ip="10.0.0.9")]
    inventories = {
        "web01": inv("web01", ("postgresql", "db01", 5432, "DATABASE_URL"),
                     ("redis", "10.0.0.3", 6379, "REDIS_URL"),
                     ("http", "db01.corp.example", 8080, "proxy_pass"),
                     ("http", "127.0.0.1", 8080, "proxy_pass"),  # loopback: local
                     ("http", "web01.corp.example", 80, "self"),  # its own name
                     ("mysql", "partner.example", 3306, "new mysqli")),  # outside the fleet
        "db01": inv("db01"), "cache01": inv("cache01"), "lonely": inv("lonely"),
    }
    g = build_fleet_graph(members, inventories)
    got = {(e.source, e.target, e.matched_by, e.address, e.port, e.via) for e in g.edges}
    assert got == {("web01", "db01", "hostname", "db01", 5432, "DATABASE_URL"),
                   ("web01", "cache01", "ip", "10.0.0.3", 6379, "REDIS_URL"),
                   ("web01", "db01", "fqdn", "db01.corp.example", 8080, "proxy_pass")}
    assert all(e.evidence == "/etc/web01.env" for e in g.edges)
    assert [(u.address, u.reason) for u in g.unmatched] == [("partner.example", "not a fleet member")]
    assert g.components() == [["cache01", "db01", "web01"], ["lonely"]]


def test_a_name_two_members_claim_is_no_edge():
    members = [member("app", ip="10.0.0.1"), member("clone-a", names=["shop-vm01"]),
               member("clone-b", names=["shop-vm01"])]
    g = build_fleet_graph(members, {"app": inv("app", ("postgresql", "SHOP-VM01", 5432, "DATABASE_URL")),
                                    "clone-a": inv("clone-a"), "clone-b": inv("clone-b")})
    assert g.edges == []
    assert g.unmatched[0].reason == "claimed by several members: clone-a, clone-b"


def test_members_without_inventory_are_nodes_without_outgoing_edges():
    members = [member("web", ip="10.0.0.1"), member("gone", readiness="failed", names=[]),
               member("db", readiness="failed")]
    inventories = {"web": inv("web", ("http", "gone", 80, "proxy_pass"), ("postgresql", "db", 5432, "DATABASE_URL"))}
    g = build_fleet_graph(members, inventories)
    assert [(e.source, e.target) for e in g.edges] == [("web", "db")]  # names known to the store still match
    assert sorted(g.graph.nodes) == ["db", "gone", "web"]


def static(ip: str, path: str = "/etc/network/interfaces", line: int = 6, iface: str = "eth0") -> InterfaceAddress:
    return InterfaceAddress(interface=iface, address=ip, prefixlen=24,
                            evidence=Evidence(analyzer="network", path=path, detail=f"line {line}"))


def rv_only(name: str, row: int, *, ips: list[str], dns: str | None = None) -> FleetMember:
    return FleetMember(name=name, state="no-image", sources=[SourceRef(kind="rvtools", path="/x/rv.xlsx", row=row)],
                       sizing=RVToolsSizing(vm=name, dns_name=dns, ip_addresses=ips))


def test_member_facts_keep_static_interface_addresses_with_their_file_and_line():
    i = inv("db01", hosts=[HostEntry(address="127.0.1.1", names=["db01"]),
                           HostEntry(address="10.0.0.7", names=["db01.corp.example", "db01"])])
    dhcp = InterfaceAddress(interface="eth1", method="dhcp", evidence=Evidence(analyzer="network", path="/x"))
    i.network.addresses = [static("10.0.0.5"), static("fd00::5", line=9), static("127.0.0.2"),
                           static("fe80::1", line=11), dhcp, static("10.0.0.7", path="/etc/netplan/1.yaml", line=3)]
    facts = member_facts(i)
    assert facts["hostnames"] == ["db01", "db01.corp.example"]
    assert facts["addresses"] == ["10.0.0.5", "10.0.0.7", "fd00::5"]  # no loopback, no link-local
    assert facts["address_evidence"] == {"10.0.0.5": "/etc/network/interfaces line 6", "10.0.0.7": "/etc/hosts",
                                         "fd00::5": "/etc/network/interfaces line 9"}


def test_an_edge_by_ip_matches_a_static_interface_address_and_an_rvtools_only_member():
    db_inv = inv("db01")  # no /etc/hosts entry for its address: only its interface configuration says it
    db_inv.network.addresses = [static("10.0.0.5")]
    facts = member_facts(db_inv)
    db = FleetMember(name="db01", state="planned", readiness="ready", hostnames=facts["hostnames"],
                     addresses=facts["addresses"], address_evidence=facts["address_evidence"])
    members = [member("web01"), db, rv_only("mainframe-gw01", 7, ips=["10.9.0.1"], dns="mf-gw.corp.example")]
    inventories = {"web01": inv("web01", ("postgresql", "10.0.0.5", 5432, "DATABASE_URL"),
                                ("http", "10.9.0.1", 8443, "proxy_pass upstream"),
                                ("jdbc:db2", "mf-gw.corp.example", 50000, "jdbc url"),
                                ("jdbc:db2", "MF-GW", 50000, "jdbc url")),
                   "db01": db_inv}
    g = build_fleet_graph(members, inventories)
    got = {(e.source, e.target, e.matched_by, e.address, e.target_evidence) for e in g.edges}
    assert got == {("web01", "db01", "ip", "10.0.0.5", "/etc/network/interfaces line 6"),
                   ("web01", "mainframe-gw01", "ip", "10.9.0.1", "RVTools vInfo row 7: Primary IP Address"),
                   ("web01", "mainframe-gw01", "fqdn", "mf-gw.corp.example", "RVTools vInfo row 7: DNS Name"),
                   ("web01", "mainframe-gw01", "hostname", "MF-GW", "RVTools vInfo row 7: DNS Name")}
    assert g.unmatched == []
    waves = plan_waves(members, g)
    # the RVTools-only member others call cannot be ready: its group waits for it, and it is listed with them
    assert [(w.number, w.members) for w in waves] == [(1, ["db01", "mainframe-gw01", "web01"])]
    assert "mainframe-gw01 (not inspected: no disk image exported) holds back" in waves[0].reason


def test_an_ip_two_members_claim_is_no_edge():
    a = member("clone-a")
    b = member("clone-b")
    a.addresses, a.address_evidence = ["10.0.0.5"], {"10.0.0.5": "/etc/network/interfaces line 6"}
    members = [member("app"), a, b, rv_only("stale-row", 3, ips=["10.0.0.5"]),
               rv_only("other", 4, ips=["10.0.0.8"])]
    b.addresses = ["10.0.0.8"]
    g = build_fleet_graph(members, {"app": inv("app", ("postgresql", "10.0.0.5", 5432, "DATABASE_URL"),
                                                ("redis", "10.0.0.8", 6379, "REDIS_URL"))})
    assert g.edges == []
    assert [(u.address, u.reason) for u in g.unmatched] == [
        ("10.0.0.5", "claimed by several members: clone-a, stale-row"),
        ("10.0.0.8", "claimed by several members: clone-b, other")]


def _waves(members, inventories):
    return [(w.number, w.members) for w in plan_waves(members, build_fleet_graph(members, inventories))]


def test_waves_groups_hints_blocked_failed_pending():
    members = [
        member("a-web", ip="10.0.1.1", hint="2"), member("a-db", ip="10.0.1.2"),  # hinted group
        member("b-web", ip="10.0.2.1", hint="10"), member("b-db", ip="10.0.2.2", hint="2"),  # latest hint wins
        member("c-web", ip="10.0.3.1"), member("c-db", ip="10.0.3.2"),  # ready group, no hint
        member("d-web", ip="10.0.4.1"), member("d-db", ip="10.0.4.2", readiness="blocked",
                                                blockers=["specific-bind: listens on 10.0.4.2:6379 only"]),
        member("e-app", ip="10.0.5.1"), member("e-db", ip="10.0.5.2", readiness="failed"),  # failed target
        member("solo1"), member("solo2", hint="1"), member("solo3", readiness="blocked", blockers=["gui: x"]),
        FleetMember(name="rv-only", state="no-image"),
    ]
    inventories = {m.name: inv(m.name) for m in members if m.readiness in ("ready", "blocked")}
    for g in "abcd":
        inventories[f"{g}-web"] = inv(f"{g}-web", ("postgresql", f"{g}-db", 5432, "DATABASE_URL"))
    inventories["e-app"] = inv("e-app", ("postgresql", "10.0.5.2", 5432, "DATABASE_URL"))
    waves = plan_waves(members, build_fleet_graph(members, inventories))
    assert [(w.number, w.members) for w in waves] == [
        (1, ["solo2"]),  # hint 1
        (2, ["a-db", "a-web"]),  # hint 2
        (3, ["b-db", "b-web"]),  # hints 2 and 10: moves with 10
        (4, ["solo1"]),  # ready, standalone
        (5, ["c-db", "c-web"]),  # ready group
        (6, ["d-db", "d-web", "e-app", "solo3"]),  # held back (a failed member cannot hold its own place)
        (7, ["e-db"]),  # failed
        (8, ["rv-only"]),  # not inspected
    ]
    reasons = {w.number: w.reason for w in waves}
    assert "hint '2'" in reasons[2] and "carry hints 2, 10" in reasons[3]
    assert "d-db (specific-bind) holds back d-web" in reasons[6]
    assert "e-db (CorruptImage) holds back e-app" in reasons[6]
    assert "CorruptImage (exit 12)" in reasons[7]
    assert all(w.reason for w in waves)


def test_waves_are_deterministic_whatever_the_input_order():
    members = [member(f"vm{i:02d}", ip=f"10.9.0.{i}") for i in range(1, 12)]
    inventories = {m.name: inv(m.name, ("http", f"vm{(i % 5) + 1:02d}", 80, "proxy_pass"))
                   for i, m in enumerate(members, 1)}
    one = _waves(members, inventories)
    two = _waves(list(reversed(members)), dict(reversed(list(inventories.items()))))
    assert one == two


def test_hint_order_is_numeric_then_by_name():
    assert sorted(["10", "2", "pilot", "1", "Beta"], key=hint_key) == ["1", "2", "10", "Beta", "pilot"]
