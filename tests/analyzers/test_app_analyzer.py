from migrate.analyzers.app import AppAnalyzer
from migrate.analyzers.systemd import SystemdAnalyzer
from migrate.analyzers.users_groups import UsersGroupsAnalyzer

ETC = "/etc/systemd/system"


def _run(tree, run):
    tree.write("/etc/passwd", "root:x:0:0::/root:/bin/sh\napi:x:1002:1002::/srv/api:/bin/false\n"
                              "node:x:1003:1003::/srv/node:/bin/false\n")
    tree.write("/etc/group", "root:x:0:\napi:x:1002:\nnode:x:1003:\n")
    return run(tree, AppAnalyzer(), UsersGroupsAnalyzer(), SystemdAnalyzer())


def test_gunicorn_from_a_virtualenv_via_shebang(tree, run):
    tree.write("/srv/api/.venv/bin/gunicorn", "#!/srv/api/.venv/bin/python3\nimport gunicorn\n", mode=0o755)
    tree.write("/srv/api/.venv/pyvenv.cfg", "home = /usr/bin\nversion = 3.11.2\n")
    tree.write(f"{ETC}/api.service", "[Service]\nUser=api\nWorkingDirectory=/srv/api\n"
                                     "Environment=PORT=9000 HOST=127.0.0.1 MEMCACHED_SERVERS=10.0.0.3:11211\n"
                                     "Environment=UPLOAD_DIR=./uploads CACHE_DIR=/var/cache/api\n"
                                     "ExecStart=/srv/api/.venv/bin/gunicorn -w 4 api.wsgi:app\n")
    tree.mkdir("/srv/api/uploads", owner=1002)
    tree.mkdir("/srv/api/data", owner=0)  # not the service user's: not its data
    tree.mkdir("/var/cache/api", owner=1002)
    f, ctx = _run(tree, run)
    svc = f.services[0]
    assert (svc.name, svc.role, svc.interpreter, svc.script, svc.virtualenv) == (
        "api", "app", "python3", "/srv/api/.venv/bin/gunicorn", "/srv/api/.venv")
    assert "python 3.11.2" in svc.evidence[0].detail
    assert [(p.address, p.port) for p in f.ports] == [("127.0.0.1", 9000)]
    assert [p.path for p in f.persistent_paths] == ["/srv/api/uploads"]
    memcached = [c for c in ctx.findings("systemd").connections if c.scheme == "memcached"]
    assert [(c.host, c.port) for c in memcached] == [("10.0.0.3", 11211)]


def test_java_jar_and_jdbc_env(tree, run):
    tree.write(f"{ETC}/billing.service", "[Service]\nUser=api\nEnvironment=DB_URL=jdbc:postgresql://pg:5432/bill"
                                         "?user=bill&password=J-S3cret\n"
                                         "ExecStart=/usr/bin/java -Xmx512m -Dserver.port=8081 -jar "
                                         "/opt/billing/billing.jar --spring.profiles.active=prod\n")
    tree.mkdir("/opt/billing/data", owner=1002)
    f, ctx = _run(tree, run)
    svc = f.services[0]
    assert (svc.interpreter, svc.script) == ("java", "/opt/billing/billing.jar")
    assert [p.port for p in f.ports] == [8081]
    sysd = ctx.findings("systemd")
    assert sysd.services[0].environment["DB_URL"] == "jdbc:postgresql://pg:5432/bill?user=bill&password=****"
    conn = sysd.connections[0]
    assert (conn.scheme, conn.host, conn.port, conn.database, conn.username) == (
        "jdbc:postgresql", "pg", 5432, "bill", "bill")
    assert "J-S3cret" not in sysd.model_dump_json()


def test_oracle_thin_jdbc_in_a_unit_is_a_connection_with_its_password_kept_out(tree, run):
    tree.write(f"{ETC}/ledger.service", "[Service]\nUser=api\n"
                                        "Environment=DB_URL=jdbc:oracle:thin:ledger/Or4-S3cret@ora01.corp.example:1521:LEDG\n"
                                        "ExecStart=/usr/bin/java -jar /opt/ledger/ledger.jar\n")
    f, ctx = _run(tree, run)
    sysd = ctx.findings("systemd")
    assert sysd.services[0].environment["DB_URL"] == "jdbc:oracle:thin:ledger/****@ora01.corp.example:1521:LEDG"
    conn = sysd.connections[0]
    assert (conn.scheme, conn.host, conn.port, conn.database, conn.username) == (
        "jdbc:oracle:thin", "ora01.corp.example", 1521, "LEDG", "ledger")
    assert [s.key for s in sysd.secrets] == ["DB_URL"]
    assert "Or4-S3cret" not in sysd.model_dump_json()


def test_node_with_env_and_system_scripts_ignored(tree, run):
    tree.write("/lib/systemd/system/unattended-upgrades.service",
               "[Service]\nExecStart=/usr/bin/python3 /usr/share/unattended-upgrades/unattended-upgrade-shutdown\n")
    tree.write("/lib/systemd/system/vendor-py.service",
               "[Service]\nExecStart=/usr/bin/python3 /usr/lib/foo/daemon.py\n")
    tree.write(f"{ETC}/web.service", "[Service]\nUser=node\nWorkingDirectory=/srv/node\n"
                                     "Environment=NODE_ENV=production WEB_LISTEN=0.0.0.0:3000 DB_PORT=5432\n"
                                     "ExecStart=/usr/bin/env node --enable-source-maps server.js\n")
    tree.mkdir("/srv/node/storage", owner=1003)
    f, _ = _run(tree, run)
    assert [s.name for s in f.services] == ["web"]
    svc = f.services[0]
    assert (svc.interpreter, svc.script) == ("node", "/srv/node/server.js")
    assert [(p.address, p.port) for p in f.ports] == [(None, 3000)]
    assert [p.path for p in f.persistent_paths] == ["/srv/node/storage"]


def test_port_read_from_the_application_source(tree, run):
    tree.write("/srv/node/app.js", "const port = process.env.PORT || 3000;\nconst db = process.env.DB_PORT ?? 5432;\n")
    tree.write(f"{ETC}/web.service", "[Service]\nUser=node\nExecStart=/usr/bin/node /srv/node/app.js\n")
    tree.write("/srv/py/main.py", "import os\napp.run(host='0.0.0.0', port=5000)\n")
    tree.write(f"{ETC}/py.service", "[Service]\nEnvironment=SHOP_PORT=1\nExecStart=/usr/bin/python3 /srv/py/main.py\n")
    tree.write("/srv/py2/main.py", "PORT = int(os.environ.get('APP_PORT', 8000))\n")
    tree.write(f"{ETC}/py2.service",
               "[Service]\nEnvironment=APP_PORT=8001\nExecStart=/usr/bin/python3 /srv/py2/main.py\n")
    f, _ = _run(tree, run)
    assert {(p.service, p.port) for p in f.ports} == {("web", 3000), ("py", 5000), ("py2", 8001)}
