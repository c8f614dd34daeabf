"""Numbers in a hostile guest (docs/security.md, "Cases → exit code (outputs and analyzers)").

CPython refuses int() of more than 4300 digits, and a number that converts may still be absurd (port
99999, a uid past 2^32). Every analyzer that read a number from a guest file with int() lost its
whole output to one such line: the runner turned the ValueError into a single "analyzer failed"
unknown. The guest below puts a 5000-digit number in every place an analyzer reads one, beside a
good line of the same kind; each analyzer must keep the good facts and name the bad file (and
line, where the format has lines) in an unknown that does not quote it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.analysis import run_analyzers
from migrate.rootfs import RootFS

HUGE = "9" * 5000  # int() raises ValueError past 4300 digits

APP_PY = 'import os\nfrom http.server import HTTPServer\nHTTPServer(("", int(os.environ["PORT"])), None)\n'
SERVER_XML = (f'<Server port="-1" shutdown="SHUTDOWN"><Service name="Catalina">'
              f'<Connector port="{HUGE}" protocol="HTTP/1.1"/><Connector port="99999" protocol="HTTP/1.1"/>'
              f'<Connector port="8080" protocol="HTTP/1.1"/>'
              f'<Engine name="Catalina" defaultHost="localhost"><Host name="localhost" appBase="webapps"/></Engine>'
              f'</Service></Server>')

GUEST = {
    "/etc/os-release": 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n',
    "/etc/debian_version": "12.5\n",
    "/etc/passwd": (f"root:x:0:0:root:/root:/bin/bash\nevil:x:{HUGE}:0::/:/bin/sh\nbig:x:4294967296:0::/:/bin/sh\n"
                    "app:x:990:990::/srv/app:/bin/sh\n"),
    "/etc/group": f"root:x:0:\nevil:x:{HUGE}:\napp:x:990:\n",
    "/etc/login.defs": f"UID_MIN {HUGE}\n",
    "/etc/fstab": f"/dev/sda1 / ext4 defaults 0 1\n/dev/sdb1 /srv ext4 defaults {HUGE} 2\n",
    "/etc/ssh/sshd_config": f"Port {HUGE}\nPort 2222\nPort 99999\n",
    "/usr/sbin/mysqld": "",
    "/etc/mysql/my.cnf": f"[mysqld]\nport = {HUGE}\nbind-address = 127.0.0.1\ndatadir = /srv/mysql\n",
    "/etc/postgresql/15/main/postgresql.conf": f"port = {HUGE}\nlisten_addresses = '*'\n",
    "/etc/redis/redis.conf": f"port {HUGE}\nbind 127.0.0.1\ndir /var/lib/redis\n",
    "/etc/memcached.conf": f"-p {HUGE}\n-U {HUGE}\n-u memcache\n-l 127.0.0.1\n",
    "/etc/mosquitto/mosquitto.conf": f"listener {HUGE}\nlistener 1883\nport 99999\n",
    "/etc/lighttpd/lighttpd.conf": (f'server.port = {HUGE}\nserver.document-root = "/var/www/html"\n'
                                    f'proxy.server = ( "/a" => (( "host" => "127.0.0.1", "port" => {HUGE} )),\n'
                                    f'  "/b" => (( "host" => "127.0.0.1", "port" => 9000 )) )\n'),
    "/etc/bind/named.conf": (f'options {{ directory "/var/cache/bind"; listen-on port {HUGE} {{ any; }}; '
                             'listen-on-v6 port 5353 { any; }; };\n'),
    "/etc/tomcat10/server.xml": SERVER_XML,
    "/etc/varnish/default.vcl": (f'vcl 4.1;\nbackend bad {{ .host = "127.0.0.1"; .port = "{HUGE}"; }}\n'
                                 'backend good { .host = "127.0.0.1"; .port = "8000"; }\n'),
    "/etc/ldap/slapd.conf": "suffix dc=corp\ndirectory /var/lib/ldap\n",
    "/etc/default/slapd": f'SLAPD_SERVICES="ldap://127.0.0.1:{HUGE}/ ldap://127.0.0.1:3389/ ldapi:///"\n',
    "/etc/systemd/system/shop.service": (f"[Service]\nUser={HUGE}\nGroup=app\nWorkingDirectory=/srv/app\n"
                                         f"Environment=PORT={HUGE}\n"
                                         "ExecStart=/usr/bin/python3 /srv/app/app.py\n"),
    "/etc/systemd/system/api.service": (f"[Service]\nUser=app\nWorkingDirectory=/srv/api\n"
                                        f"ExecStart=/usr/bin/python3 /srv/api/api.py --port {HUGE}\n"),
    "/etc/systemd/system/web.service": "[Service]\nUser=app\nExecStart=/usr/bin/python3 /srv/web/web.py --port 8081\n",
    "/usr/bin/python3": "",
    "/srv/app/app.py": APP_PY,
    "/srv/api/api.py": APP_PY,
    "/srv/web/web.py": APP_PY,
    "/srv/app/.env": f"DB_CONNECTION=mysql\nDB_HOST=db\nDB_PORT={HUGE}\nDB_DATABASE=shop\nDB_USERNAME=shop\n",
}


def _guest(root: Path, files: dict[str, str]) -> RootFS:
    for path, text in files.items():
        host = root / path.lstrip("/")
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_text(text)
    for d in ("/srv/mysql", "/var/lib/redis", "/var/lib/ldap", "/var/cache/bind", "/var/www/html",
              "/etc/systemd/system/multi-user.target.wants"):
        (root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for unit in ("shop", "api", "web"):
        (root / f"etc/systemd/system/multi-user.target.wants/{unit}.service").symlink_to(f"../{unit}.service")
    return RootFS.from_directory(root)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory):
    result, _ctx = run_analyzers(_guest(tmp_path_factory.mktemp("guest"), GUEST))
    return result


def _unknowns(result, analyzer: str) -> list[tuple[str | None, str]]:
    return sorted((u.path, u.message) for u in result.merged.unknowns if u.analyzer == analyzer)


def _ports(result, service: str) -> set[tuple[str, int | None]]:
    return {(p.proto, p.port) for p in result.merged.ports if p.service == service}


def test_no_analyzer_fails_on_huge_numbers(analysed) -> None:
    failed = {r.name: [u.message for u in analysed.merged.unknowns if u.analyzer == r.name]
              for r in analysed.runs if r.status == "failed"}
    assert failed == {}
    for u in analysed.merged.unknowns:
        assert HUGE[:50] not in u.message  # an unknown names the file and line, never the text


def test_users_groups_keep_the_good_lines(analysed) -> None:
    assert {(u.name, u.uid) for u in analysed.merged.users} == {("root", 0), ("app", 990)}
    assert {g.name for g in analysed.merged.groups} == {"root", "app"}
    app = next(u for u in analysed.merged.users if u.name == "app")
    assert app.system is True  # UID_MIN of 5000 digits is taken as absent: 1000, so 990 is a system user
    assert _unknowns(analysed, "users_groups") == [
        ("/etc/group", "line 2: not a group entry"),
        ("/etc/login.defs",
         "line 1: the lowest user id is not a number from 0 to 4294967294; the setting is taken as absent"),
        ("/etc/passwd", "line 2: not a passwd entry"),
        ("/etc/passwd", "line 3: not a passwd entry")]  # uid 2^32: no uid_t


def test_fstab_keeps_both_mounts(analysed) -> None:
    assert [(m.mountpoint, m.dump, m.passno) for m in analysed.merged.mounts] == [("/", 0, 1), ("/srv", 0, 2)]
    assert _unknowns(analysed, "fstab") == [
        ("/etc/fstab", "line 2: the dump field is not a number from 0 to 255; the setting is taken as absent")]


def test_sshd_keeps_its_good_port(analysed) -> None:
    assert {p for _, p in _ports(analysed, "sshd")} == {2222}
    assert [m for _, m in _unknowns(analysed, "sshd")] == [
        "line 1: Port is not a number from 1 to 65535; the setting is taken as absent",
        "line 3: Port is not a number from 1 to 65535; the setting is taken as absent"]


@pytest.mark.parametrize(("analyzer", "path"), [
    ("mysql", "/etc/mysql/my.cnf"), ("postgresql", "/etc/postgresql/15/main/postgresql.conf"),
    ("redis", "/etc/redis/redis.conf")])
def test_database_port_lines_are_unknowns(analysed, analyzer: str, path: str) -> None:
    assert _unknowns(analysed, analyzer) == [
        (path, f"the port is not a number from {0 if analyzer != 'postgresql' else 1} to 65535; "
               "the setting is taken as absent")]
    svc = next(s for s in analysed.merged.services if s.role == analyzer)
    assert _ports(analysed, svc.name)  # the server's default port, with the unknown beside it


def test_database_facts_beside_the_bad_port(analysed) -> None:
    paths = {p.path for p in analysed.merged.persistent_paths}
    assert {"/srv/mysql", "/var/lib/redis", "/var/lib/ldap"} <= paths


def test_memcached_mosquitto_bind_keep_their_ports(analysed) -> None:
    assert _ports(analysed, "memcached") == {("tcp", 11211)}
    assert [m for _, m in _unknowns(analysed, "memcached")] == [
        "the TCP port is not a number from 0 to 65535; the setting is taken as absent",
        "the UDP port is not a number from 0 to 65535; the setting is taken as absent"]
    assert _ports(analysed, "mosquitto") == {("tcp", 1883)}
    assert [m for _, m in _unknowns(analysed, "mosquitto")] == [
        "line 1: the listener port is not a number from 0 to 65535; the setting is taken as absent",
        "line 3: the port port is not a number from 0 to 65535; the setting is taken as absent"]
    assert _ports(analysed, "named") == {("udp", 53), ("tcp", 53), ("udp", 5353), ("tcp", 5353)}
    assert [p for p, _ in _unknowns(analysed, "bind")] == ["/etc/bind/named.conf"]


def test_web_and_proxy_servers_keep_their_good_lines(analysed) -> None:
    lighttpd = analysed.merged
    assert _ports(analysed, "lighttpd") == {("tcp", 80)}
    assert {(c.host, c.port) for c in lighttpd.connections if c.from_service == "lighttpd"} == {("127.0.0.1", 9000)}
    assert len(_unknowns(analysed, "lighttpd")) == 2
    assert {p for _, p in _ports(analysed, "tomcat10")} == {8080}
    assert [m for _, m in _unknowns(analysed, "tomcat")] == [
        "a connector port is not a number from 1 to 65535; the setting is taken as absent"]  # 2 lines, 1 message
    # the bad backend's port is taken as absent: varnish's default, 80, beside the unknown
    assert {(c.via, c.port) for c in analysed.merged.connections if c.via.startswith("vcl")} == {
        ("vcl backend good", 8000), ("vcl backend bad", 80)}
    assert [p for p, _ in _unknowns(analysed, "varnish")] == ["/etc/varnish/default.vcl"]
    assert {p for _, p in _ports(analysed, "slapd") if p} == {389, 3389}
    assert [p for p, _ in _unknowns(analysed, "slapd")] == ["/etc/default/slapd"]


def test_systemd_and_app_keep_their_services(analysed) -> None:
    names = {s.name for s in analysed.merged.services}
    assert {"shop", "api", "web"} <= names
    shop = next(s for s in analysed.merged.services if s.name == "shop")
    assert shop.uid is None and shop.gid == 990 and shop.working_directory == "/srv/app"
    assert _unknowns(analysed, "systemd") == [
        ("/etc/systemd/system/shop.service",
         "the numeric User is not a number from 0 to 4294967294; the setting is taken as absent")]
    assert _ports(analysed, "web") == {("tcp", 8081)}
    assert _ports(analysed, "api") == set() and _ports(analysed, "shop") == set()
    assert {p for p, _ in _unknowns(analysed, "app")} == {"/etc/systemd/system/shop.service",
                                                          "/etc/systemd/system/api.service"}


def test_app_config_keeps_the_connection(analysed) -> None:
    conns = [c for c in analysed.merged.connections if c.scheme == "mysql" and c.host == "db"]
    assert [(c.port, c.database) for c in conns] == [(3306, "shop")]
    assert _unknowns(analysed, "app_config") == [
        ("/srv/app/.env", "the port is not a number from 1 to 65535; the setting is taken as absent")]


def test_os_release_with_a_huge_version_keeps_the_distribution(tmp_path: Path) -> None:
    result, _ = run_analyzers(_guest(tmp_path, {
        "/etc/os-release": f'ID=debian\nVERSION_ID="{HUGE}"\nPRETTY_NAME="Debian"\n',
        "/etc/redhat-release": f"CentOS release {HUGE}\n"}))
    assert [r.name for r in result.runs if r.status == "failed"] == []
    assert result.merged.os is not None and result.merged.os.distro == "debian"


def test_connection_strings_with_huge_ports() -> None:
    from migrate.analyzers._support import parse_connection

    assert parse_connection(f"jdbc:oracle:thin://@db:{HUGE}/orcl") == ("jdbc:oracle:thin", "db", None, "orcl", None)
    assert parse_connection("jdbc:oracle:thin://@db:99999/orcl")[2] is None
    assert parse_connection("jdbc:oracle:thin://@db:1521/orcl")[2] == 1521


@pytest.mark.parametrize("schedule", ["*/0 * * * *", "0 */0 * * *", f"*/{HUGE} * * * *", f"0 */{HUGE} * * *",
                                      "*/\u00b2 * * * *"])
def test_cron_steps_from_the_guest_are_not_intervals(schedule: str) -> None:
    """A guest crontab's ``*/0`` made the planner divide by zero (and 5000 digits made int() raise)."""
    from migrate.planning.jobs import cron_interval

    assert cron_interval(schedule) is None
    assert cron_interval("*/15 * * * *") == 900 and cron_interval("0 */6 * * *") == 6 * 3600


