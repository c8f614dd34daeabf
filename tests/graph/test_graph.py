from __future__ import annotations

import shutil
from pathlib import Path

import networkx as nx
import pytest

from migrate.errors import InvalidDocument
from migrate.graph import build_graph, export, local_names, render_png, to_dot, to_mermaid, to_networkx
from migrate.model.base import Evidence
from migrate.model.graph import ServiceGraph
from migrate.model.inventory import Connection, HostEntry, Inventory, Port, Service
from tests.graph.conftest import FIXTURES, check_golden, load_fixture

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", FIXTURES)
def test_graph_golden(name: str) -> None:
    g = build_graph(load_fixture(name))
    check_golden(GOLDEN / f"{name}.graph.json", g.to_json())
    check_golden(GOLDEN / f"{name}.mmd", to_mermaid(g))


def test_flagship_edges(flagship: Inventory) -> None:
    g = build_graph(flagship)
    connects = set(g.service_edges("connects-to"))
    assert ("nginx", "shop") in connects
    assert ("shop", "postgresql") in connects
    assert ("shop", "redis-server") in connects
    # on the real VM's disk Debian's cluster unit postgresql@15-main exists only at boot (a systemd generator
    # makes it); what the disk says is the postgresql.service wrapper, and the dependency lands there
    assert ("shop", "postgresql") in set(g.service_edges("depends-on"))
    assert g.cycles == [] and g.external == []
    for e in g.edges:
        assert e.evidence, f"edge without evidence: {e}"


def test_every_relation_kind_present(flagship: Inventory) -> None:
    kinds = {e.kind for e in build_graph(flagship).edges}
    assert {"listens-on", "depends-on", "connects-to", "reads-config", "writes-data", "uses-secret",
            "installed-from", "runs-with"} <= kinds


def test_networkx_view(flagship: Inventory) -> None:
    nxg = to_networkx(build_graph(flagship))
    assert isinstance(nxg, nx.DiGraph)
    assert nxg.nodes["service:shop"]["kind"] == "service"
    kinds = {d["kind"] for _, _, d in nxg.edges("service:shop", data=True)}
    assert {"connects-to", "depends-on", "writes-data", "uses-secret"} <= kinds


def _svc(name: str, **kw) -> Service:
    return Service(name=name, manager="systemd", exec_start=[f"/usr/bin/{name}"], **kw)


def _ev() -> Evidence:
    return Evidence(analyzer="test", path="/etc/x")


def test_cycle_and_external_dependency() -> None:
    inv = Inventory(
        name="vm", backend="test",
        services=[_svc("a", after=["b.service"]), _svc("b"), _svc("c")],
        ports=[Port(service="a", port=1000, evidence=_ev()), Port(service="b", port=2000, evidence=_ev())],
        connections=[
            Connection(from_service="b", scheme="http", host="localhost", port=1000, url_redacted="u", evidence=_ev()),
            Connection(from_service="c", scheme="postgresql", host="db.corp.example", url_redacted="pg",
                       evidence=_ev()),
            Connection(from_service="c", scheme="redis", host="127.0.0.1", port=6379, url_redacted="r",
                       evidence=_ev()),
        ],
    )
    g = build_graph(inv)
    assert g.cycles == [["service:a", "service:b"]]
    external = {(x.host, x.port) for x in g.external}
    assert external == {("db.corp.example", 5432), ("127.0.0.1", 6379)}
    reasons = " ".join(x.reason for x in g.external)
    assert "not this VM" in reasons and "nothing in the guest listens on port 6379" in reasons


def test_hostname_and_hosts_entries_are_local() -> None:
    inv = Inventory(name="vm", backend="test")
    inv.network.hostname = "app01.corp"
    inv.network.hosts = [HostEntry(address="10.1.2.3", names=["app01.corp", "app01", "api.internal"]),
                         HostEntry(address="10.9.9.9", names=["other"])]
    names = local_names(inv)
    assert {"app01", "app01.corp", "api.internal", "10.1.2.3", "localhost", "::1"} <= names
    assert "other" not in names and "10.9.9.9" not in names


def test_exports(flagship: Inventory) -> None:
    g = build_graph(flagship)
    dot = to_dot(g)
    assert dot.startswith('digraph "shop-vm01"') and '"service:nginx" -> "service:shop"' in dot
    assert to_mermaid(g).startswith("flowchart LR")
    assert ServiceGraph.from_json(export(g, "json")) == g
    with pytest.raises(ValueError):
        export(g, "svg")


def test_graph_json_round_trip_rejects_other_kind(flagship: Inventory) -> None:
    with pytest.raises(InvalidDocument):
        ServiceGraph.from_json(flagship.to_json())


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")
def test_png(tmp_path: Path, flagship: Inventory) -> None:
    out = tmp_path / "g.png"
    render_png(build_graph(flagship), out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
