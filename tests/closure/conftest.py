"""Guests for the package-closure tests: the real sample images (tests/images_fixtures.py) and a
tree of real Debian 12 nginx packages (debtree.py)."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.closure import debtree

NGINX_LIGHT = ["nginx", "nginx-common", "nginx-light", "libnginx-mod-http-echo"]


@pytest.fixture(scope="session")
def nginx_light_tree(tmp_path_factory):
    """nginx-light (a meta package: no file of its own but the docs) with the dynamic echo module
    enabled in modules-enabled, as libnginx-mod-http-echo's postinst leaves it, and the unit the
    nginx-common package ships enabled."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.fail("apt-get and dpkg-deb are needed to make the tree from real Debian packages")
    tree = tmp_path_factory.mktemp("nginx-light") / "root"
    debtree.install(tree, debtree.download(NGINX_LIGHT))
    enabled = tree / "etc/nginx/modules-enabled"
    enabled.mkdir(parents=True, exist_ok=True)
    os.symlink("/usr/share/nginx/modules-available/mod-http-echo.conf", enabled / "50-mod-http-echo.conf")
    wants = tree / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    os.symlink("/lib/systemd/system/nginx.service", wants / "nginx.service")
    (tree / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
                                         'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    (tree / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:"
                                     "/usr/sbin/nologin\n")
    (tree / "etc/group").write_text("root:x:0:\nwww-data:x:33:\n")
    return tree
