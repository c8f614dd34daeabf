"""Package ownership from an rpm database made by the real rpm (Debian's rpm 4.18, sqlite backend):
a package built with rpmbuild and installed with `rpm --root` into a guest tree; and from an apk
database in Alpine's format (one stanza per package, F: directories and R: files)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from migrate.closure import closure_of
from migrate.model.base import Evidence
from migrate.model.inventory import Inventory, Package, Service
from migrate.pkgdb import load_package_db
from migrate.rootfs import RootFS

SPEC = """\
Name: hello-migrate
Version: 1.2
Release: 3
Summary: closure test package
License: MIT
BuildArch: noarch
%description
A service for the closure test.
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/hello %{buildroot}/usr/lib/systemd/system
printf '#!/bin/sh\\nexec sleep infinity\\n' > %{buildroot}/usr/bin/hello-migrate
chmod 0755 %{buildroot}/usr/bin/hello-migrate
echo 'greeting = hi' > %{buildroot}/etc/hello/hello.conf
printf '[Service]\\nExecStart=/usr/bin/hello-migrate\\n' > %{buildroot}/usr/lib/systemd/system/hello.service
%files
/usr/bin/hello-migrate
%config /etc/hello/hello.conf
/usr/lib/systemd/system/hello.service
"""


@pytest.fixture(scope="module")
def rpm_tree(tmp_path_factory):
    if shutil.which("rpmbuild") is None or shutil.which("rpm") is None:
        pytest.fail("rpm and rpmbuild are needed (apt-get install rpm)")
    top = tmp_path_factory.mktemp("rpmbuild")
    (top / "SPECS").mkdir()
    (top / "SPECS/hello.spec").write_text(SPEC)
    subprocess.run(["rpmbuild", "--define", f"_topdir {top}", "-bb", str(top / "SPECS/hello.spec")], check=True,
                   capture_output=True)
    [rpm_file] = list((top / "RPMS").rglob("*.rpm"))
    tree = tmp_path_factory.mktemp("rpmguest") / "root"
    tree.mkdir()
    subprocess.run(["rpm", "--root", str(tree), "--dbpath", "/var/lib/rpm", "--initdb"], check=True,
                   capture_output=True)
    subprocess.run(["rpm", "--root", str(tree), "--dbpath", "/var/lib/rpm", "-i", "--nodeps", "--noscripts",
                    "--ignorearch", str(rpm_file)], check=True, capture_output=True)
    assert (tree / "var/lib/rpm/rpmdb.sqlite").is_file()
    return tree


def test_rpm_sqlite_file_lists(rpm_tree) -> None:
    with RootFS.from_directory(rpm_tree) as rootfs:
        db = load_package_db(rootfs)
        assert db is not None and db.manager == "rpm" and db.complete, db and db.notes
        assert db.owners("/usr/bin/hello-migrate") == ["hello-migrate"]
        assert db.owners("/etc/hello/hello.conf") == ["hello-migrate"]
        assert db.meta["hello-migrate"].version == "1.2-3"
        ev = Evidence(analyzer="test", path="/var/lib/rpm/rpmdb.sqlite")
        inv = Inventory(name="rpmguest", backend="dir", packages=[
            Package(name="hello-migrate", version="1.2-3", manager="rpm", evidence=ev)])
        s = Service(name="hello", manager="systemd", exec_start=["/usr/bin/hello-migrate"],
                    unit_path="/usr/lib/systemd/system/hello.service")
        c = closure_of(inv, s, rootfs, db)
    reasons = c.packages["hello-migrate"].reasons
    assert any(r.startswith("owns /usr/bin/hello-migrate, the ExecStart executable") for r in reasons)
    assert any("the unit file" in r for r in reasons)


def test_rpm_analyzer_reads_the_same_real_database(rpm_tree) -> None:
    """rpm 4.16+ keeps rpmdb.sqlite in WAL mode; the packages analyzer must list its packages too
    (the closure pins them at the versions it reports)."""
    from migrate.analyzers.base import Context
    from migrate.analyzers.packages_rpm import RpmAnalyzer

    with RootFS.from_directory(rpm_tree) as rootfs:
        f = RpmAnalyzer().run(Context(rootfs=rootfs))
    assert [(p.name, p.version, p.manager) for p in f.packages] == [("hello-migrate", "1.2-3", "rpm")]
    assert not f.unknowns


def test_legacy_rpm_database_is_reported_not_guessed(tmp_path) -> None:
    (tmp_path / "var/lib/rpm").mkdir(parents=True)
    (tmp_path / "var/lib/rpm/Packages").write_bytes(b"\0" * 4096)
    with RootFS.from_directory(tmp_path) as rootfs:
        db = load_package_db(rootfs)
    assert db is not None and not db.complete and "not derivable" in db.notes[0]


def test_apk_installed_database(tmp_path) -> None:
    (tmp_path / "lib/apk/db").mkdir(parents=True)
    (tmp_path / "lib/apk/db/installed").write_text(
        "C:Q1abc=\nP:nginx\nV:1.24.0-r16\nA:x86_64\nF:usr/sbin\nR:nginx\nF:etc/nginx\nR:nginx.conf\n\n"
        "P:nginx-mod-http-echo\nV:1.24.0-r16\nF:usr/lib/nginx/modules\nR:ngx_http_echo_module.so\n\n")
    with RootFS.from_directory(tmp_path) as rootfs:
        db = load_package_db(rootfs)
    assert db is not None and db.manager == "apk"
    assert db.owners("/usr/sbin/nginx") == ["nginx"]
    assert db.owners("/usr/lib/nginx/modules/ngx_http_echo_module.so") == ["nginx-mod-http-echo"]
    assert db.meta["nginx"].version == "1.24.0-r16"
