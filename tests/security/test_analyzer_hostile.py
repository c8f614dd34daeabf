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
