import hashlib
import sqlite3
import struct

import pytest

from migrate.analyzers.base import NotApplicable
from migrate.analyzers.packages_apk import ApkAnalyzer
from migrate.analyzers.packages_dpkg import DpkgAnalyzer
from migrate.analyzers.packages_pacman import PacmanAnalyzer
from migrate.analyzers.packages_rpm import RpmAnalyzer

STATUS = """\
Package: nginx-common
Status: install ok installed
Architecture: all
Version: 1.22.1-9
Conffiles:
 /etc/nginx/nginx.conf {nginx_md5}
 /etc/nginx/fastcgi.conf {other_md5}
 /etc/nginx/old.conf 0123456789abcdef0123456789abcdef obsolete
Description: small, powerful, scalable web/proxy server
 long description

Package: apache2
Status: deinstall ok config-files
Architecture: amd64
Version: 2.4.57-2
Conffiles:
 /etc/apache2/apache2.conf 0123456789abcdef0123456789abcdef

Package: vim-tiny
Status: deinstall ok installed
Architecture: amd64
Source: vim (2:9.0.1378-2)
Version: 2:9.0.1378-2

Package: broken-pkg
Status: install reinstreq half-installed
Architecture: amd64
Version: 1.0

Package: gone
Status: purge ok not-installed
Architecture: amd64
"""


def test_dpkg_states_and_modified_conffiles(tree, run):
    nginx = "user www-data;\n"
    tree.write("/etc/nginx/nginx.conf", nginx)
    tree.write("/etc/nginx/fastcgi.conf", "changed by the admin\n")
    tree.write("/var/lib/dpkg/status", STATUS.format(nginx_md5=hashlib.md5(nginx.encode()).hexdigest(),
                                                     other_md5=hashlib.md5(b"shipped").hexdigest()))
    f, ctx = run(tree, DpkgAnalyzer())
    pkgs = {p.name: p for p in f.packages}
    assert set(pkgs) == {"nginx-common", "apache2", "vim-tiny", "broken-pkg"}
    assert (pkgs["apache2"].state, pkgs["apache2"].desired) == ("config-files", "deinstall")
    assert (pkgs["vim-tiny"].state, pkgs["vim-tiny"].desired, pkgs["vim-tiny"].source) == (
        "installed", "deinstall", "vim")
    assert pkgs["broken-pkg"].state == "half-installed"
    assert pkgs["nginx-common"].version == "1.22.1-9" and pkgs["nginx-common"].arch == "all"
    assert [(c.path, c.from_package, c.modified_from_package) for c in f.configs] == [
        ("/etc/nginx/fastcgi.conf", "nginx-common", True)]
    from migrate.analyzers._support import config_file
    unchanged = config_file(ctx, DpkgAnalyzer(), "/etc/nginx/nginx.conf", service="nginx", kind="nginx-conf")
    assert (unchanged.from_package, unchanged.modified_from_package) == ("nginx-common", False)


def test_dpkg_not_applicable(tree, run):
    tree.mkdir("/etc")
    with pytest.raises(NotApplicable):
        run(tree, DpkgAnalyzer())


def _header(tags: dict[int, tuple[int, bytes]]) -> bytes:
    entries, store = b"", b""
    for tag, (typ, data) in tags.items():
        if typ == 4:
            while len(store) % 4:
                store += b"\0"
        entries += struct.pack(">iiii", tag, typ, len(store), 1)
        store += data
    return struct.pack(">ii", len(tags), len(store)) + entries + store


def test_rpm_sqlite_database_read_in_memory(tree, run):
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    conn.execute("INSERT INTO Packages (blob) VALUES (?)", (_header({
        1000: (6, b"bash\0"), 1001: (6, b"5.1.8\0"), 1002: (6, b"6.el9\0"), 1022: (6, b"x86_64\0"),
        1044: (6, b"bash-5.1.8-6.el9.src.rpm\0")}),))
    conn.execute("INSERT INTO Packages (blob) VALUES (?)", (_header({
        1000: (6, b"shadow-utils\0"), 1001: (6, b"4.9\0"), 1002: (6, b"8.el9\0"), 1003: (4, struct.pack(">i", 2)),
        1022: (6, b"x86_64\0")}),))
    conn.execute("INSERT INTO Packages (blob) VALUES (?)", (b"\0\0\0\x09garbage",))
    conn.commit()
    tree.write("/var/lib/rpm/rpmdb.sqlite", conn.serialize())
    f, _ = run(tree, RpmAnalyzer())
    pkgs = {p.name: p for p in f.packages}
    assert pkgs["bash"].version == "5.1.8-6.el9" and pkgs["bash"].source == "bash"
    assert pkgs["shadow-utils"].version == "2:4.9-8.el9"
    assert len(f.unknowns) == 1 and "header" in f.unknowns[0].message


def test_rpm_berkeleydb_is_an_unknown(tree, run):
    tree.write("/var/lib/rpm/Packages", b"\0" * 64)
    f, _ = run(tree, RpmAnalyzer())
    assert not f.packages and f.unknowns[0].path == "/var/lib/rpm/Packages"


def test_apk_installed_db(tree, run):
    tree.write("/lib/apk/db/installed", "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\n"
                                        "P:busybox\nV:1.36.1-r15\nA:x86_64\no:busybox\nF:bin\nR:busybox\n")
    f, _ = run(tree, ApkAnalyzer())
    assert [(p.name, p.version, p.manager) for p in f.packages] == [
        ("musl", "1.2.4-r2", "apk"), ("busybox", "1.36.1-r15", "apk")]


def test_pacman_local_db(tree, run):
    tree.write("/var/lib/pacman/local/bash-5.2.026-2/desc", "%NAME%\nbash\n\n%VERSION%\n5.2.026-2\n\n%ARCH%\nx86_64\n")
    f, _ = run(tree, PacmanAnalyzer())
    assert [(p.name, p.version, p.arch) for p in f.packages] == [("bash", "5.2.026-2", "x86_64")]
