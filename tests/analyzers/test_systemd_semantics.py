"""The command a unit runs, as systemd 252 (Debian 12) would run it.

The MariaDB tests use the real units of Debian 12's mariadb-server package, fetched from the Debian mirror
(tests/analyzers/debs.py): the bookworm point release (``ExecStart=/usr/sbin/mariadbd $MYSQLD_OPTS
$_WSREP_NEW_CLUSTER $_WSREP_START_POSITION``) and the bookworm-security one (a ``/bin/sh -c "... exec
/usr/sbin/mariadbd $MYSQLD_OPTS ..."`` wrapper). The rules are those of systemd.service(5) "Command
lines", systemd.exec(5) Environment=/EnvironmentFile= and systemd.unit(5) "Specifiers".
"""

from __future__ import annotations

import pytest

from migrate.analyzers._systemd_lang import (
    expand_env_argv,
    expand_specifiers,
    main_executable,
    parse_env_file,
    parse_environment,
    specifier_table,
    split_words,
)
from migrate.analyzers.systemd import SystemdAnalyzer
from migrate.analyzers.users_groups import UsersGroupsAnalyzer
from tests.analyzers.debs import debian_package, install

LIB = "/lib/systemd/system"
ETC = "/etc/systemd/system"
PASSWD = "root:x:0:0:root:/root:/bin/bash\nmysql:x:104:110:MariaDB Server:/nonexistent:/bin/false\n"


def _mariadb_guest(tree, release: str) -> str:
    root = debian_package(f"mariadb-server/{release}")
    install(tree, root, f"{LIB}/mariadb.service")
    tree.write("/etc/passwd", PASSWD)
    tree.write("/etc/group", "root:x:0:\nmysql:x:110:\n")
    tree.enable("mariadb.service")
    return (root / "lib/systemd/system/mariadb.service").read_text()


def test_real_mariadb_unit_unset_variables_vanish(tree, run):
    unit = _mariadb_guest(tree, "bookworm")
    if "ExecStart=/usr/sbin/mariadbd $MYSQLD_OPTS" not in unit:
        pytest.fail("bookworm's mariadb.service no longer has the $VAR form this test is about")
    f, _ = run(tree, SystemdAnalyzer(), UsersGroupsAnalyzer())
    svc = next(s for s in f.services if s.name == "mariadb")
    # EnvironmentFile=-/run/mysqld/wsrep-* are optional and absent: the three variables are unset → no words
    assert svc.exec_start == ["/usr/sbin/mariadbd"]
    assert svc.exec_start_raw == "/usr/sbin/mariadbd $MYSQLD_OPTS $_WSREP_NEW_CLUSTER $_WSREP_START_POSITION"
    assert svc.executable == "/usr/sbin/mariadbd" and svc.unit_type == "notify"
    assert (svc.user, svc.uid, svc.gid) == ("mysql", 104, 110)
    assert svc.environment_files == ["/run/mysqld/wsrep-new-cluster", "/run/mysqld/wsrep-start-position"]
    # ExecStartPre: the galera recovery shell step, recorded as written and as it would run
    assert svc.exec_start_pre and svc.exec_start_pre[0].argv[:2] == ["/bin/sh", "-c"]
    assert [c.prefixes for c in svc.exec_start_post] == ["", "!"]
    assert svc.exec_start_post[1].argv == ["/etc/mysql/debian-start"]
    assert not [u for u in f.unknowns if "mariadb" in (u.path or "")]


