"""corpus-infra (BIND 9, OpenLDAP slapd from a SysV script, Mosquitto with a password file and a retained
message, Prometheus scraping prometheus-node-exporter; MBR + LVM with ext4 and xfs; VHD and OVA).
What the VM did, the stack must do: the zone answers, the directory returns the entries ldapsearch
returned in the build chroot, the broker still holds the retained message and enforces its
passwords, Prometheus scrapes the exporter in its new container."""

from __future__ import annotations

import json

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
    http_get,
    plan_of,
    ports_of,
    retry,
    run_chain,
    workdir,
)
from tests.corpus.protocols import MQTT, dns_query, ldap_search

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def infra(corpus_infra_images, tmp_path_factory):
    return convert_guest([corpus_infra_images["ova"]], workdir(tmp_path_factory, "corpus-infra-convert"))


@pytest.mark.parametrize("kind", ["vhd", "ova"])
def test_infra_inventory(corpus_infra_images, kind):
    facts = corpus_infra_images.facts
    inv = inspect_images([corpus_infra_images[kind]], "auto")
    assert inv.network.hostname == facts["hostname"]
    assert {f.mountpoint: f.fstype for f in inv.filesystems if f.mountpoint} == facts["filesystems"]
    named, ldap, mqtt = by_role(inv, "bind"), by_role(inv, "slapd"), by_role(inv, "mosquitto")
    prom, exporter = by_role(inv, "prometheus"), by_role(inv, "prometheus-exporter")
    assert {(p.proto, p.port) for p in inv.ports if p.service == named.name} >= {("udp", 53), ("tcp", 53)}
    assert ldap.manager == "sysv" and ldap.exec_start[0] == "/usr/sbin/slapd", "slapd ships only an init script"
    assert 389 in ports_of(inv, ldap.name) and 1883 in ports_of(inv, mqtt.name)
    assert 9090 in ports_of(inv, prom.name) and 9100 in ports_of(inv, exporter.name)
    paths = {p.path for p in inv.persistent_paths}
    for svc in ("slapd", "mosquitto", "prometheus"):
        assert facts["services"][svc]["data"] in paths, svc
    zone = f"/etc/bind/db.{facts['probes']['dns']['zone']}"
    assert zone in {c.path for c in inv.configs if c.kind == "zone"}
    assert {(c.from_service, c.host, c.port) for c in inv.connections} >= {(prom.name, "localhost", 9100)}
    kinds = {(s.service, s.key) for s in inv.secrets}
    assert {(ldap.name, "olcRootPW"), (mqtt.name, facts["probes"]["mqtt"]["user"])} <= kinds
    assert not any(v in inv.to_json() for v in facts["secrets"])


def test_infra_convert_fast(infra):
    assert infra.cpu_seconds < 2.0, f"convert: {infra.cpu_seconds:.2f} s CPU ({infra.seconds:.2f} s wall)"


def test_infra_plan(infra, corpus_infra_images):
    facts = corpus_infra_images.facts
    plan = infra.plan
    named = containers_with_role(plan, "bind")[0]
    ldap = containers_with_role(plan, "slapd")[0]
    mqtt = containers_with_role(plan, "mosquitto")[0]
    prom = containers_with_role(plan, "prometheus")[0]
    e = Expectations()
    e.expect(named.command.argv[1:2] == ["-f"] and "-u" not in named.command.argv, f"named: {named.command.argv}")
    e.expect(named.user.name == "bind", f"named runs as bind: {named.user.name}")
    e.expect({(p.proto, p.port) for p in named.ports} == {("udp", 53), ("tcp", 53)},
             f"DNS is served on UDP and TCP: {[(p.proto, p.port) for p in named.ports]}")
    e.expect("-d" in ldap.command.argv and "-u" not in ldap.command.argv, f"slapd: {ldap.command.argv}")
    e.expect(facts["services"]["slapd"]["data"] in {v.target for v in ldap.volumes}, "the LDAP database is a volume")
    e.expect(facts["services"]["mosquitto"]["data"] in {v.target for v in mqtt.volumes}, "mosquitto persistence")
    e.expect(any(f.source == "/etc/mosquitto/passwd" and f.secret_fills for f in mqtt.files),
             "the password file's hashes are filled from a secret at start, not baked in")
    cfg = next((f for f in prom.files if f.source == "/etc/prometheus/prometheus.yml"), None)
    e.expect(cfg is not None and any("9100" in (x.replacement or "") for x in cfg.edits),
             "the scrape target localhost:9100 points at the exporter's container")
    leaks = files_holding(infra.out, facts["secrets"])
    e.expect(leaks == [], f"a guest password is in generated files: {leaks}")
    e.check()


@pytest.mark.docker
def test_infra_end_to_end(corpus_infra_images, tmp_path_factory, docker_engine, base_image):
    facts = corpus_infra_images.facts
    probes = facts["probes"]

    def ask(run, engine, project):
        plan = plan_of(run)
        addr = {role: container_address(engine, project, containers_with_role(plan, role)[0].name)
                for role in ("bind", "slapd", "mosquitto", "prometheus")}  # fmt: skip
        dns = probes["dns"]
        for name, ip in dns["a"].items():
            rcode, answers = retry(lambda name=name: dns_query(addr["bind"], dns["port"], name))
            assert rcode == 0 and ("A", ip) in answers, (name, rcode, answers)
        _, soa = dns_query(addr["bind"], dns["port"], dns["zone"], "SOA")
        assert soa and soa[0][1][1] == dns["serial"], soa

        ldap = probes["ldap"]
        rc, entries = retry(lambda: ldap_search(addr["slapd"], ldap["port"], ldap["base"], ["uid", "cn"],
                                                object_class="inetOrgPerson"))  # fmt: skip
        assert rc == 0
        assert sorted(e["uid"][0] for e in entries.values()) == ldap["uids"] == \
            sorted(line.split(": ")[1] for line in ldap["build_answer"].splitlines() if line.startswith("uid: "))
        assert {e["uid"][0]: e["cn"][0] for e in entries.values()} == ldap["cn"]

        mq = probes["mqtt"]
        denied = MQTT(addr["mosquitto"], mq["port"], mq["user"], mq["password"] + "x")
        assert denied.connack in (4, 5), "a wrong password is refused as in the VM"
        denied.sock.close()
        client = retry(lambda: MQTT(addr["mosquitto"], mq["port"], mq["user"], mq["password"]))
        try:
            assert client.connack == 0, f"CONNACK {client.connack}"
            for topic, message in mq["retained"].items():
                client.subscribe(topic)
                assert client.receive() == (topic, message, True), "the retained message survived the migration"
            client.subscribe("corp/probe")
            client.publish("corp/probe", "round trip")
            assert client.receive() == ("corp/probe", "round trip", False)
        finally:
            client.close()

        prom = probes["prometheus"]

        def targets() -> dict[str, str]:
            status, body = http_get(addr["prometheus"], prom["port"], "/api/v1/targets")
            assert status == 200, body[:200]
            health = {t["labels"]["job"]: t["health"] for t in json.loads(body)["data"]["activeTargets"]}
            assert all(health.get(j) == "up" for j in prom["jobs"]), health
            return health

        assert set(retry(targets, attempts=30)) == set(prom["jobs"])

    run = CorpusRun("corpus-infra", [corpus_infra_images["ova"]], facts,
                    workdir(tmp_path_factory, "corpus-infra-compose"))
    run_chain(run, docker_engine, base_image, probe=ask)
    run.conclude()
