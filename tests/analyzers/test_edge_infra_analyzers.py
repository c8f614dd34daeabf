"""haproxy, varnish, lighttpd, bind, slapd, mosquitto and prometheus analyzers.

Each test starts from the files the real Debian 12 package installs (``debian_package`` fetches and
unpacks the .deb) and adds what an admin writes, the way the corpus guests do; the expectations are
what those servers really do with that configuration (ports, connections, data, secrets).
"""

from __future__ import annotations

from migrate.analyzers.bind import BindAnalyzer
from migrate.analyzers.haproxy import HaproxyAnalyzer
from migrate.analyzers.lighttpd import LighttpdAnalyzer
from migrate.analyzers.mosquitto import MosquittoAnalyzer
from migrate.analyzers.prometheus import PrometheusAnalyzer
from migrate.analyzers.slapd import SlapdAnalyzer
from migrate.analyzers.systemd import SystemdAnalyzer
from migrate.analyzers.sysv import SysVAnalyzer
from migrate.analyzers.varnish import VarnishAnalyzer
from tests.analyzers.debs import debian_package, install


def test_haproxy_binds_servers_and_secrets(tree, run):
    root = debian_package("haproxy/bookworm")
    install(tree, root, "/lib/systemd/system/haproxy.service")
    tree.enable("haproxy.service")
    tree.write("/etc/haproxy/haproxy.cfg", "global\n\tuser haproxy\n\tgroup haproxy\n\tdaemon\n\n"
               "defaults\n\tmode http\n\ttimeout client 30s\n\n"
               "frontend fe # the public side\n\tbind *:8000\n\tbind 127.0.0.1:8404\n\tdefault_backend apps\n"
               "\tstats auth admin:Hp-St4ts-S3cret\n\n"
               "backend apps\n\tbalance roundrobin\n\tserver a1 127.0.0.1:3001 check\n\tserver a2 10.0.0.7:3002 check\n"
               "\nlisten db\n\tmode tcp\n\tbind :5433\n\tserver pg 10.0.0.9:5432\n")
    f, _ = run(tree, HaproxyAnalyzer(), SystemdAnalyzer())
    assert {(p.address, p.port) for p in f.ports} == {(None, 8000), ("127.0.0.1", 8404), (None, 5433)}
    assert {(c.scheme, c.host, c.port) for c in f.connections} == {
        ("http", "127.0.0.1", 3001), ("http", "10.0.0.7", 3002), ("tcp", "10.0.0.9", 5432)}
    assert [s.key for s in f.secrets] == ["stats auth admin"] and "Hp-St4ts-S3cret" not in f.model_dump_json()
    assert f.services[0].name == "haproxy" and f.services[0].role == "haproxy"
    assert f.configs[0].contains_secrets


def test_varnish_dropin_command_and_vcl_backends(tree, run):
    root = debian_package("varnish/bookworm")
    install(tree, root, "/lib/systemd/system/varnish.service", "/etc/default/varnish")
    tree.enable("varnish.service")
    tree.write("/etc/systemd/system/varnish.service.d/override.conf",
               "[Service]\nExecStart=\nExecStart=/usr/sbin/varnishd -j unix,user=vcache -F -a :80 -T localhost:6082 "
               "-f /etc/varnish/site.vcl -S /etc/varnish/secret -s malloc,64m\n")
    tree.write("/etc/varnish/secret", "0f2a6c1e-secret-from-postinst\n", mode=0o600)
    tree.write("/etc/varnish/site.vcl", 'vcl 4.1;\ninclude "backends.vcl";\n// backend old { .host = "1.2.3.4"; }\n')
    tree.write("/etc/varnish/backends.vcl", 'backend lb {\n    .host = "127.0.0.1";\n    .port = "8000";\n}\n'
                                            'backend api { .host = "api.internal:9000"; }\n')
    f, _ = run(tree, VarnishAnalyzer(), SystemdAnalyzer())
    assert {(p.address, p.port) for p in f.ports} == {(None, 80), ("localhost", 6082)}
    assert {(c.host, c.port, c.via) for c in f.connections} == {("127.0.0.1", 8000, "vcl backend lb"),
                                                                ("api.internal", 9000, "vcl backend api")}
    secret = next(c for c in f.configs if c.path == "/etc/varnish/secret")
    assert secret.contains_secrets and not f.secrets  # never copied, never recorded
    assert f.services[0].role == "varnish"


def test_varnish_package_default_listens_on_6081(tree, run):
    root = debian_package("varnish/bookworm")
    install(tree, root, "/lib/systemd/system/varnish.service", "/etc/varnish/default.vcl")
    tree.enable("varnish.service")
    f, _ = run(tree, VarnishAnalyzer(), SystemdAnalyzer())
    assert (None, 6081) in {(p.address, p.port) for p in f.ports}
    assert {(c.host, c.port) for c in f.connections} == {("127.0.0.1", 8080)}  # the package's example backend


