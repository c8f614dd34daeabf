"""Issue 8 D7: analyzers' parse errors and unknowns never quote the guest's files.

Every built-in analyzer runs over a guest whose config files are full of unique markers and
malformed, plus an nginx `include` of an htpasswd file; then every output (inventory.json, stdout,
stderr, a converted stack) is searched for the markers. None may appear."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from migrate.analysis import QUOTED, run_analyzers, scrub_message
from migrate.analyzers import builtin_analyzers
from migrate.rootfs import RootFS
from tests.security.output_cases import base_guest, marker_guest, nginx_service, write


def migrate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=300)


def found(markers, text: str) -> list[str]:
    hits = set(re.findall(rf"MK{markers.tag}\d{{4}}Q", text))
    return sorted(hits)


def test_no_output_quotes_a_guest_file(tmp_path):
    guest = tmp_path / "guest"
    mk = marker_guest(guest)
    inv = tmp_path / "inventory.json"
    proc = migrate("inspect", str(guest), "-o", str(inv))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    text = inv.read_text()
    assert found(mk, text) == [], "inventory.json quotes a guest file"
    assert found(mk, proc.stdout + proc.stderr) == [], "the terminal output quotes a guest file"
    assert '"unknowns"' in text and "does not parse" in text  # the problems are still reported
    js = migrate("inspect", str(guest), "--json")
    assert found(mk, js.stdout + js.stderr) == []

    out = tmp_path / "stack"
    conv = migrate("convert", str(guest), "-o", str(out))
    assert conv.returncode == 0, conv.stderr
    assert found(mk, conv.stdout + conv.stderr) == []
    documents = 0
    for p in sorted(out.rglob("*")):
        if not p.is_file():
            continue
        data = p.read_bytes().decode("utf-8", "replace")
        assert not [m for m in mk.secret if m in data], f"a secret marker reached {p}"
        parts = p.relative_to(out).parts
        if "rootfs" not in parts and parts[0] != "secret-templates":  # copies of guest files, by design
            documents += 1
            assert found(mk, data) == [], f"{p.relative_to(out)} quotes a guest file"
    assert documents >= 8


def test_htpasswd_pulled_in_by_include_is_not_quoted(tmp_path):
    """The case of the issue: `include /etc/nginx/htpasswd;` made the parse error quote the hash."""
    guest = base_guest(tmp_path / "guest")
    nginx_service(guest)
    hash_line = "admin:$apr1$Zq9Xv1Lm$Hq7Ygq0w0mYkq3vJ5xkU61"
    write(guest, "/etc/nginx/nginx.conf", "events {}\nhttp {\n  include /etc/nginx/htpasswd;\n"
                                          "  server { listen 80; }\n}\n")
    write(guest, "/etc/nginx/htpasswd", hash_line + "\n")
    inv = tmp_path / "inv.json"
    proc = migrate("inspect", str(guest), "-o", str(inv), "--json")
    assert proc.returncode == 0, proc.stderr
    for piece in ("Zq9Xv1Lm", "Hq7Ygq0w0mYkq3vJ5xkU61", "admin:$apr1"):
        assert piece not in inv.read_text() and piece not in proc.stdout + proc.stderr
    assert "does not parse" in inv.read_text()


def test_runner_scrubs_third_party_analyzers_too(tmp_path):
    """The rule is enforced by the runner, for any analyzer: words read from the guest are masked,
    plain directive words, numbers and the unknown's own path are kept."""
    from migrate.analyzers._support import read_text, unknown
    from migrate.analyzers.base import Analyzer
    from migrate.model.inventory import Findings

    guest = base_guest(tmp_path / "guest")
    write(guest, "/etc/thing.conf", "listen 80\ntoken Xy9-SECRET-t0ken\n")

    class Quoting(Analyzer):
        name = "quoting"

        def run(self, ctx):
            f = Findings()
            text = read_text(ctx, self, "/etc/thing.conf", f) or ""
            f.unknowns.append(unknown(self, "/etc/thing.conf", f"line 2: bad value {text.splitlines()[1]!r}"))
            raise_it = text.splitlines()[1]
            if raise_it:
                ctx.cache["quoting"] = raise_it
            return f

    class Raising(Analyzer):
        name = "raising"

        def run(self, ctx):
            read_text(ctx, self, "/etc/thing.conf", Findings())
            raise ValueError(f"cannot parse {ctx.cache.get('quoting')} in {ctx.rootfs.mounts['/'].root}/etc")

    with RootFS.from_directory(guest) as fs:
        result, _ = run_analyzers(fs, analyzers=[Quoting(), Raising()])
    messages = [u.message for u in result.merged.unknowns]
    assert len(messages) == 2
    joined = "\n".join(messages)
    assert "Xy9-SECRET-t0ken" not in joined and str(guest) not in joined
    assert "line 2: bad value" in joined and QUOTED in joined
    assert "ValueError" in joined


def test_scrub_message_keeps_keywords_numbers_and_path():
    content = [b"server_name shop;\nlisten 8080;\npassword=Sup3rS3cret!\n"]
    msg = scrub_message("line 3: listen expects a port, got Sup3rS3cret! in /etc/x.conf", content, keep="/etc/x.conf")
    assert "Sup3rS3cret" not in msg
    assert msg.startswith("line 3: listen expects a port")
    assert "/etc/x.conf" in msg


