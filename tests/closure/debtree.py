"""A guest tree made from real Debian 12 packages without running any of their scripts.

``apt-get download`` fetches the .deb files (cached in ``~/.cache/migrate/debs``); each is unpacked
from ``dpkg-deb --fsys-tarfile`` and registered the way dpkg itself would: a ``/var/lib/dpkg/info/NAME.list``
(``NAME:ARCH.list`` for ``Multi-Arch: same``) listing exactly the paths of the package's data tar,
and a status stanza made from its control fields. What a postinst does that matters to a test (the
symlink ``libnginx-mod-*`` puts in ``/etc/nginx/modules-enabled``) is done by the test itself, so
the tree is what a VM with those packages installed looks like. /bin, /sbin and /lib are the
/usr-merge links of a Debian 12 install.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

CACHE = Path(os.environ.get("MIGRATE_DEBS_CACHE", Path.home() / ".cache/migrate/debs"))


def download(packages: list[str]) -> dict[str, Path]:
    """name -> .deb file, downloading the missing ones with apt-get (Debian's mirror)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    found = {p: next(iter(sorted(CACHE.glob(f"{p}_*.deb"))), None) for p in packages}
    missing = [p for p, f in found.items() if f is None]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=CACHE, check=True, capture_output=True, timeout=600)
        found = {p: next(iter(sorted(CACHE.glob(f"{p}_*.deb")))) for p in packages}
    return found  # type: ignore[return-value]


def _control(deb: Path) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True).stdout


def _paths(deb: Path) -> list[str]:
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = [m.name for m in tf.getmembers()]
    out = []
    for n in names:
        p = "/" + n.lstrip("./").rstrip("/") if n not in (".", "./") else "/."
        out.append(p)
    return out


def install(tree: Path, debs: dict[str, Path]) -> None:
    """Unpack ``debs`` into ``tree`` and register them in its dpkg database."""
    for d in ("usr/bin", "usr/sbin", "usr/lib", "var/lib/dpkg/info", "etc"):
        (tree / d).mkdir(parents=True, exist_ok=True)
    for alias in ("bin", "sbin", "lib"):
        if not (tree / alias).is_symlink():
            os.symlink(f"usr/{alias}", tree / alias)
    status = tree / "var/lib/dpkg/status"
    stanzas = status.read_text() if status.exists() else ""
    for name, deb in sorted(debs.items()):
        # dpkg keeps the /usr-merge links; plain `dpkg-deb -x` would replace /lib by a directory
        data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "--keep-directory-symlink", "-C", str(tree)], input=data, check=True,
                       capture_output=True)
        control = _control(deb)
        fields = dict(line.split(": ", 1) for line in control.splitlines() if ": " in line and line[0] != " ")
        arch = fields.get("Architecture", "all")
        list_name = f"{name}:{arch}.list" if fields.get("Multi-Arch") == "same" else f"{name}.list"
        (tree / "var/lib/dpkg/info" / list_name).write_text("\n".join(_paths(deb)) + "\n")
        lines = control.rstrip("\n").splitlines()
        lines.insert(1, "Status: install ok installed")
        stanzas += "\n".join(lines) + "\n\n"
    status.write_text(stanzas)
