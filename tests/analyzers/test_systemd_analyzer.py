from migrate.analyzers.systemd import SystemdAnalyzer, split_exec
from migrate.analyzers.users_groups import UsersGroupsAnalyzer

LIB = "/lib/systemd/system"
ETC = "/etc/systemd/system"


def _units(tree):
    tree.write("/etc/passwd", "root:x:0:0::/root:/bin/sh\nworker:x:990:990::/srv/worker:/bin/false\n")
    tree.write("/etc/group", "root:x:0:\nworker:x:990:\n")
    tree.write(f"{LIB}/plain.service", "[Service]\nExecStart=/usr/bin/plain\n[Install]\nWantedBy=multi-user.target\n")
    tree.write(f"{LIB}/static.service", "[Service]\nExecStart=/usr/bin/static\n")
    tree.write(f"{LIB}/hidden.service", "[Unit]\nDescription=Masked one\n[Service]\nExecStart=/usr/bin/hidden\n"
                                        "[Install]\nWantedBy=multi-user.target\n")
    tree.link(f"{ETC}/hidden.service", "/dev/null")
    tree.write(f"{LIB}/also.service", "[Service]\nExecStart=/usr/bin/also\n[Install]\nAlso=plain.service\n")
    # socket activation, plain and Accept=yes
    tree.write(f"{LIB}/echo.socket", "[Socket]\nListenStream=127.0.0.1:7777\nListenStream=/run/echo.sock\n"
                                     "[Install]\nWantedBy=sockets.target\n")
    tree.write(f"{LIB}/echo.service", "[Service]\nExecStart=/usr/bin/echod\n")
    tree.write(f"{LIB}/finger.socket",
               "[Socket]\nListenStream=[::]:79\nAccept=yes\n[Install]\nWantedBy=sockets.target\n")
    tree.write(f"{LIB}/finger@.service", "[Service]\nExecStart=-/usr/sbin/in.fingerd\nStandardInput=socket\n")
    tree.enable("echo.socket", "sockets.target")
    tree.enable("finger.socket", "sockets.target")
    tree.write(f"{LIB}/off.socket", "[Socket]\nListenStream=9999\n[Install]\nWantedBy=sockets.target\n")
    tree.write(f"{LIB}/off.service", "[Service]\nExecStart=/usr/bin/off\n")
    # template with instances
    tree.write(f"{ETC}/worker@.service", "[Unit]\nDescription=Worker %i\n[Service]\nUser=worker\n"
                                         "ExecStart=@/usr/bin/worker worker-%i --queue %i\n"
                                         "StateDirectory=worker/%i\n[Install]\nWantedBy=multi-user.target\n")
    tree.enable("worker@alpha.service", unit_dir=ETC, template="worker@.service")
    tree.enable("worker@beta.service", unit_dir=ETC, template="worker@.service")
    tree.mkdir("/var/lib/worker/alpha", owner=990)
    # timer
    tree.write(f"{LIB}/backup.timer", "[Timer]\nOnCalendar=*-*-* 03:00:00\nPersistent=true\n"
                                      "[Install]\nWantedBy=timers.target\n")
    tree.write(f"{LIB}/backup.service", "[Service]\nType=oneshot\nUser=worker\n"
                                        "ExecStart=/usr/bin/backup --password=Sup3rS3cret --to /srv/backup\n")
    tree.enable("backup.timer", "timers.target")
    # drop-ins override ExecStart and add environment
    tree.write(f"{LIB}/plain.service.d/10-vendor.conf", "[Service]\nEnvironment=A=vendor\n")
    tree.write(f"{ETC}/plain.service.d/20-local.conf",
               "[Unit]\nAfter=network.target\n[Service]\nExecStart=\nExecStart=+/usr/bin/plain --fast \\\n"
               "  --more\nEnvironment=\"B=two words\" API_TOKEN=tok-123\nEnvironmentFile=-/etc/default/missing\n"
               "EnvironmentFile=/etc/default/plain\nWorkingDirectory=-/srv/plain\n")
    tree.write("/etc/default/plain", "URL='mysql://u:DbPa55@db.internal/app'\n"
                                     "export OLD_URL='mysql://u:OldPa55@old.internal/app'\n# comment\nPLAIN=1\n")
    tree.enable("plain.service")
    tree.link(f"{ETC}/default.target", f"{LIB}/graphical.target")