@pytest.mark.parametrize("files", [9])
def test_include_graph_is_bounded(tmp_path, files):
    """D6: 9 files that each include conf.d/*.conf: each file is read once, expansions are budgeted."""
    guest = base_guest(tmp_path / "guest")
    nginx_service(guest)
    write(guest, "/etc/nginx/nginx.conf", "events {}\nhttp { include conf.d/*.conf; }\n")
    for i in range(files):
        write(guest, f"/etc/nginx/conf.d/s{i}.conf", f"include conf.d/*.conf;\nserver {{ listen {8000 + i}; }}\n")
    nginx = [a for a in builtin_analyzers() if a.name in ("os_release", "nginx", "systemd")]
    with RootFS.from_directory(guest) as fs:
        t0 = time.perf_counter()
        result, _ = run_analyzers(fs, analyzers=nginx)
        elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, elapsed
    assert {p.port for p in result.merged.ports} == {8000 + i for i in range(files)}
    assert any("include expansions" in u.message for u in result.merged.unknowns)


def test_apache_include_graph_is_bounded(tmp_path):
    """The same graph with Apache's IncludeOptional (was minutes of CPU and ~8000 unknowns)."""
    from tests.security.output_cases import enable, unit

    guest = base_guest(tmp_path / "guest")
    enable(guest, "apache2.service", unit("/usr/sbin/apachectl start", forking=True))
    write(guest, "/etc/apache2/apache2.conf", 'ServerRoot "/etc/apache2"\nIncludeOptional conf.d/*.conf\n')
    for i in range(9):
        write(guest, f"/etc/apache2/conf.d/s{i}.conf", f"IncludeOptional conf.d/*.conf\nListen {8000 + i}\n")
    chosen = [a for a in builtin_analyzers() if a.name in ("os_release", "apache", "systemd")]
    with RootFS.from_directory(guest) as fs:
        t0 = time.perf_counter()
        result, _ = run_analyzers(fs, analyzers=chosen)
        elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, elapsed
    assert {p.port for p in result.merged.ports} == {8000 + i for i in range(9)}
    assert len(result.merged.unknowns) < 200
    assert any("include expansions" in u.message for u in result.merged.unknowns)


def test_other_include_graphs_are_bounded(tmp_path):
    """MariaDB !includedir, Redis include and PostgreSQL include_dir graphs that include themselves."""
    from tests.security.output_cases import enable, unit

    guest = base_guest(tmp_path / "guest")
    enable(guest, "mariadb.service", unit("/usr/sbin/mariadbd"))
    write(guest, "/etc/mysql/my.cnf", "[mysqld]\nport=3306\n!includedir /etc/mysql/conf.d/\n")
    enable(guest, "redis-server.service", unit("/usr/bin/redis-server /etc/redis/redis.conf"))
    write(guest, "/etc/redis/redis.conf", "port 6379\ninclude /etc/redis/conf.d/*.conf\n")
    write(guest, "/etc/postgresql/15/main/postgresql.conf", "port = 5432\ninclude_dir 'conf.d'\n")
    for i in range(9):
        write(guest, f"/etc/mysql/conf.d/s{i}.cnf", "!includedir /etc/mysql/conf.d/\n")
        write(guest, f"/etc/redis/conf.d/s{i}.conf", "include /etc/redis/conf.d/*.conf\n")
        write(guest, f"/etc/postgresql/15/main/conf.d/s{i}.conf", "include_dir '.'\n")
    chosen = [a for a in builtin_analyzers() if a.name in ("os_release", "systemd", "mysql", "redis", "postgresql")]
    with RootFS.from_directory(guest) as fs:
        t0 = time.perf_counter()
        result, _ = run_analyzers(fs, analyzers=chosen)
        elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, elapsed
    assert {p.port for p in result.merged.ports} >= {3306, 6379, 5432}
    assert len(result.merged.configs) < 100


def test_runner_read_budget_stops_a_runaway_analyzer(tmp_path):
    """Whatever an analyzer does, it gets MAX_READS_PER_ANALYZER whole-file reads; the rest fail
    fast as one unknown and the next analyzers still run."""
    from migrate.analysis import MAX_READS_PER_ANALYZER
    from migrate.analyzers._support import read_text
    from migrate.analyzers.base import Analyzer
    from migrate.model.inventory import Findings

    guest = base_guest(tmp_path / "guest")
    write(guest, "/etc/loop.conf", "x\n")
    calls = []

    class Runaway(Analyzer):
        name = "runaway"

        def run(self, ctx):
            f = Findings()
            for _ in range(MAX_READS_PER_ANALYZER + 500):
                calls.append(read_text(ctx, self, "/etc/loop.conf", f))
            return f

    class After(Analyzer):
        name = "after"
        requires = ("runaway",)

        def run(self, ctx):
            return Findings() if ctx.rootfs.read_text("/etc/loop.conf") == "x\n" else None

    with RootFS.from_directory(guest) as fs:
        result, _ = run_analyzers(fs, analyzers=[Runaway(), After()])
    assert calls.count("x\n") == MAX_READS_PER_ANALYZER and calls.count(None) == 500
    budget = [u for u in result.merged.unknowns if "read budget" in u.message]
    assert len(budget) == 1  # the same problem 500 times is one unknown
    assert [r.status for r in result.runs] == ["ok", "ok"]
