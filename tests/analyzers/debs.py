"""Real files from real Debian packages for the analyzer tests.

``debian_package("mariadb-server/bookworm")`` runs ``apt-get download`` for that package (the spec is
apt's: ``name``, ``name/release``, ``name=version``) and unpacks it with ``dpkg-deb -x``; the unpacked
tree is cached under ~/.cache/migrate/debs (``MIGRATE_DEBS_CACHE`` moves it), so the Debian mirror is
asked once per package. ``install`` copies files of that tree into a test guest the way the package's
own installation would place them. Maintainer scripts do not run: where a postinst creates links (a2enmod,
phpenmod), the test makes the same links itself and says so.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("MIGRATE_DEBS_CACHE", Path.home() / ".cache" / "migrate" / "debs"))


def debian_package(spec: str) -> Path:
    """The unpacked root of the package ``spec`` (cached); the .deb's file name is in ``<root>/../deb``."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("apt-get/dpkg-deb not available: the real Debian packages cannot be fetched here")
    CACHE.mkdir(parents=True, exist_ok=True)
    dest = CACHE / re.sub(r"[^A-Za-z0-9.+_-]", "_", spec)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (dest / "root").is_dir():
            return dest / "root"
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            proc = subprocess.run(["apt-get", "download", spec], cwd=tmp, capture_output=True, text=True, timeout=600)
            debs = sorted(Path(tmp).glob("*.deb"))
            assert proc.returncode == 0 and debs, f"apt-get download {spec} failed: {proc.stderr[-500:]}"
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), f"{tmp}/root"], check=True, timeout=300)
            Path(tmp, "deb").write_text(debs[0].name + "\n")
            dest.mkdir()
            os.replace(f"{tmp}/root", dest / "root")
            os.replace(f"{tmp}/deb", dest / "deb")
    return dest / "root"


def install(tree, root: Path, *paths: str) -> None:
    """Copy guest ``paths`` (files or whole directories, links kept) from an unpacked package into ``tree``."""
    for path in paths:
        src = root / path.lstrip("/")
        dst = tree.host(path)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir() and not src.is_symlink():
            shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
        elif src.is_symlink():
            if dst.is_symlink() or dst.exists():
                dst.unlink()
            dst.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, dst)