def test_lighttpd_port_docroot_and_conf_enabled(tree, run):
    root = debian_package("lighttpd/bookworm")
    install(tree, root, "/etc/lighttpd/lighttpd.conf", "/etc/lighttpd/conf-available", "/lib/systemd/system")
    tree.link("/etc/lighttpd/conf-enabled/10-proxy.conf", "../conf-available/10-proxy.conf")
    tree.write("/etc/lighttpd/conf-enabled/20-site.conf",
               '$SERVER["socket"] == ":8443" { ssl.engine = "disable" }\n'
               'proxy.server = ( "/api" => (( "host" => "127.0.0.1", "port" => 9000 )) )\n')
    conf = tree.host("/etc/lighttpd/lighttpd.conf")
    conf.write_text('var.site = "/srv"\n' + conf.read_text().replace('"/var/www/html"', 'var.site + "/static"')
                    .replace("= 80", "= 8081"))
    tree.mkdir("/srv/static")
    tree.enable("lighttpd.service")
    f, _ = run(tree, LighttpdAnalyzer(), SystemdAnalyzer())
    assert {p.port for p in f.ports} == {8081, 8443}
    assert [p.path for p in f.persistent_paths] == ["/srv/static"]
    assert {(c.host, c.port) for c in f.connections} == {("127.0.0.1", 9000)}
    assert "/etc/lighttpd/conf-enabled/20-site.conf" in {c.path for c in f.configs}
    assert not f.unknowns, "Debian's include_shell helpers (MIME types, IPv6 on the same port) add no unknown"


def test_bind_zones_keys_and_listen(tree, run):
    root = debian_package("bind9/bookworm")
    install(tree, root, "/etc/bind", "/lib/systemd/system/named.service")
    tree.enable("named.service")
    tree.write("/etc/bind/named.conf.local",
               '/* corp */\nzone "corp.example" { type primary; file "/etc/bind/db.corp"; };\n'
               'zone "dyn.example" IN { type master; file "dyn.db"; allow-update { key up; }; };\n'
               'key "up" { algorithm hmac-sha256; secret "c2VjcmV0LWtleS1ieXRlcw=="; };\n')
    tree.write("/etc/bind/db.corp", "$TTL 60\n@ IN SOA ns1 h 1 1 1 1 1\n")
    tree.mkdir("/var/cache/bind")
    f, _ = run(tree, BindAnalyzer(), SystemdAnalyzer())
    assert {(p.proto, p.port) for p in f.ports} == {("udp", 53), ("tcp", 53)}
    zones = {c.path for c in f.configs if c.kind == "zone"}
    assert "/etc/bind/db.corp" in zones and "/etc/bind/db.local" in zones  # the package's default zones too
    assert "/var/cache/bind" in {p.path for p in f.persistent_paths}  # options directory, where dyn.db lives
    assert [s.key for s in f.secrets] == ["key up"] and "c2VjcmV0" not in f.model_dump_json()
    assert f.services[0].name == "named" and f.services[0].role == "bind"


def test_slapd_cn_config_sysv_command(tree, run):
    root = debian_package("slapd/bookworm")
    install(tree, root, "/etc/default/slapd", "/etc/init.d/slapd")
    tree.link("/etc/rc2.d/S01slapd", "../init.d/slapd")
    tree.write("/etc/ldap/slapd.d/cn=config.ldif", "dn: cn=config\nobjectClass: olcGlobal\ncn: config\n")
    tree.write("/etc/ldap/slapd.d/cn=config/olcDatabase={1}mdb.ldif",
               "# AUTO-GENERATED FILE - DO NOT EDIT!! Use ldapmodify.\ndn: olcDatabase={1}mdb\n"
               "olcDatabase: {1}mdb\nolcDbDirectory: /var/lib/ldap\nolcSuffix: dc=corp,dc=exa\n mple\n"
               "olcRootDN: cn=admin,dc=corp,dc=example\nolcRootPW:: e1NTSEF9c2VjcmV0aGFzaA==\n")
    tree.mkdir("/var/lib/ldap")
    f, _ = run(tree, SlapdAnalyzer(), SystemdAnalyzer(), SysVAnalyzer())
    assert {(p.proto, p.port, p.path) for p in f.ports} == {("tcp", 389, None), ("unix", None, "/var/run/slapd/ldapi")}
    assert [(p.path, p.kind) for p in f.persistent_paths] == [("/var/lib/ldap", "database")]
    assert "dc=corp,dc=example" in f.persistent_paths[0].reason  # continuation line joined
    assert [(s.key, s.kind, s.redacted) for s in f.secrets] == [("olcRootPW", "password", "{SSHA}****")]
    svc = f.services[0]
    assert svc.exec_start == ["/usr/sbin/slapd", "-h", "ldap:/// ldapi:///", "-g", "openldap", "-u", "openldap",
                              "-F", "/etc/ldap/slapd.d"]


