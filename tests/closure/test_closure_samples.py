"""Package closure on the real sample guests (built by migrate.samples from Debian 12 packages).

flagship: the app's Python imports bring python3-psycopg2/python3-redis; PostgreSQL behind Debian's
/bin/true wrapper unit gets postgresql-15 from the container's foreground command; multiarch list
files (libc6:amd64.list) answer for /lib paths. classic: Apache's enabled mod_php and the mysqli
extension PHP loads bring libapache2-mod-php8.2 and php8.2-mysql."""

from __future__ import annotations

import time

import pytest

from migrate.closure import closure_of, package_closure, package_db
from migrate.inspect import inventory_of, open_vm

pytestmark = pytest.mark.image


def _closures(images, commands=None):
    commands = commands or {}
    with open_vm(images if isinstance(images, list) else [images]) as vm:
        inv = inventory_of(vm)
        rootfs = vm.guest.rootfs
        t0 = time.monotonic()
        db = package_db(rootfs)
        index_seconds = time.monotonic() - t0
        out = {s.name: closure_of(inv, s, rootfs, db, commands.get(s.name)) for s in inv.services
               if s.state == "enabled" and not s.vm_only}
        decisions = {name: package_closure(inv, inv.service(name), rootfs, "apt", command=commands.get(name))[0]
                     for name in out}
        multiarch = db.owners("/lib/x86_64-linux-gnu/libc.so.6")
    return inv, out, decisions, index_seconds, multiarch


@pytest.fixture(scope="module")
def flagship(flagship_images):
    return _closures(flagship_images["qcow2"], {
        "postgresql": ["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/15/main"]})


def test_flagship_app_gets_the_modules_it_imports(flagship) -> None:
    inv, closures, decisions, seconds, multiarch = flagship
    shop = closures["shop"]
    assert "module psycopg2, imported by /opt/shop/app.py" in shop.packages["python3-psycopg2"].reasons[0]
    assert "module redis, imported by /opt/shop/app.py" in shop.packages["python3-redis"].reasons[0]
    assert any(r.startswith("owns /usr/bin/python3.11") for r in shop.packages["python3.11-minimal"].reasons)
    assert "/opt/shop/app.py" in {u.path for u in shop.unowned}  # the app itself is copied, not installed
    versions = {p.name: p.version for p in inv.packages}
    assert all(i.version == versions[i.name] and i.reason for i in decisions["shop"].items)
    assert multiarch == ["libc6"]
    assert seconds < 5


def test_flagship_servers(flagship) -> None:
    _inv, closures, decisions, _s, _m = flagship
    pg = closures["postgresql"]
    assert any("/usr/lib/postgresql/15/bin/postgres" in r for r in pg.packages["postgresql-15"].reasons)
    assert pg.packages["coreutils"].in_base  # /bin/true of the wrapper unit: every base image has it
    assert "coreutils" not in {i.name for i in decisions["postgresql"].items}
    assert any(r.startswith("owns /usr/sbin/nginx") for r in closures["nginx"].packages["nginx"].reasons)
    redis = closures["redis-server"].packages
    assert "redis-server" in redis and "redis-tools" in redis  # the link and the binary it points to


def test_classic_apache_gets_mod_php_and_mysqli(classic_images) -> None:
    inv, closures, decisions, _s, _m = _closures(classic_images["raw"])
    apache = next(name for name, c in closures.items() if "apache2" in c.packages)
    pkgs = closures[apache].packages
    assert any("libphp8.2.so" in r or "php8.2.load" in r for r in pkgs["libapache2-mod-php8.2"].reasons)
    assert any("mysqli" in r for r in pkgs["php8.2-mysql"].reasons), pkgs["php8.2-mysql"].reasons
    assert {"apache2", "apache2-bin", "libapache2-mod-php8.2", "php8.2-mysql"} <= {
        i.name for i in decisions[apache].items}


