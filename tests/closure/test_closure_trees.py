"""Package closure on a guest tree of real Debian 12 nginx packages: nginx-light is a meta package
whose only effect is a dependency on a dynamic module, libnginx-mod-http-echo, enabled through a
modules-enabled symlink. The closure must find the module's package from the enabled configuration
(evidence), and must not need nginx-light's name at all."""

from __future__ import annotations

import os
import shutil
import subprocess

from migrate.closure import closure_of, package_closure, package_db, used_files
from migrate.inspect import inventory_of, open_vm
from migrate.pkgdb import load_package_db
from migrate.rootfs import RootFS


def _inventory(tree):
    with open_vm([tree]) as vm:
        return inventory_of(vm)


def test_enabled_dynamic_module_brings_its_package(nginx_light_tree) -> None:
    inv = _inventory(nginx_light_tree)
    nginx = inv.service("nginx")
    assert nginx is not None and nginx.state == "enabled"
    with RootFS.from_directory(nginx_light_tree) as rootfs:
        db = package_db(rootfs)
        assert db is not None and db.manager == "dpkg" and db.complete
        c = closure_of(inv, nginx, rootfs, db)
        pkgs = c.packages
        assert "/usr/sbin/nginx" in {u.path for u in c.used}
        assert any(r.startswith("owns /usr/sbin/nginx, the ExecStart executable") for r in pkgs["nginx"].reasons)
        echo = pkgs["libnginx-mod-http-echo"].reasons
        # found through /etc/nginx/nginx.conf -> include modules-enabled/*.conf -> the symlink -> load_module
        assert any("mod-http-echo.conf" in r for r in echo), echo
        assert any("/usr/lib/nginx/modules/ngx_http_echo_module.so" in r for r in echo), echo
        assert any("the unit file" in r for r in pkgs["nginx-common"].reasons)
        assert "nginx-light" not in pkgs  # a meta package owns none of the files nginx uses
        closed = package_closure(inv, nginx, rootfs, "apt")
    assert closed is not None
    decision, exe_owners = closed
    assert exe_owners == {"nginx"}
    specs = {i.name: i.spec for i in decision.items}
    version = {p.name: p.version for p in inv.packages}
    assert specs["libnginx-mod-http-echo"] == f"libnginx-mod-http-echo={version['libnginx-mod-http-echo']}"
    assert all(i.reason for i in decision.items)
    assert "dpkg file lists" in decision.reason


def test_usr_merge_aliases_and_dpkg_diversions(nginx_light_tree, tmp_path) -> None:
    """nginx-common lists its unit as /lib/systemd/system/nginx.service; on a /usr-merged guest the
    same file is /usr/lib/systemd/system/nginx.service. A diversion made by the real dpkg-divert
    hands the diverted path to the diverting package and the moved file to its original owner."""
    tree = tmp_path / "root"
    subprocess.run(["cp", "-a", str(nginx_light_tree), str(tree)], check=True)
    subprocess.run(["dpkg-divert", "--root", str(tree), "--admindir", str(tree / "var/lib/dpkg"), "--package",
                    "libnginx-mod-http-echo", "--divert", "/usr/sbin/nginx.distrib", "--rename", "/usr/sbin/nginx"],
                   check=True, capture_output=True)
    (tree / "usr/sbin/nginx").write_bytes(b"#!/bin/sh\nexec /usr/sbin/nginx.distrib \"$@\"\n")
    os.chmod(tree / "usr/sbin/nginx", 0o755)
    with open(tree / "var/lib/dpkg/info/libnginx-mod-http-echo.list", "a") as fh:
        fh.write("/usr/sbin/nginx\n")
    with RootFS.from_directory(tree) as rootfs:
        db = load_package_db(rootfs)
        assert db is not None
        assert db.owners("/usr/lib/systemd/system/nginx.service") == ["nginx-common"]
        assert db.owners("/lib/systemd/system/nginx.service") == ["nginx-common"]
        assert db.owners("/usr/sbin/nginx") == ["libnginx-mod-http-echo"]
        assert db.owners("/usr/sbin/nginx.distrib") == ["nginx"]
        assert db.owners("/opt/custom/app") == []


