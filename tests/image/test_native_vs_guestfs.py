"""Differential test against libguestfs, the reference: the whole tree of a small ext4 + xfs guest
read through the native RootFS and through the guestfs API (read-only drive, mount_ro,
lstatnslist, readlinklist, checksums_out: batched, since every appliance round trip is slow under
TCG) must agree on every path, kind, mode, owner, symlink target and content."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from migrate.image.native import NativeBackend
from tests.image.builders import convert, guest_tree, make_disk, make_ext4, make_xfs

guestfs = pytest.importorskip("guestfs")
pytestmark = pytest.mark.image

KINDS = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFCHR: "char",
         stat.S_IFBLK: "block", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}


@pytest.fixture(scope="module")
def guest(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("vsguestfs")
    root = guest_tree(d / "root")
    (root / "etc/fstab").write_text("/dev/sda1 / ext4 defaults 0 1\nLABEL=DATA /var xfs defaults 0 2\n")
    (root / "usr/share/doc").mkdir(parents=True)
    for i in range(200):
        (root / f"usr/share/doc/f{i:03d}.txt").write_bytes(os.urandom(i * 97))
    os.mkfifo(root / "usr/share/fifo")
    var = d / "var"
    (var / "lib/db").mkdir(parents=True)
    for i in range(50):
        (var / f"lib/db/page{i}").write_bytes(os.urandom(4096 * (i % 7) + i))
    os.chmod(var / "lib/db", 0o2750)
    os.chown(var / "lib/db", 999, 998)
    (var / "lib/db/current").symlink_to("page7")
    (var / "abs").symlink_to("/etc/shadow")
    disk = make_disk(d / "disk.raw", 400, [(48, make_ext4(d / "root.img", root, 48), "linux"),
                                           (320, make_xfs(d / "var.img", var, 300, label="DATA"), "linux")])
    return convert(disk, d / "disk.qcow2", "qcow2", "-c")


def native_tree(image: Path) -> dict[str, tuple]:
    tree = {}
    with NativeBackend().open([image]) as g:
        assert sorted(g.rootfs.mounts) == ["/", "/var"]
        for path, st in g.rootfs.walk("/"):
            if st.kind == "file":
                extra = hashlib.sha256(g.rootfs.read_bytes(path)).hexdigest()
            elif st.kind == "symlink":
                extra = g.rootfs.readlink(path)
            else:
                extra = None
            mode = st.mode if st.kind != "symlink" else None  # symlink permission bits are meaningless
            size = st.size if st.kind in ("file", "symlink") else None
            tree[path] = (st.kind, mode, st.uid, st.gid, size, extra)
    return tree


def guestfs_tree(image: Path) -> dict[str, tuple]:
    g = guestfs.GuestFS(python_return_dict=True)
    os.environ.setdefault("LIBGUESTFS_BACKEND", "direct")
    g.add_drive_opts(str(image), readonly=True, format="qcow2")
    g.launch()
    try:
        g.mount_ro("/dev/sda1", "/")
        g.mount_ro("/dev/sda2", "/var")
        paths = ["/" + rel for rel in g.find("/")]
        by_dir: dict[str, list[str]] = {}
        for path in paths:
            by_dir.setdefault(os.path.dirname(path), []).append(os.path.basename(path))
        stats, links = {}, {}
        for directory, names in by_dir.items():  # batched calls: each round trip costs under TCG
            for name, st in zip(names, g.lstatnslist(directory, names), strict=True):
                stats[os.path.join(directory, name)] = st
            link_names = [n for n in names
                          if stat.S_ISLNK(stats[os.path.join(directory, n)]["st_mode"])]
            if link_names:
                for name, target in zip(link_names, g.readlinklist(directory, link_names), strict=True):
                    links[os.path.join(directory, name)] = target
        sums_file = image.parent / "sha256sums.txt"
        g.checksums_out("sha256", "/", str(sums_file))
        sums = {}
        for line in sums_file.read_text().splitlines():
            digest, _, rel = line.partition("  ")
            sums["/" + rel.lstrip("./")] = digest
        tree = {}
        for path in paths:
            st = stats[path]
            kind = KINDS.get(stat.S_IFMT(st["st_mode"]), "other")
            extra = sums[path] if kind == "file" else links.get(path)
            mode = st["st_mode"] & 0o7777 if kind != "symlink" else None
            size = st["st_size"] if kind in ("file", "symlink") else None
            tree[path] = (kind, mode, st["st_uid"], st["st_gid"], size, extra)
        return tree
    finally:
        g.close()


def test_native_tree_equals_guestfs(guest):
    native = native_tree(guest)
    reference = guestfs_tree(guest)
    assert sorted(set(reference) - set(native)) == []
    assert sorted(set(native) - set(reference)) == []
    differ = [(p, reference[p], native[p]) for p in sorted(reference) if reference[p] != native[p]]
    assert differ == []
    assert len(native) > 270
    assert native["/var/lib/db"][1:4] == (0o2750, 999, 998)