def test_real_mariadb_unit_with_local_dropin_options(tree, run):
    _mariadb_guest(tree, "bookworm")
    # what the unit's own comment tells admins to do: MYSQLD_OPTS in a drop-in under /etc
    tree.write(f"{ETC}/mariadb.service.d/override.conf",
               '[Service]\nEnvironment="MYSQLD_OPTS=--skip-name-resolve --max-connections=50"\n')
    tree.write("/run/mysqld/wsrep-start-position", "_WSREP_START_POSITION=\"--wsrep-start-position=abc:1\"\n")
    f, _ = run(tree, SystemdAnalyzer(), UsersGroupsAnalyzer())
    svc = next(s for s in f.services if s.name == "mariadb")
    # $MYSQLD_OPTS alone is split at whitespace; the env file's value (quotes removed) is one word
    assert svc.exec_start == ["/usr/sbin/mariadbd", "--skip-name-resolve", "--max-connections=50",
                              "--wsrep-start-position=abc:1"]
    assert svc.environment["MYSQLD_OPTS"] == "--skip-name-resolve --max-connections=50"


def test_real_mariadb_security_unit_shell_wrapper(tree, run):
    unit = _mariadb_guest(tree, "bookworm-security")
    f, _ = run(tree, SystemdAnalyzer(), UsersGroupsAnalyzer())
    svc = next(s for s in f.services if s.name == "mariadb")
    if "exec /usr/sbin/mariadbd" in unit:
        # $MYSQLD_OPTS sits inside the -c script: systemd leaves it to the shell, so it is kept as written
        assert svc.exec_start[:2] == ["/bin/sh", "-c"] and "$MYSQLD_OPTS" in svc.exec_start[2]
        assert "\\\n" not in svc.exec_start[2]
    assert svc.executable == "/usr/sbin/mariadbd"


def test_specifiers_environment_and_directories(tree, run):
    tree.write("/etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:990:990::/srv/app:/bin/bash\n")
    tree.write("/etc/group", "root:x:0:\napp:x:990:\n")
    tree.write("/etc/hostname", "web01.example.com\n")
    tree.write(f"{LIB}/app@.service", """\
[Service]
User=app
Environment="GREETING=hello world" 'QUOTED=a\\x41b' EMPTY= BAD-NAME=x
Environment=CONF=/etc/app/%i.conf
EnvironmentFile=-/etc/default/app-%i
EnvironmentFile=-/etc/app/env.d/*.env
RuntimeDirectory=app/%i
RuntimeDirectoryMode=0750
StateDirectory=app
LogsDirectory=app/%i:app-logs
ExecStartPre=+/usr/bin/install -d -o app /run/app/%i/sock
ExecStart=/usr/bin/app --name %n --host %H --greet $GREETING --greet2 ${GREETING} --conf=${CONF} $EMPTY \\
    $UNSET ${UNSET}x --home $HOME --rt ${RUNTIME_DIRECTORY} --cost 100%% $$literal
ExecStartPost=:/usr/bin/notify $GREETING
""")
    tree.write("/etc/default/app-blue", "# blue\nOPTS=-v  \nGREETING='from file'\nQUOTED=\"x \\$y \\z\"\n")
    tree.write("/etc/app/env.d/10.env", "EXTRA=1\n")
    tree.enable("app@blue.service", template="app@.service")
    tree.mkdir("/var/lib/app", owner=990)
    f, _ = run(tree, SystemdAnalyzer(), UsersGroupsAnalyzer())
    svc = next(s for s in f.services if s.name == "app@blue")
    assert svc.exec_start == [
        "/usr/bin/app", "--name", "app@blue.service", "--host", "web01.example.com",
        "--greet", "from", "file", "--greet2", "from file", "--conf=/etc/app/blue.conf",
        "x", "--home", "/srv/app", "--rt", "/run/app/blue", "--cost", "100%", "$literal"]
    assert svc.environment["QUOTED"] == "x $y \\z" and svc.environment["OPTS"] == "-v"
    assert svc.environment["EXTRA"] == "1" and "BAD-NAME" not in svc.environment
    assert svc.environment_files == ["/etc/default/app-blue", "/etc/app/env.d/*.env"]
    assert svc.exec_start_pre[0].prefixes == "+"
    assert svc.exec_start_pre[0].argv == ["/usr/bin/install", "-d", "-o", "app", "/run/app/blue/sock"]
    assert svc.exec_start_post[0].argv == ["/usr/bin/notify", "$GREETING"]  # ":" turns expansion off
    dirs = {(d.kind, d.path, d.mode) for d in svc.directories}
    assert dirs == {("runtime", "/run/app/blue", 0o750), ("state", "/var/lib/app", 0o755),
                    ("logs", "/var/log/app/blue", 0o755)}
    assert any(p.path == "/var/lib/app" and p.service == "app@blue" for p in f.persistent_paths)


