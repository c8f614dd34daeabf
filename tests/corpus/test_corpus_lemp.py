"""corpus-lemp (nginx + PHP-FPM 8.2 + MariaDB, lighttpd on 8081; MBR ext4 + a whole-disk xfs data disk;
two VHDX files). What the VM did, the stack must do: nginx hands index.php to PHP-FPM over its Unix
socket and the page lists the rows MariaDB holds (PDO over TCP 127.0.0.1:3306); lighttpd serves the
static site from /srv."""

from __future__ import annotations

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
    package_names,
    plan_of,
    ports_of,
    retry,
    run_chain,
    workdir,
)

pytestmark = pytest.mark.image


def disks(sample):  # type: ignore[no-untyped-def]
    return [sample["vhdx"], sample["vhdx-data"]]


@pytest.fixture(scope="module")
def lemp(corpus_lemp_images, tmp_path_factory):
    return convert_guest(disks(corpus_lemp_images), workdir(tmp_path_factory, "corpus-lemp-convert"))


def test_lemp_inventory(corpus_lemp_images):
    """Both disks are read and mounted per fstab; services, ports, binds, the socket, data and webroots."""
    facts = corpus_lemp_images.facts
    inv = inspect_images(disks(corpus_lemp_images), "auto")
    assert inv.network.hostname == facts["hostname"]
    mounts = {f.mountpoint: f.fstype for f in inv.filesystems if f.mountpoint}
    assert mounts == facts["filesystems"], "the xfs data disk is mounted at /var/lib/mysql"
    web, fpm, db, static = (by_role(inv, r) for r in ("nginx", "php-fpm", "mysql", "lighttpd"))
    assert 80 in ports_of(inv, web.name)
    assert ports_of(inv, static.name).keys() == {facts["ports"]["lighttpd"]}
    assert ports_of(inv, db.name)[3306].address == "127.0.0.1"
    sock = facts["services"]["php8.2-fpm"]["socket"]
    assert any(p.proto == "unix" and p.path == sock for p in inv.ports if p.service == fpm.name)
    assert any(c.from_service == web.name and sock in c.url_redacted for c in inv.connections), \
        "nginx's fastcgi_pass to the PHP-FPM socket is a connection"
    paths = {p.path: p for p in inv.persistent_paths}
    assert paths[facts["services"]["mariadb"]["datadir"]].file_count, "the MariaDB datadir on the data disk is read"
    assert {facts["services"]["nginx"]["root"], facts["services"]["lighttpd"]["document_root"]} <= paths.keys()
    assert not any(v in inv.to_json() for v in facts["secrets"])
    names = {s.name for s in inv.services}
    assert not names & {"haproxy", "varnish", "named", "slapd", "mosquitto", "prometheus"}, \
        "packages of the other corpus guests were purged"


def test_lemp_convert_fast(lemp):
    assert lemp.cpu_seconds < 2.0, f"convert: {lemp.cpu_seconds:.2f} s CPU ({lemp.seconds:.2f} s wall)"


def test_lemp_plan(lemp, corpus_lemp_images):
    """What this stack needs from the plan, each checked separately (docs/fidelity.md lists them)."""
    facts = corpus_lemp_images.facts
    web = containers_with_role(lemp.plan, "nginx")[0]
    fpm = containers_with_role(lemp.plan, "php-fpm")[0]
    db = containers_with_role(lemp.plan, "mysql")[0]
    static = containers_with_role(lemp.plan, "lighttpd")[0]
    e = Expectations()
    e.expect("php8.2-mysql" in package_names(fpm),
             f"pdo_mysql is enabled in /etc/php/8.2/fpm/conf.d but php8.2-mysql is not installed: "
             f"{sorted(package_names(fpm))}")
    e.expect("--nodaemonize" in fpm.command.argv or "-F" in fpm.command.argv, f"php-fpm: {fpm.command.argv}")
    e.expect("-D" in static.command.argv, f"lighttpd: {static.command.argv}")
    e.expect(not any(p.publish for p in db.ports), "MariaDB was bound to 127.0.0.1 in the VM but is published")
    sock_dir = facts["services"]["php8.2-fpm"]["socket"].rsplit("/", 1)[0]
    shared = {v.target for v in web.volumes} & {v.target for v in fpm.volumes}
    e.expect(sock_dir in shared, f"nginx reaches PHP-FPM at its socket in {sock_dir}: no volume shares it (nginx "
                                 f"{[v.target for v in web.volumes]}, php-fpm {[v.target for v in fpm.volumes]})")
    root = facts["services"]["nginx"]["root"]
    e.expect(any(f.kind == "tree" and f.source == root for f in fpm.files),
             f"PHP-FPM executes the PHP files of {root}: the tree is not in its image")
    leaks = files_holding(lemp.out, facts["secrets"])
    e.expect(leaks == [], f"a guest password is in generated files: {leaks}")
    e.check()


@pytest.mark.docker
def test_lemp_end_to_end(corpus_lemp_images, tmp_path_factory, docker_engine, base_image):
    facts = corpus_lemp_images.facts

    def pages(run, engine, project):
        plan = plan_of(run)
        for probe, role in ((facts["probes"]["http_php"], "nginx"), (facts["probes"]["http_static"], "lighttpd")):
            host = container_address(engine, project, containers_with_role(plan, role)[0].name)

            def get(probe=probe, host=host):
                status, body = http_get(host, probe["port"], probe["path"])
                assert status == 200, (status, body[:300])
                return body.decode()

            assert retry(get) == probe["body"], f"{role} {probe['path']}"

    run = CorpusRun("corpus-lemp", disks(corpus_lemp_images), facts, workdir(tmp_path_factory, "corpus-lemp-compose"))
    run_chain(run, docker_engine, base_image, probe=pages)
    run.conclude()
