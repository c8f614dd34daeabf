"""corpus-lamp (Apache 2.4 + mod_php 8.2 + MariaDB + memcached; MBR + LVM; vmdk, vdi), issue 13's
first failed stack. What the VM did, the stack must do: GET / answers the page body the guest's
PHP produces from the seeded rows (mysqli over the Unix socket) and memcached."""

from __future__ import annotations

import pytest

from migrate.inspect import inspect_images
from tests.corpus.harness import (
    CorpusRun,
    Expectations,
    by_role,
    containers_with_role,
    convert_guest,
    files_holding,
    get_body,
    package_names,
    ports_of,
    run_chain,
    workdir,
)

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def lamp(corpus_lamp_images, tmp_path_factory):
    return convert_guest([corpus_lamp_images["vmdk"]], workdir(tmp_path_factory, "corpus-lamp-convert"))


@pytest.mark.parametrize("kind", ["vmdk", "vdi"])
def test_lamp_inventory(corpus_lamp_images, kind):
    """inspect finds the services, ports, binds, data, the PHP define() password, on either export."""
    facts = corpus_lamp_images.facts
    inv = inspect_images([corpus_lamp_images[kind]], "auto")
    assert inv.network.hostname == facts["hostname"]
    apache, db, cache = by_role(inv, "apache"), by_role(inv, "mysql"), by_role(inv, "memcached")
    assert 80 in ports_of(inv, apache.name)
    assert 443 not in ports_of(inv, apache.name), "Listen 443 is inside <IfModule ssl_module>; mod_ssl is off"
    db_ports = ports_of(inv, db.name)
    assert 3306 in db_ports and db_ports[3306].address == "127.0.0.1"
    assert 11211 in ports_of(inv, cache.name)
    assert any(p.path == facts["services"]["mariadb"]["socket"] for p in inv.ports if p.service == db.name), \
        "MariaDB's Unix socket is a listener too"
    paths = {p.path for p in inv.persistent_paths}
    assert facts["services"]["mariadb"]["datadir"] in paths
    mounts = {f.mountpoint: f.fstype for f in inv.filesystems if f.mountpoint}
    assert mounts == facts["filesystems"]
    assert any(s.evidence.path in facts["secret_files"] for s in inv.secrets), \
        f"the password in {facts['secret_files']} is not reported: {[s.evidence.path for s in inv.secrets]}"
    assert not any(v in inv.to_json() for v in facts["secrets"])
    states = {s.name: s.state for s in inv.services}
    assert "tomcat10" not in states and "nginx" not in states, "packages of other corpus guests were purged"


def test_lamp_convert_fast(lamp):
    assert lamp.cpu_seconds < 2.0, f"convert used {lamp.cpu_seconds:.2f} s CPU ({lamp.seconds:.2f} s wall)"


def test_lamp_plan_fixes_issue13(lamp, corpus_lamp_images):
    """Each failure issue 13 measured on this stack, checked in the generated plan and files."""
    facts = corpus_lamp_images.facts
    web = containers_with_role(lamp.plan, "apache")[0]
    db = containers_with_role(lamp.plan, "mysql")[0]
    pkgs = package_names(web)
    e = Expectations()
    e.expect("libapache2-mod-php8.2" in pkgs, f"mods-enabled/php8.2.load needs libphp8.2.so; packages: {sorted(pkgs)}")
    e.expect("php8.2-mysql" in pkgs, "the mysqli extension (php8.2-mysql) is enabled in the guest, not installed")
    e.expect(not any(a == "start" for a in web.command.argv), f"apachectl start daemonises: {web.command.argv}")
    e.expect(443 not in {p.port for p in web.ports}, "443 is planned although only in <IfModule ssl_module>")
    e.expect("443" not in " ".join(web.healthcheck.test), f"healthcheck probes 443: {web.healthcheck.test}")
    e.expect(not any("$" in a for a in db.command.argv), f"unexpanded systemd variables: {db.command.argv}")
    e.expect(not any(p.publish for p in db.ports), "MariaDB was bound to 127.0.0.1 in the VM but is published")
    sock_dir = facts["services"]["mariadb"]["socket"].rsplit("/", 1)[0]
    e.expect(sock_dir in web.model_dump_json(), f"nothing gives the web container MariaDB's socket in {sock_dir}")
    leaks = files_holding(lamp.out, facts["secrets"])
    e.expect(leaks == [], f"a guest password is in generated files: {leaks}")
    e.check()


@pytest.mark.docker
@pytest.mark.parametrize("swarm", [False, True], ids=["compose", "swarm"])
def test_lamp_end_to_end(corpus_lamp_images, tmp_path_factory, docker_engine, base_image, swarm):
    facts = corpus_lamp_images.facts
    probe = facts["probe"]
    if swarm and not docker_engine.swarm_active():
        pytest.fail("the engine is not a swarm manager: scripts/setup-host.sh runs `docker swarm init`")

    def page(run, engine, project):
        assert get_body(engine, run, project, "apache", probe["port"], probe["path"]) == probe["body"]

    run = CorpusRun("corpus-lamp", [corpus_lamp_images["vmdk"]], facts,
                    workdir(tmp_path_factory, f"corpus-lamp-{'swarm' if swarm else 'compose'}"))
    run_chain(run, docker_engine, base_image, swarm=swarm, probe=page)
    run.conclude()
