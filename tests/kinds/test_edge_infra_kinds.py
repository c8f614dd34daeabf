"""Kinds of the corpus-lemp/edge/infra servers: matched from the analyzer's role or the executable, and
the container form of the VM's real Debian 12 command lines (copied from the packages' units, after
systemd's $VAR expansion)."""

from __future__ import annotations

import re

import pytest

from migrate.kinds import kind_for
from migrate.kinds.base import KindContext
from migrate.model.base import Evidence
from migrate.model.inventory import ConfigFile, Inventory, Service


def svc(name: str, argv: list[str], role: str | None = None) -> Service:
    return Service(name=name, manager="systemd", exec_start=argv, role=role,
                   evidence=[Evidence(analyzer="test", path=f"/lib/systemd/system/{name}.service")])


def ctx(s: Service) -> KindContext:
    return KindContext(service=s, inventory=Inventory.model_construct(), family="debian")


def edit(kind, kind_name: str, text: str) -> str:  # type: ignore[no-untyped-def]
    conf = ConfigFile(path="/etc/x", kind=kind_name, evidence=Evidence(analyzer="test", path="/etc/x"))
    for e in kind.config_edits(conf, None):
        text = re.sub(e.pattern, e.replacement, text, flags=re.M)
    return text


CASES = [
    # name, role, VM argv, kind, the container's argv
    ("php8.2-fpm", "php-fpm",
     ["/usr/sbin/php-fpm8.2", "--nodaemonize", "--fpm-config", "/etc/php/8.2/fpm/php-fpm.conf"], "php-fpm", None),
    ("php-fpm", None, ["/usr/sbin/php-fpm8.2", "-D"], "php-fpm", ["/usr/sbin/php-fpm8.2", "--nodaemonize"]),
    ("lighttpd", "lighttpd", ["/usr/sbin/lighttpd", "-D", "-f", "/etc/lighttpd/lighttpd.conf"], "lighttpd", None),
    ("haproxy", "haproxy", ["/usr/sbin/haproxy", "-Ws", "-f", "/etc/haproxy/haproxy.cfg", "-p", "/run/haproxy.pid",
                            "-S", "/run/haproxy-master.sock"],
     "haproxy", ["/usr/sbin/haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]),
    ("varnish", "varnish", ["/usr/sbin/varnishd", "-j", "unix,user=vcache", "-F", "-a", ":80", "-T", "localhost:6082",
                            "-f", "/etc/varnish/default.vcl", "-S", "/etc/varnish/secret", "-s", "malloc,64m"],
     "varnish", ["/usr/sbin/varnishd", "-F", "-j", "unix,user=vcache", "-a", ":80", "-T", "localhost:6082", "-f",
                 "/etc/varnish/default.vcl", "-s", "malloc,64m"]),
    ("named", "bind", ["/usr/sbin/named", "-f", "-u", "bind"], "bind", ["/usr/sbin/named", "-f"]),
    ("slapd", "slapd", ["/usr/sbin/slapd", "-h", "ldap:/// ldapi:///", "-g", "openldap", "-u", "openldap", "-F",
                        "/etc/ldap/slapd.d"],
     "slapd", ["/usr/sbin/slapd", "-d", "256", "-h", "ldap:/// ldapi:///", "-F", "/etc/ldap/slapd.d"]),
    ("mosquitto", "mosquitto", ["/usr/sbin/mosquitto", "-c", "/etc/mosquitto/mosquitto.conf"], "mosquitto", None),
    ("prometheus", "prometheus", ["/usr/bin/prometheus", "--config.file=/etc/prometheus/prometheus.yml"],
     "prometheus", None),
    ("prometheus-node-exporter", "prometheus-exporter", ["/usr/bin/prometheus-node-exporter"],
     "prometheus-exporter", None),
]  # fmt: skip


@pytest.mark.parametrize(("name", "role", "argv", "kind", "container_argv"), CASES, ids=[c[0] for c in CASES])
def test_foreground_forms(name, role, argv, kind, container_argv) -> None:
    s = svc(name, argv, role)
    k = kind_for(s)
    assert k.name == kind
    fg = k.foreground(argv, ctx(s))
    if container_argv is None:
        assert not k.daemonises(argv) and (fg is None or fg.argv == argv), "already in the foreground"
    else:
        assert k.daemonises(argv) or fg is not None
        assert fg is not None and fg.argv == container_argv and fg.reason


def test_matched_by_executable_without_a_role() -> None:
    for exe, kind in (("/usr/sbin/haproxy", "haproxy"), ("/usr/sbin/varnishd", "varnish"), ("/usr/sbin/named", "bind"),
                      ("/usr/sbin/slapd", "slapd"), ("/usr/bin/node_exporter", "prometheus-exporter")):  # fmt: skip
        assert kind_for(svc("x", [exe])).name == kind


def test_accounts_the_servers_drop_to() -> None:
    """Servers that drop privileges themselves run as root; those whose start only needs their account run
    as it (the VM's -u/-g options are dropped from the command above)."""
    assert {k: kind_for(svc(n, [e], k)).user for n, e, k in (
        ("named", "/usr/sbin/named", "bind"), ("slapd", "/usr/sbin/slapd", "slapd"),
        ("mosquitto", "/usr/sbin/mosquitto", "mosquitto"), ("lighttpd", "/usr/sbin/lighttpd", "lighttpd"))} == {
        "bind": "bind", "slapd": "openldap", "mosquitto": "mosquitto", "lighttpd": "www-data"}  # fmt: skip
    for n, e, k in (("haproxy", "/usr/sbin/haproxy", "haproxy"), ("varnish", "/usr/sbin/varnishd", "varnish"),
                    ("php8.2-fpm", "/usr/sbin/php-fpm8.2", "php-fpm")):
        kind = kind_for(svc(n, [e], k))
        assert kind.user is None and kind.drops_privileges, n


def test_config_edits() -> None:
    fpm = kind_for(svc("php8.2-fpm", ["/usr/sbin/php-fpm8.2"], "php-fpm"))
    pool = "[www]\nlisten = 127.0.0.1:9000\nlisten.allowed_clients = 127.0.0.1\nuser = www-data\n"
    assert edit(fpm, "php-fpm-pool", pool) == "[www]\nlisten = 0.0.0.0:9000\n;listen.allowed_clients = 127.0.0.1\n" \
                                              "user = www-data\n"
    sock = "[www]\nlisten = /run/php/php8.2-fpm.sock\n"
    assert edit(fpm, "php-fpm-pool", sock) == sock, "a socket pool is shared through a volume, not rewritten"
    hap = kind_for(svc("haproxy", ["/usr/sbin/haproxy"], "haproxy"))
    assert edit(hap, "haproxy.cfg", "frontend f\n\tbind 127.0.0.1:8000\n\tbind *:80\n") == \
        "frontend f\n\tbind :8000\n\tbind *:80\n"
    light = kind_for(svc("lighttpd", ["/usr/sbin/lighttpd"], "lighttpd"))
    assert edit(light, "lighttpd.conf", 'server.port = 80\nserver.pid-file = "/run/lighttpd.pid"\n') == \
        'server.port = 80\n#server.pid-file = "/run/lighttpd.pid"\n'
    mq = kind_for(svc("mosquitto", ["/usr/sbin/mosquitto"], "mosquitto"))
    assert edit(mq, "mosquitto.conf", "log_dest file /var/log/mosquitto/mosquitto.log\n") == "log_dest stderr\n"