def test_budgets_stop_a_hostile_package_database(tmp_path) -> None:
    """Thousands of list files and one huge one: indexing stops at the budget with a note."""
    import migrate.pkgdb as pkgdb

    info = tmp_path / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text("")
    for i in range(50):
        (info / f"p{i}.list").write_text("/.\n" + "".join(f"/usr/share/p{i}/f{j}\n" for j in range(100)))
    with open(info / "zz-huge.list", "wb") as fh:
        fh.truncate(2 * 1024 * 1024)
    old = (pkgdb.MAX_LIST_FILES, pkgdb.MAX_LIST_BYTES)
    pkgdb.MAX_LIST_FILES, pkgdb.MAX_LIST_BYTES = 40, 1024 * 1024
    try:
        with RootFS.from_directory(tmp_path) as rootfs:
            db = load_package_db(rootfs)
    finally:
        pkgdb.MAX_LIST_FILES, pkgdb.MAX_LIST_BYTES = old
    assert db is not None and not db.complete and db.lists_read == 40
    assert any("over the budget of 40" in n for n in db.notes)
    pkgdb.MAX_LIST_BYTES = 1024 * 1024
    try:
        with RootFS.from_directory(tmp_path) as rootfs:
            db = load_package_db(rootfs)
    finally:
        pkgdb.MAX_LIST_BYTES = old[1]
    assert db is not None and not db.complete and db.lists_read == 50  # the 2 MiB list is never read
    assert db.owners("/usr/share/p7/f99") == ["p7"]
    assert any("zz-huge.list: the package file lists exceed the read budget" in n for n in db.notes)


def test_alternatives_link_resolved_in_the_guest(nginx_light_tree, tmp_path) -> None:
    """A command reached through update-alternatives (the real tool, run with --root on a copy of the
    tree): /usr/bin/webserver -> /etc/alternatives/webserver -> /usr/sbin/nginx. The links belong to
    no package; the file they end at is nginx's."""
    tree = tmp_path / "root"
    subprocess.run(["cp", "-a", str(nginx_light_tree), str(tree)], check=True)
    (tree / "etc/alternatives").mkdir(exist_ok=True)
    (tree / "var/lib/dpkg/alternatives").mkdir(exist_ok=True)
    subprocess.run(["update-alternatives", "--root", str(tree), "--install", "/usr/bin/webserver", "webserver",
                    "/usr/sbin/nginx", "10"], check=True, capture_output=True)
    from migrate.model.inventory import Inventory, Service

    s = Service(name="web", manager="systemd", exec_start=["webserver", "-g", "daemon off;"])
    with RootFS.from_directory(tree) as rootfs:
        c = closure_of(Inventory(name="t", backend="dir"), s, rootfs, load_package_db(rootfs))
    reasons = c.packages["nginx"].reasons
    assert any(r.startswith("owns /usr/sbin/nginx (/usr/bin/webserver resolves to it), the ExecStart executable")
               for r in reasons), reasons
    assert c.exe_owners == {"nginx"} and not c.unowned


def test_used_files_follow_path_and_shebang(nginx_light_tree) -> None:
    """A command given by name is found through systemd's PATH; a script's #! interpreter is used."""
    from migrate.model.inventory import Service

    s = Service(name="x", manager="systemd", exec_start=["nginx", "-g", "daemon off;"])
    with RootFS.from_directory(nginx_light_tree) as rootfs:
        used, complete = used_files(_inventory(nginx_light_tree), s, rootfs)
    assert complete and used[0].path in ("/usr/sbin/nginx", "/sbin/nginx")