def test_secrets_expanded_into_the_command_line_stay_redacted(tree, run):
    tree.write(f"{LIB}/db.service", "[Service]\nEnvironmentFile=/etc/db.env\n"
                                    "ExecStart=/usr/bin/db $DB_OPTS --token=${API_TOKEN}\n")
    tree.write("/etc/db.env", "DB_PASSWORD=Xy-s3cret-77\nDB_OPTS=--user=db --pw Xy-s3cret-77\nAPI_TOKEN=t0k-abc-99\n")
    tree.enable("db.service")
    f, _ = run(tree, SystemdAnalyzer())
    svc = next(s for s in f.services if s.name == "db")
    dump = f.model_dump_json()
    assert "Xy-s3cret-77" not in dump and "t0k-abc-99" not in dump
    assert svc.exec_start == ["/usr/bin/db", "--user=db", "--pw", "****", "--token=****"]


def test_a_weak_password_does_not_corrupt_commands(tree, run):
    """A password that is also part of a path ("mysql") is redacted where it stands alone, never inside
    /usr/sbin/mysqld."""
    tree.write(f"{LIB}/db.service", "[Service]\nEnvironmentFile=/etc/db.env\n"
                                    "ExecStart=/usr/sbin/mysqld --basedir=/usr/lib/mysql $OPTS\n")
    tree.write("/etc/db.env", "MYSQL_PASSWORD=mysql\nOPTS=--init=/etc/mysql/init.sql --auth mysql\n")
    tree.enable("db.service")
    f, _ = run(tree, SystemdAnalyzer())
    svc = next(s for s in f.services if s.name == "db")
    assert svc.exec_start == ["/usr/sbin/mysqld", "--basedir=/usr/lib/mysql", "--init=/etc/mysql/init.sql",
                              "--auth", "****"]
    assert svc.environment["OPTS"] == "--init=/etc/mysql/init.sql --auth ****"


def test_word_splitting_and_env_file_rules():
    assert split_words(r'''a "b c"d 'e\x41' f\sg "h\"i"''') == ["a", "b cd", "eA", "f g", 'h"i']
    assert parse_environment('"A=1 2" B=3 =x C') == [("A", "1 2"), ("B", "3")]
    text = ("# c\n; c\nA = 1 \nB='x y'z\nC=\"q \\\" \\n\"\nexport D=4\nE=a\\\nb\nF=# not a comment\n  G=\n")
    assert parse_env_file(text) == [("A", "1"), ("B", "x yz"), ("C", 'q " \\n'), ("E", "ab"),
                                     ("F", "# not a comment"), ("G", "")]
    assert expand_env_argv(["$A", "${A}", "x$A", "$$A", "${NONE}", "$NONE"], {"A": "1 2"}) == \
        ["1", "2", "1 2", "x$A", "$A", ""]
    table = specifier_table("getty@tty1.service", "tty1")
    assert expand_specifiers("%n %N %p %i %I %t %S %C %L %h %u %%", table) == \
        "getty@tty1.service getty@tty1 getty tty1 tty1 /run /var/lib /var/cache /var/log /root root %"
    assert expand_specifiers("%I %f", specifier_table("s@dev-sda1.service", "dev-sda1")) == "dev/sda1 /dev/sda1"
    assert expand_specifiers("%i", specifier_table("s@.service", None)) == "%i"