def test_states_sockets_templates_timers_and_dropins(tree, run):
    _units(tree)
    f, _ = run(tree, SystemdAnalyzer(), UsersGroupsAnalyzer())
    svc = {s.name: s for s in f.services}
    assert svc["plain"].state == "enabled"
    assert svc["static"].state == "static"
    assert svc["hidden"].state == "masked" and svc["hidden"].description == "Masked one"
    assert svc["also"].state == "indirect"
    assert svc["echo"].state == "static" and svc["echo"].socket_units == ["echo.socket"]
    assert svc["finger@"].socket_units == ["finger.socket"]
    assert svc["worker@"].instances == ["alpha", "beta"] and svc["worker@"].state == "indirect"
    alpha = svc["worker@alpha"]
    assert alpha.state == "enabled" and alpha.template == "worker@.service"
    assert alpha.exec_start == ["/usr/bin/worker", "--queue", "alpha"]
    assert (alpha.user, alpha.uid, alpha.gid) == ("worker", 990, 990)
    assert alpha.description is None or "alpha" not in (alpha.description or "")

    plain = svc["plain"]
    assert plain.exec_start == ["/usr/bin/plain", "--fast", "--more"]
    assert plain.environment["A"] == "vendor" and plain.environment["B"] == "two words"
    assert plain.environment["API_TOKEN"] == "****"
    assert plain.environment["URL"] == "mysql://u:****@db.internal/app" and plain.environment["PLAIN"] == "1"
    # systemd ignores `export NAME=...` lines of an EnvironmentFile (not NAME=value): the service does not
    # get OLD_URL, the file's password is still reported, and the skipped line is an unknown naming it
    assert "OLD_URL" not in plain.environment
    assert any(s.evidence.path == "/etc/default/plain" and s.redacted == "mysql://u:****@old.internal/app"
               for s in f.secrets)
    assert [(u.path, u.message.split(":")[0]) for u in f.unknowns] == [("/etc/default/plain", "line 2")]
    assert not any(c.host == "old.internal" for c in f.connections)
    assert plain.environment_files == ["/etc/default/missing", "/etc/default/plain"]
    assert plain.working_directory == "/srv/plain" and plain.after == ["network.target"]

    ports = {(p.service, p.proto, p.port, p.address, p.path) for p in f.ports}
    assert ("echo", "tcp", 7777, "127.0.0.1", None) in ports and ("echo", "unix", None, None, "/run/echo.sock") in ports
    assert ("finger@", "tcp", 79, None, None) in ports
    assert not any(p[0] == "off" for p in ports)  # a disabled socket does not listen
    assert svc["off"].socket_units == ["off.socket"]
    assert svc["worker@"].exec_start == ["/usr/bin/worker", "--queue", "%i"]  # a template keeps its specifiers

    job = next(j for j in f.jobs if j.unit == "backup.timer")
    assert job.source == "systemd-timer" and job.enabled and job.user == "worker"
    assert job.schedule == "OnCalendar=*-*-* 03:00:00; Persistent=true"
    assert "Sup3rS3cret" not in job.command and "--password=****" in job.command
    assert svc["backup"].exec_start[1] == "--password=****"

    conn = next(c for c in f.connections if c.scheme == "mysql")
    assert (conn.from_service, conn.host, conn.port, conn.database, conn.via) == ("plain", "db.internal", 3306, "app",
                                                                                  "URL")
    assert {s.key for s in f.secrets} >= {"API_TOKEN", "URL", "password"}
    assert any(p.path == "/var/lib/worker/alpha" and p.uid == 990 for p in f.persistent_paths)
    assert any(c.kind == "systemd-default-target" and "graphical.target" in c.evidence.detail for c in f.configs)
    dump = f.model_dump_json()
    for value in ("Sup3rS3cret", "tok-123", "DbPa55", "OldPa55"):
        assert value not in dump


def test_missing_required_environment_file_is_unknown(tree, run):
    tree.write(f"{LIB}/x.service", "[Service]\nExecStart=/bin/x\nEnvironmentFile=/etc/x.env\n")
    f, _ = run(tree, SystemdAnalyzer())
    assert [u.path for u in f.unknowns] == ["/etc/x.env"]


def test_split_exec_prefixes():
    assert split_exec("-/usr/bin/a 'b c' d") == (["/usr/bin/a", "b c", "d"], "-")
    assert split_exec("@/usr/bin/a argv0 x") == (["/usr/bin/a", "x"], "@")
    assert split_exec("!!/bin/b") == (["/bin/b"], "!!")