def test_node_require_and_perl_use_find_debian_modules(tmp_path) -> None:
    """An application script's `require('redis')` is Debian's node-redis (/usr/share/nodejs/redis),
    a Perl tool's `use JSON;` is libjson-perl (/usr/share/perl5/JSON.pm); built-in modules (http)
    and pragmas (strict) are found nowhere and bring nothing; a vendored node_modules is the app's."""
    from migrate.model.inventory import Inventory, Service
    from tests.closure import debtree

    tree = tmp_path / "root"
    debtree.install(tree, debtree.download(["node-redis", "libjson-perl"]))
    app = tree / "opt/app"
    (app / "node_modules/leftpad").mkdir(parents=True)
    (app / "node_modules/leftpad/package.json").write_text('{"name": "leftpad"}\n')
    (app / "server.js").write_text("const http = require('http');\nconst redis = require('redis');\n"
                                   "const pad = require('leftpad');\n")
    (app / "tool.pl").write_text("#!/usr/bin/perl\nuse strict;\nuse JSON;\nprint encode_json({});\n")
    inv = Inventory(name="t", backend="dir")
    with RootFS.from_directory(tree) as rootfs:
        db = load_package_db(rootfs)
        node = closure_of(inv, Service(name="app", manager="systemd",
                                       exec_start=["/usr/bin/node", "/opt/app/server.js"]), rootfs, db)
        perl = closure_of(inv, Service(name="tool", manager="systemd",
                                       exec_start=["/usr/bin/perl", "/opt/app/tool.pl"]), rootfs, db)
    assert list(node.packages) == ["node-redis"]
    assert any("module redis, required by /opt/app/server.js" in r for r in node.packages["node-redis"].reasons)
    assert "/opt/app/node_modules/leftpad/package.json" in {u.path for u in node.unowned}
    assert list(perl.packages) == ["libjson-perl"]
    assert any("module JSON, used by /opt/app/tool.pl" in r for r in perl.packages["libjson-perl"].reasons)


def test_hostile_configuration_is_bounded(tmp_path) -> None:
    """A config that includes `/*/*/*/*` (a walk of the whole guest) and a conf.d of 5000 files that
    all include each other: the walk skips the directory pattern, expands each pattern once, stops at
    its budgets, says so, and stays fast."""
    import time

    from migrate.closure import MAX_USED_FILES
    from migrate.model.inventory import ConfigFile, Inventory, Service

    confd = tmp_path / "etc/hostile/conf.d"
    confd.mkdir(parents=True)
    for i in range(5000):
        (confd / f"{i}.conf").write_text("include /etc/hostile/conf.d/*.conf;\ninclude /*/*/*/*;\n")
    (tmp_path / "etc/hostile/main.conf").write_text("include conf.d/*.conf;\n")
    (tmp_path / "var/lib/dpkg/info").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text("")
    from migrate.model.base import Evidence

    inv = Inventory(name="t", backend="dir", configs=[ConfigFile(
        path="/etc/hostile/main.conf", service="hostile", evidence=Evidence(analyzer="t", path="/etc/hostile"))])
    s = Service(name="hostile", manager="systemd")
    t0 = time.monotonic()
    with RootFS.from_directory(tmp_path) as rootfs:
        used, complete = used_files(inv, s, rootfs)
    assert time.monotonic() - t0 < 10
    assert not complete and len(used) <= MAX_USED_FILES


def test_local_program_brings_the_libraries_it_links(tmp_path) -> None:
    """A program installed by hand under /opt (here Debian's own nginx binary, copied there) is
    copied, not installed; the libraries it links against (DT_NEEDED, read from the ELF file) are
    the packages' files: libssl3 and libpcre2-8-0 come from the guest's file lists."""
    from migrate.model.inventory import Inventory, Service
    from tests.closure import debtree

    tree = tmp_path / "root"
    debtree.install(tree, debtree.download(["nginx", "libssl3", "libpcre2-8-0"]))
    (tree / "opt/local/bin").mkdir(parents=True)
    shutil.copy2(tree / "usr/sbin/nginx", tree / "opt/local/bin/server")
    s = Service(name="server", manager="systemd", exec_start=["/opt/local/bin/server", "-g", "daemon off;"])
    with RootFS.from_directory(tree) as rootfs:
        c = closure_of(Inventory(name="t", backend="dir"), s, rootfs, load_package_db(rootfs))
    assert set(c.packages) == {"libssl3", "libpcre2-8-0"}
    assert any("the library libssl.so.3 that /opt/local/bin/server links against" in r
               for r in c.packages["libssl3"].reasons)
    assert "/opt/local/bin/server" in {u.path for u in c.unowned}
