"""The benchmark fleet's native guest writer (migrate.samples._fleet_write) on a small real disk: an ext4
guest made with mkfs.ext4 -d at an offset inside a partitioned disk, converted to qcow2, and an overlay
over it. Writes land in the overlay (the backing file's bytes never change), keep mode and owner,
and `migrate inspect` reads them back; a disk without an ext4 root is refused as NotEditable."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from migrate.inspect import inspect_images
from migrate.samples._fleet_write import NotEditable, OverlayEditor
from migrate.samples.bad import minimal_os_tree

pytestmark = pytest.mark.image
MiB = 1 << 20


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def overlay(tmp_path):
    tree = minimal_os_tree(tmp_path / "tree", "base-host")
    (tree / "etc" / "app").mkdir(parents=True)
    (tree / "etc" / "app" / "app.env").write_text("DATABASE_URL=postgresql://app@localhost:5432/app\n")
    os.chmod(tree / "etc" / "app" / "app.env", 0o640)
    folder = tmp_path / "images"
    (folder / ".backing").mkdir(parents=True)
    raw = tmp_path / "disk.raw"
    with open(raw, "wb") as fh:
        fh.truncate(48 * MiB)
    subprocess.run(["sfdisk", "--quiet", raw], input=b"label: dos\nstart=2048, type=83\n", check=True)
    fs_kib = (48 * MiB - MiB) // 1024
    subprocess.run(["mkfs.ext4", "-q", "-F", "-E", f"offset={MiB},root_owner=0:0", "-d", tree, raw, f"{fs_kib}k"],
                   check=True)
    base = folder / ".backing" / "base.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, base], check=True)
    ov = folder / "vm01.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", ".backing/base.qcow2", "-F", "qcow2", ov],
                   check=True)
    return ov, base


def test_writes_land_in_the_overlay_and_inspection_sees_them(overlay, tmp_path):
    ov, base = overlay
    before = _sha(base)
    with OverlayEditor(ov, tmp_path / "work") as ed:
        assert ed.root_offset == MiB
        ed.write("/etc/hostname", b"vm01\n")
        ed.write("/etc/hosts", b"127.0.0.1 localhost\n10.1.2.3 vm01.corp.example vm01\n")
        ed.edit("/etc/app/app.env", [("@localhost:5432", "@db01.corp.example:5432")])
        assert ed.stat("/etc/app/app.env")[0] & 0o7777 == 0o640
        with pytest.raises(Exception, match="not found"):
            ed.edit("/etc/hostname", [("no-such-text", "x")])
    assert _sha(base) == before
    assert not any(Path(p).is_relative_to(tmp_path) for p in _fuse_mounts())  # the export is gone
    inv = inspect_images([ov], "native")
    assert inv.network.hostname == "vm01"
    assert [(h.address, h.names) for h in inv.network.hosts if h.address == "10.1.2.3"] == \
        [("10.1.2.3", ["vm01.corp.example", "vm01"])]


def test_a_disk_without_ext4_root_is_not_editable(tmp_path):
    blank = tmp_path / "blank.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", blank, "16M"], check=True)
    with pytest.raises(NotEditable, match="no ext4 filesystem"), OverlayEditor(blank, tmp_path / "work"):
        pass
    assert not any(Path(p).is_relative_to(tmp_path) for p in _fuse_mounts())


def _fuse_mounts() -> list[str]:
    with open("/proc/self/mounts") as fh:
        return [ln.split()[1] for ln in fh if ln.split()[2].startswith("fuse")]
