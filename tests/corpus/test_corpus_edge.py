"""corpus-edge (Varnish :80 → HAProxy :8000 → two Node.js app servers → Redis with a password; GPT +
LVM with an xfs root; VDI). What the VM did, the stack must do: GET /catalogue through Varnish answers
the greeting and products the real Redis saved at build time, served by either app server."""

from __future__ import annotations

import http.client

import pytest

from migrate.inspect import inspect_images
from tests.corpus.harness import (
    CorpusRun,
    Expectations,
    by_role,
    container_address,
    containers_with_role,
    convert_guest,
    files_holding,
    plan_of,
    ports_of,
    retry,
    run_chain,
    workdir,
)

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def edge(corpus_edge_images, tmp_path_factory):
    return convert_guest([corpus_edge_images["vdi"]], workdir(tmp_path_factory, "corpus-edge-convert"))


def test_edge_inventory(corpus_edge_images):
    """xfs root on LVM read natively; the chain's listeners, connections, the drop-in, the data and secrets."""
    facts = corpus_edge_images.facts
    inv = inspect_images([corpus_edge_images["vdi"]], "auto")
    assert inv.backend == "native", "GPT + LVM + xfs root is read without the appliance"
    assert {f.mountpoint: f.fstype for f in inv.filesystems if f.mountpoint} == facts["filesystems"]
    cache, lb, redis = by_role(inv, "varnish"), by_role(inv, "haproxy"), by_role(inv, "redis")
    assert 80 in ports_of(inv, cache.name), "the drop-in's -a :80 replaces the package's :6081"
    assert 6081 not in ports_of(inv, cache.name)
    assert HAPROXY_PORT(facts) in ports_of(inv, lb.name)
    apps = {s.name: s for s in inv.services if s.name in facts["services"] and s.role == "app"}
    assert set(apps) == {"edge-app1", "edge-app2"}
    for name, svc in apps.items():
        assert svc.interpreter and "node" in svc.interpreter and svc.user == "edge"
        assert facts["ports"][name] in ports_of(inv, name)
    conns = {(c.from_service, c.host, c.port) for c in inv.connections}
    assert (cache.name, "127.0.0.1", HAPROXY_PORT(facts)) in conns, "VCL backend"
    assert {(lb.name, "127.0.0.1", p) for p in (3001, 3002)} <= conns, "haproxy server lines"
    assert any(c.from_service in apps and c.scheme == "redis" and c.secret_id for c in inv.connections), \
        "REDIS_URL with its password in the apps' EnvironmentFile"
    assert facts["services"]["redis-server"]["dir"] in {p.path for p in inv.persistent_paths}
    assert not any(v in inv.to_json() for v in facts["secrets"])
    assert redis.state == "enabled"


def HAPROXY_PORT(facts) -> int:  # type: ignore[no-untyped-def]  # noqa: N802 - reads like the constant it is
    return facts["ports"]["haproxy"]


def test_edge_convert_fast(edge):
    assert edge.cpu_seconds < 2.0, f"convert: {edge.cpu_seconds:.2f} s CPU ({edge.seconds:.2f} s wall)"


def test_edge_plan(edge, corpus_edge_images):
    facts = corpus_edge_images.facts
    plan = edge.plan
    cache = containers_with_role(plan, "varnish")[0]
    lb = containers_with_role(plan, "haproxy")[0]
    apps = [c for c in plan.containers if c.role == "app"]
    e = Expectations()
    e.expect(len(apps) == 2, f"two app server containers: {[c.name for c in apps]}")
    e.expect(lb.command.argv[1:3] == ["-W", "-db"], f"haproxy in the foreground: {lb.command.argv}")
    e.expect("-S" not in cache.command.argv, f"varnish's -S secret file stays out of the image: {cache.command.argv}")
    published = {p.port for c in plan.containers for p in c.ports if p.publish}
    e.expect(published == {80}, f"only Varnish's port 80 served all addresses in the VM; published: {published}")
    cfg = next((f for f in lb.files if f.source == "/etc/haproxy/haproxy.cfg"), None)
    e.expect(cfg is not None and {a.name + ":" + str(facts["ports"][a.name]) for a in apps}
             <= {x.replacement for x in cfg.edits}, "haproxy's server lines point at the app containers")
    e.expect(any(f.port == HAPROXY_PORT(facts) for f in cache.forwarders) or
             any("haproxy" in (x.replacement or "") for f in cache.files for x in f.edits),
             "the VCL backend 127.0.0.1:8000 reaches the haproxy container (edit or forwarder)")
    leaks = files_holding(edge.out, facts["secrets"])
    e.expect(leaks == [], f"a guest password is in generated files: {leaks}")
    e.check()


@pytest.mark.docker
def test_edge_end_to_end(corpus_edge_images, tmp_path_factory, docker_engine, base_image):
    facts = corpus_edge_images.facts
    probe = facts["probes"]["http_catalogue"]

    def catalogue(run, engine, project):
        plan = plan_of(run)
        host = container_address(engine, project, containers_with_role(plan, "varnish")[0].name)
        lb = container_address(engine, project, containers_with_role(plan, "haproxy")[0].name)

        def get(host: str, port: int) -> tuple[str, str]:
            conn = http.client.HTTPConnection(host, port, timeout=15)
            try:
                conn.request("GET", probe["path"])
                resp = conn.getresponse()
                body = resp.read().decode()
                assert resp.status == 200, (resp.status, body[:300])
                return body, resp.getheader("X-Served-By") or ""
            finally:
                conn.close()

        body, served_by = retry(lambda: get(host, probe["port"]))
        assert body == probe["body"] and served_by in probe["served_by"]
        seen = {retry(lambda: get(lb, HAPROXY_PORT(facts)))[1] for _ in range(4)}
        assert seen == set(probe["served_by"]), f"haproxy balances over both app servers: {seen}"

    run = CorpusRun("corpus-edge", [corpus_edge_images["vdi"]], facts, workdir(tmp_path_factory, "corpus-edge-compose"))
    run_chain(run, docker_engine, base_image, probe=catalogue)
    run.conclude()
