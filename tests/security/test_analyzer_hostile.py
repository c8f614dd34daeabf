"""Numbers in guest configuration files (docs/security.md): ``str.isdigit`` admits ``²`` and other
digits int() refuses, and int() refuses more than 4300 digits. The shared address parser used by the
Apache, HAProxy and app analyzers raised ValueError on either, and the runner then kept nothing of
that analyzer but one unknown."""

from __future__ import annotations

import pytest

from migrate.analyzers._support import split_host_port


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:80", ("127.0.0.1", 80)), ("[::1]:8443", ("::1", 8443)), ("80", (None, 80)),
    ("*:8080", (None, 8080)), ("db01", ("db01", None)),
    ("*:\u00b2", (None, None)), ("[::1]:" + "9" * 5000, ("::1", None)), ("9" * 5000, (None, None)),
    ("\u00b2", ("\u00b2", None)),
])
def test_listen_addresses_with_odd_numbers(text: str, expected: tuple[str | None, int | None]) -> None:
    assert split_host_port(text) == expected


def test_superscript_digits_in_older_analyzers_cost_nothing(tmp_path) -> None:
    """``²`` where a number belongs (a uid, an sshd port, an fstab pass number): the line is passed over
    with an unknown naming it, the analyzer's other findings stay (it raised ValueError before).
    5000 digits and absurd values: test_analyzer_numbers.py."""
    from migrate.inspect import inspect_images

    etc = tmp_path / "etc"
    (etc / "ssh").mkdir(parents=True)
    (etc / "os-release").write_text('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n')
    (etc / "debian_version").write_text("12.5\n")
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\nodd:x:\u00b2:\u00b2::/home/odd:/bin/sh\n"
                                "app:x:990:990::/srv/app:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nodd:x:\u00b2:\napp:x:990:\n")
    (etc / "ssh" / "sshd_config").write_text("Port \u00b2\nPort 2222\n")
    (etc / "fstab").write_text("/dev/sda1 / ext4 defaults \u00b2 \u00b2\n")
    inv = inspect_images([tmp_path], "auto")
    odd = [(u.analyzer, u.path, u.message) for u in inv.unknowns if u.analyzer in ("users_groups", "sshd", "fstab")]
    # the odd lines are named as such; nothing else of the analyzer is lost
    absent = "is not a number from {}; the setting is taken as absent"
    assert sorted(odd) == [("fstab", "/etc/fstab", f"line 1: the dump field {absent.format('0 to 255')}"),
                           ("fstab", "/etc/fstab", f"line 1: the pass number {absent.format('0 to 255')}"),
                           ("sshd", "/etc/ssh/sshd_config", f"line 1: Port {absent.format('1 to 65535')}"),
                           ("users_groups", "/etc/group", "line 2: not a group entry"),
                           ("users_groups", "/etc/passwd", "line 2: not a passwd entry")], odd
    assert {u.name for u in inv.users} >= {"root", "app"}
    assert "odd" not in {u.name for u in inv.users}
    assert [m.mountpoint for m in inv.mounts] == ["/"]


CANARY = "Zq7Canary"


def test_unknowns_name_the_file_and_line_never_the_guest_text(tmp_path) -> None:
    """design §9: an unknown names a file and a line, never what the guest wrote there. Each analyzer is
    run directly (not through the runner, whose scrub would hide a quoting analyzer) on lines it
    cannot use that carry a canary: lighttpd ``include_shell``, an HAProxy server without host:port, a
    SLAPD_SERVICES entry, a relative Redis ``dir``, an nginx ``proxy_pass`` through a variable, a dpkg
    stanza without a state, a varnishd ``-a`` without a port."""
    from migrate.analyzers.haproxy import HaproxyAnalyzer
    from migrate.analyzers.lighttpd import LighttpdAnalyzer
    from migrate.analyzers.nginx import NginxAnalyzer
    from migrate.analyzers.packages_dpkg import DpkgAnalyzer
    from migrate.analyzers.redis import RedisAnalyzer
    from migrate.analyzers.slapd import SlapdAnalyzer
    from migrate.analyzers.varnish import VarnishAnalyzer
    from tests.analyzers.conftest import Tree, run_one

    tree = Tree(tmp_path)
    tree.write("/etc/lighttpd/lighttpd.conf", f'server.port = 80\ninclude_shell "/usr/bin/{CANARY} --x"\n')
    tree.write("/etc/haproxy/haproxy.cfg", f"frontend web\n  bind :80\nbackend app\n  server s1 {CANARY}\n"
                                           f"  server {CANARY} nohostport\n")
    tree.write("/etc/default/slapd", f'SLAPD_SERVICES="ldap:/// {CANARY}://x/y"\n')
    tree.write("/etc/ldap/slapd.d/cn=config.ldif", "dn: cn=config\n")
    tree.write("/etc/redis/redis.conf", f"port 6379\ndir {CANARY}/data\n")
    tree.write("/etc/nginx/nginx.conf", "events {}\nhttp { server { listen 80; location / { "
                                        f"proxy_pass http://$host{CANARY}; }} }} }}\n")
    tree.write("/var/lib/dpkg/status", f"Package: {CANARY}\nStatus: {CANARY}\n\nPackage: ok\nStatus: install ok "
                                       "installed\nVersion: 1\n")
    tree.write("/etc/default/varnish", f'DAEMON_OPTS="-a {CANARY} -f /etc/varnish/default.vcl"\n')
    seen = {}
    for analyzer in (LighttpdAnalyzer(), HaproxyAnalyzer(), SlapdAnalyzer(), RedisAnalyzer(), NginxAnalyzer(),
                     DpkgAnalyzer(), VarnishAnalyzer()):
        f, _ = run_one(tree, analyzer)
        seen[analyzer.name] = [u.message for u in f.unknowns]
    quoted = {name: [m for m in msgs if CANARY.lower() in m.lower()] for name, msgs in seen.items()}
    assert not any(quoted.values()), quoted
    assert all(seen.values()), seen  # each line was an unknown (else the test proves nothing)
    assert "line 2: include_shell not evaluated (a command's output is not known offline)" in seen["lighttpd"]