def _corpus_disks(name: str) -> list:
    """The disks of a corpus guest in one format, in disk order (files.json: "vmdk", or "vhdx", "vhdx-2")."""
    from tests.images_fixtures import _sample

    images = _sample(name)
    first = sorted(images.files)[0].split("-")[0]
    return [images.files[k] for k in sorted(images.files) if k == first or k.startswith(first + "-")]


def test_corpus_lamp_mod_php_and_mysqli() -> None:
    """The issue's first guest: the image installed apache2 and apache2-bin only ("Cannot load
    libphp8.2.so"), and mysqli was missing."""
    _inv, closures, decisions, _s, _m = _closures(_corpus_disks("corpus-lamp"))
    names = {i.name for i in decisions["apache2"].items}
    assert {"apache2", "apache2-bin", "libapache2-mod-php8.2", "php8.2-mysql"} <= names
    assert any("mysqli.so" in r for r in closures["apache2"].packages["php8.2-mysql"].reasons)
    assert "mariadb-server-core" in {i.name for i in decisions["mariadb"].items}


def test_corpus_tomcat_gets_tomcat_and_the_jdbc_driver_it_links() -> None:
    """The issue's second guest: the tomcat image installed no package at all. The JDBC driver is a
    link in CATALINA_BASE/lib to libpostgresql-jdbc-java's JAR; the WAR is the application (copied)."""
    with open_vm(_corpus_disks("corpus-tomcat")) as vm:
        inv = inventory_of(vm)
        rootfs = vm.guest.rootfs
        s = inv.service("tomcat10")
        c = closure_of(inv, s, rootfs, package_db(rootfs))
    assert any("tomcat-start.sh" in r for r in c.packages["tomcat10"].reasons)
    jdbc = c.packages["libpostgresql-jdbc-java"].reasons
    assert any("linked from /var/lib/tomcat10/lib/postgresql.jar" in r for r in jdbc), jdbc
    assert "/var/lib/tomcat10/webapps/orders.war" in {u.path for u in c.unowned}



def test_corpus_nginx_tls_module_and_wsgi_app() -> None:
    """The issue's third guest: nginx-light enables the echo module through modules-enabled (the
    image lacked libnginx-mod-http-echo: "dlopen() ... failed"); gunicorn is given its application as
    a module name (``app:app`` with --chdir), whose imports bring Flask, psycopg2 and redis."""
    _inv, closures, decisions, _s, _m = _closures(_corpus_disks("corpus-nginx-tls"))
    echo = closures["nginx"].packages["libnginx-mod-http-echo"].reasons
    assert any("modules-enabled/50-mod-http-echo.conf" in r for r in echo), echo
    assert "nginx-light" not in closures["nginx"].packages
    notes = closures["notes"].packages
    for pkg, module in (("python3-flask", "flask"), ("python3-psycopg2", "psycopg2"), ("python3-redis", "redis")):
        assert any(f"module {module}, imported by /srv/notes/app.py" in r for r in notes[pkg].reasons), pkg
    assert "gunicorn" in {i.name for i in decisions["notes"].items}


def test_convert_writes_the_closure_into_plan_yaml(tmp_path) -> None:
    """The planner's packages step is the closure when convert reads a guest: plan.yaml carries each
    package pinned to the VM's version with the files that made it needed."""
    from migrate.generate import convert
    from migrate.model.plan import Plan

    _result, _plan = convert(_corpus_disks("corpus-lamp"), tmp_path / "stack")
    plan = Plan.load(tmp_path / "stack/plan.yaml")
    [httpd] = [c for c in plan.containers if c.source_service == "apache2"]
    items = {i.name: i for i in httpd.packages.items}
    assert items["libapache2-mod-php8.2"].spec == f"libapache2-mod-php8.2={items['libapache2-mod-php8.2'].version}"
    assert "php8.2" in (items["libapache2-mod-php8.2"].reason or "")
    assert "mysqli" in (items["php8.2-mysql"].reason or "")
    assert "dpkg file lists" in httpd.packages.reason