def test_postgresql_version_from_a_huge_package_name() -> None:
    from types import SimpleNamespace

    from migrate.kinds.postgresql import pg_cluster

    ctx = SimpleNamespace(volumes=[], installed={f"postgresql-{HUGE}", "postgresql-15", "postgresql-99999"})
    assert pg_cluster(ctx) == ("15", "main")  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "bounds", "base", "expected"), [
    ("80", (1, 65535), 10, 80), ("0080", (1, 65535), 10, 80), ("65535", (1, 65535), 10, 65535),
    ("65536", (1, 65535), 10, None), ("0", (1, 65535), 10, None), ("-1", (0, 10), 10, None), ("+1", (0, 10), 10, None),
    (" 1", (0, 10), 10, None), ("\u00b2", (0, 10), 10, None), ("\u0663", (0, 10), 10, None),
    (HUGE, (0, 10**30), 10, None),
    ("0" * 20 + "1", (0, 10), 10, None), ("4294967294", (0, 4294967294), 10, 4294967294), ("", (0, 1), 10, None),
    (None, (0, 1), 10, None), ("0750", (0, 0o7777), 8, 0o750), ("0789", (0, 0o7777), 8, None)])
def test_small_int(text, bounds, base, expected) -> None:
    from migrate.numbers import small_int

    assert small_int(text, lo=bounds[0], hi=bounds[1], base=base) == expected