def test_mosquitto_listeners_password_file_persistence(tree, run):
    root = debian_package("mosquitto/bookworm")
    install(tree, root, "/etc/mosquitto/mosquitto.conf", "/lib/systemd/system/mosquitto.service")
    tree.enable("mosquitto.service")
    tree.write("/etc/mosquitto/conf.d/site.conf", "listener 1883\nlistener 9001 127.0.0.1\nallow_anonymous false\n"
                                                  "password_file /etc/mosquitto/passwd\n")
    tree.write("/etc/mosquitto/passwd", "sensor:$7$101$c2FsdA==$aGFzaA==\n", mode=0o640)
    tree.mkdir("/var/lib/mosquitto")
    f, _ = run(tree, MosquittoAnalyzer(), SystemdAnalyzer())
    assert {(p.address, p.port) for p in f.ports} == {(None, 1883), ("127.0.0.1", 9001)}
    assert [p.path for p in f.persistent_paths] == ["/var/lib/mosquitto"]  # persistence true in the package conf
    assert [(s.key, s.kind) for s in f.secrets] == [("sensor", "password")]
    assert next(c for c in f.configs if c.path == "/etc/mosquitto/passwd").contains_secrets


def test_prometheus_args_from_environment_file_and_scrape_targets(tree, run):
    for pkg, unit in (("prometheus", "prometheus"), ("prometheus-node-exporter", "prometheus-node-exporter")):
        root = debian_package(f"{pkg}/bookworm")
        install(tree, root, f"/lib/systemd/system/{unit}.service", f"/etc/default/{unit}")
        tree.enable(f"{unit}.service")
    tree.write("/etc/default/prometheus", 'ARGS="--web.listen-address=127.0.0.1:9091 '
                                          '--storage.tsdb.path=/srv/tsdb/"\n')
    tree.write("/etc/prometheus/prometheus.yml", "scrape_configs:\n  - job_name: node\n    static_configs:\n"
                                                 "      - targets: ['localhost:9100', 'db:9187']\n")
    tree.mkdir("/srv/tsdb")
    f, _ = run(tree, PrometheusAnalyzer(), SystemdAnalyzer())
    assert {(p.service, p.address, p.port) for p in f.ports} == {("prometheus", "127.0.0.1", 9091),
                                                                  ("prometheus-node-exporter", None, 9100)}
    assert [(p.path, p.kind) for p in f.persistent_paths] == [("/srv/tsdb", "database")]
    assert {(c.host, c.port) for c in f.connections} == {("localhost", 9100), ("db", 9187)}
    assert {s.name: s.role for s in f.services} == {"prometheus": "prometheus",
                                                    "prometheus-node-exporter": "prometheus-exporter"}


def test_hostile_configs_stay_bounded(tree, run):
    """A YAML alias bomb in prometheus.yml and VCL/lighttpd files that include themselves end quickly."""
    import time

    tree.write("/lib/systemd/system/prometheus.service", "[Service]\nExecStart=/usr/bin/prometheus\n")
    tree.enable("prometheus.service")
    bomb = "a: &a ['x','x','x','x','x','x','x','x','x']\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n" for i in range(8))
    tree.write("/etc/prometheus/prometheus.yml", bomb + "scrape_configs:\n  - job_name: *i\n    static_configs:\n"
                                                   "      - targets: *i\n")
    t0 = time.monotonic()
    f, _ = run(tree, PrometheusAnalyzer(), SystemdAnalyzer())
    assert time.monotonic() - t0 < 5 and not f.connections
    tree.write("/etc/varnish/default.vcl", 'vcl 4.1;\ninclude "default.vcl";\ninclude "/etc/varnish/default.vcl";\n')
    f, _ = run(tree, VarnishAnalyzer(), SystemdAnalyzer())
    assert [c.path for c in f.configs] == ["/etc/varnish/default.vcl"]
    tree.write("/etc/lighttpd/lighttpd.conf", 'include "lighttpd.conf"\ninclude "/etc/lighttpd/*.conf"\n')
    f, _ = run(tree, LighttpdAnalyzer(), SystemdAnalyzer())
    assert [c.path for c in f.configs] == ["/etc/lighttpd/lighttpd.conf"]
    tree.write("/etc/bind/named.conf", 'options { directory "/var/cache/bind"; };\n'
               'include "/etc/bind/deep.conf";\n')
    tree.write("/etc/bind/deep.conf", "a {" * 5000 + "}" * 5000 + ";\n")
    f, _ = run(tree, BindAnalyzer(), SystemdAnalyzer())
    assert any("nested" in u.message for u in f.unknowns) and f.services