def test_main_executable_of_wrappers():
    assert main_executable(["/usr/sbin/nginx", "-g", "daemon off;"]) == "/usr/sbin/nginx"
    assert main_executable(["/bin/sh", "-c", "set -f; VAR=x; exec /usr/sbin/mariadbd $OPTS $VAR"]) == \
        "/usr/sbin/mariadbd"
    assert main_executable(["/bin/sh", "-c", "cd /srv && FOO=1 exec /opt/app/bin/run --x"]) == "/opt/app/bin/run"
    assert main_executable(["/bin/bash", "-c", "echo hi"]) == "/bin/bash"
    assert main_executable(["/bin/sh", "/usr/libexec/tomcat10/tomcat-start.sh"]) == \
        "/usr/libexec/tomcat10/tomcat-start.sh"
    assert main_executable(["/bin/bash", "-e", "/opt/run.sh", "x"]) == "/opt/run.sh"


def test_one_unreadable_file_is_one_unknown(tree, run):
    tree.write(f"{LIB}/a.service", "[Service]\nEnvironmentFile=/etc/a.env\nExecStart=/usr/bin/a $X\n"
                                   "[Install]\nWantedBy=multi-user.target\n")
    tree.mkdir("/etc/a.env")  # a directory where a file is expected
    tree.write(f"{LIB}/b.service",
               b"[Service]\nExecStart=/usr/bin/b \xff\xfe --x\n[Install]\nWantedBy=multi-user.target\n")
    tree.write(f"{LIB}/c.service", "[Service]\nExecStart=/usr/bin/c\n[Install]\nWantedBy=multi-user.target\n")
    tree.write(f"{LIB}/c.service.d/big.conf", "# " + "x" * (5 * 1024 * 1024) + "\n")
    for unit in ("a.service", "b.service", "c.service"):
        tree.enable(unit)
    f, _ = run(tree, SystemdAnalyzer())
    svc = {s.name: s for s in f.services}
    assert svc["a"].exec_start == ["/usr/bin/a"] and svc["c"].exec_start == ["/usr/bin/c"]
    assert svc["b"].exec_start[0] == "/usr/bin/b" and svc["b"].exec_start[-1] == "--x"
    assert sorted(u.path for u in f.unknowns) == ["/etc/a.env", f"{LIB}/c.service.d/big.conf"]


def test_dropins_in_file_name_order_across_directories(tree, run):
    tree.write(f"{LIB}/web-blue.service", "[Service]\nExecStart=/usr/bin/web $E $F\nEnvironment=A=unit B=unit C=unit\n"
                                          "Environment=E=gone F=kept G=exact\nUnsetEnvironment=E F=other G=exact\n")
    tree.write(f"{LIB}/service.d/10-all.conf", "[Service]\nEnvironment=A=type-level D=type-level\n")
    tree.write(f"{ETC}/web-.service.d/20-dash.conf", "[Service]\nEnvironment=B=dash\n")
    tree.write(f"{LIB}/web-blue.service.d/30-lib.conf", "[Service]\nEnvironment=C=lib\n")
    tree.write(f"{ETC}/web-blue.service.d/30-lib.conf", "[Service]\nEnvironment=C=etc\n")  # same name: /etc wins
    tree.write(f"{ETC}/web-blue.service.d/05-first.conf", "[Service]\nEnvironment=A=first D=first\n")
    tree.enable("web-blue.service")
    f, _ = run(tree, SystemdAnalyzer())
    env = next(s for s in f.services if s.name == "web-blue").environment
    # 05-first, 10-all, 20-dash, 30-lib (the /etc copy) applied in that order after the unit
    assert env == {"A": "type-level", "B": "dash", "C": "etc", "D": "type-level", "F": "kept"}
    assert next(s for s in f.services if s.name == "web-blue").exec_start == ["/usr/bin/web", "kept"]
