"""The kind registry: explicit, unique, and the one source of tables that used to exist twice."""

from __future__ import annotations

import pytest

from migrate.analyzers import _support
from migrate.analyzers._vmonly import vm_only_reason as analyzer_vm_only
from migrate.kinds import BUILTIN, GENERIC, Kind, builtin_kinds, kind_for, kind_named, scheme_ports
from migrate.kinds.base import KindContext, drop_options
from migrate.kinds.vmonly import vm_only_reason
from migrate.model.base import Evidence
from migrate.model.inventory import Inventory, Service


def svc(name: str, argv: list[str], role: str | None = None, unit_type: str | None = None) -> Service:
    return Service(name=name, manager="systemd", exec_start=argv, role=role, unit_type=unit_type,
                   evidence=[Evidence(analyzer="test", path=f"/lib/systemd/system/{name}.service")])


def test_registry_is_explicit_and_unique() -> None:
    names = [k.name for k in builtin_kinds()]
    assert len(names) == len(set(names))
    assert all(isinstance(k, Kind) and k.name for k in BUILTIN)
    roles = [r for k in BUILTIN for r in k.roles]
    assert len(roles) == len(set(roles)), "two kinds claim one analyzer role"


def test_kind_by_role_then_executable_else_generic() -> None:
    assert kind_for(svc("db", ["/usr/bin/true"], role="postgresql")).name == "postgresql"
    # no role (an analyzer did not run): the executable decides
    assert kind_for(svc("cache", ["/usr/bin/redis-server", "/etc/redis/redis.conf"])).name == "redis"
    assert kind_for(svc("thing", ["/opt/thing/bin/thing"])) is GENERIC
    assert kind_named("httpd").name == kind_named("apache").name == "apache"
    assert kind_named(None) is GENERIC


def test_scheme_ports_is_the_table_of_analyzers_and_graph() -> None:
    from migrate import graph

    table = scheme_ports()
    assert table == _support.DEFAULT_PORTS
    assert table == graph.DEFAULT_PORTS
    assert table["jdbc:postgresql"] == 5432 and table["ldaps"] == 636


def test_vm_only_is_one_table() -> None:
    assert analyzer_vm_only is vm_only_reason
    for name in ("sshd", "getty@tty1", "cron", "systemd-logind", "rsyslog", "unattended-upgrades", "kdump"):
        assert vm_only_reason(name), name
    for name in ("postgresql@15-main", "nginx", "shop", "mariadb"):
        assert vm_only_reason(name) is None, name
    assert vm_only_reason("whatever", role="sshd")


@pytest.mark.parametrize(("argv", "daemonises"), [
    (["/usr/sbin/apachectl", "start"], True),
    (["/usr/sbin/apache2ctl", "-DFOREGROUND"], False),
    (["/usr/sbin/httpd", "-DFOREGROUND"], False),
])
def test_apache_foreground(argv: list[str], daemonises: bool) -> None:
    s = svc("apache2", argv, role="apache", unit_type="forking")
    k = kind_for(s)
    assert k.daemonises(argv) is daemonises
    ctx = KindContext(service=s, inventory=Inventory.model_construct(), family="debian")
    fg = k.foreground(argv, ctx)
    if daemonises:
        assert fg is not None and fg.argv[0] == "/bin/sh"
        assert fg.argv[2].startswith(". /etc/apache2/envvars && mkdir -p \"${APACHE_RUN_DIR:-/var/run/apache2}\" ")
        assert fg.argv[2].endswith(" && exec /usr/sbin/apache2 -DFOREGROUND")
    else:
        assert fg is None


def test_mysql_wrapper_becomes_the_server() -> None:
    s = svc("mysql", ["/usr/bin/mysqld_safe", "--datadir=/var/lib/mysql"], role="mysql")
    k = kind_for(s)
    assert k.daemonises(s.exec_start)
    fg = k.foreground(s.exec_start, KindContext(service=s, inventory=Inventory.model_construct()))
    assert fg.argv == ["/usr/sbin/mysqld", "--datadir=/var/lib/mysql", "--bind-address=0.0.0.0"]
    assert k.container_name(svc("mariadb", ["/usr/sbin/mariadbd"], role="mysql")) == "mariadb"


def test_drop_options() -> None:
    argv = ["redis-server", "/etc/redis.conf", "--supervised", "systemd", "--daemonize=yes", "--port", "1"]
    assert drop_options(argv, {"--supervised": 1, "--daemonize": 1}) == ["redis-server", "/etc/redis.conf",
                                                                         "--port", "1"]


def test_memcached_wrapper_becomes_memcached_itself(tmp_path) -> None:
    """Debian's wrapper refuses to run unless root; the container form execs memcached with the
    options of the config file, as the wrapper reads them, listening on all addresses. Run for real
    with sh and sed on a Debian-style memcached.conf."""
    import subprocess

    s = svc("memcached", ["/usr/share/memcached/scripts/systemd-memcached-wrapper", str(tmp_path / "m.conf")],
            role="memcached")
    (tmp_path / "m.conf").write_text("# memcached default config\n-d\nlogfile /var/log/memcached.log\n-m 64\n"
                                     "-p 11211\n-u memcache\n-l 127.0.0.1\n-P /var/run/memcached/memcached.pid\n")
    fg = kind_for(s).foreground(s.exec_start, KindContext(service=s, inventory=Inventory.model_construct()))
    assert fg.argv[:2] == ["/bin/sh", "-c"] and "only runs as root" in fg.reason
    echo = fg.argv[2].replace("exec /usr/bin/memcached", "exec echo")
    out = subprocess.run(["/bin/sh", "-c", echo], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["-m", "64", "-p", "11211", "-u", "memcache", "-P", "/var/run/memcached/memcached.pid",
                   "-l", "0.0.0.0"]
