"""The native backend must see exactly what libguestfs (the reference) sees: every path, kind,
mode, owner, symlink target and file content of the whole flagship guest, across all its mounts."""

from __future__ import annotations

import hashlib
import tarfile

import pytest

from migrate.image.guestfs_backend import GuestfsBackend
from migrate.image.native import NativeBackend

pytestmark = pytest.mark.image


def native_tree(rootfs) -> dict[str, tuple]:
    tree = {}
    for path, st in rootfs.walk("/"):
        if st.kind == "file":
            digest = hashlib.sha256(rootfs.read_bytes(path, max_bytes=1 << 34)).hexdigest()
            tree[path] = ("file", st.mode, st.uid, st.gid, digest)
        elif st.kind == "symlink":
            tree[path] = ("symlink", st.uid, st.gid, rootfs.readlink(path))
        else:
            tree[path] = (st.kind, st.mode, st.uid, st.gid, None)
    return tree


def reference_tree(tar_path) -> dict[str, tuple]:
    tree: dict[str, tuple] = {}
    with tarfile.open(tar_path) as tar:
        for m in tar:
            path = "/" + m.name.lstrip("./").rstrip("/")
            if path == "/":
                continue
            if m.isfile():
                digest = hashlib.sha256(tar.extractfile(m).read()).hexdigest()
                tree[path] = ("file", m.mode, m.uid, m.gid, digest)
            elif m.islnk():  # hard link: same content as the file it links to
                tree[path] = tree["/" + m.linkname.lstrip("./")][:1] + (m.mode, m.uid, m.gid) + \
                    tree["/" + m.linkname.lstrip("./")][4:]
            elif m.issym():
                tree[path] = ("symlink", m.uid, m.gid, m.linkname)
            else:
                kind = {tarfile.DIRTYPE: "dir", tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block",
                        tarfile.FIFOTYPE: "fifo"}.get(m.type, "other")
                tree[path] = (kind, m.mode, m.uid, m.gid, None)
    return tree


def test_whole_guest_native_equals_guestfs(flagship_images, tmp_path):
    image = flagship_images.files["qcow2"]
    with NativeBackend().open([image]) as guest:
        native = native_tree(guest.rootfs)
    with GuestfsBackend().open([image]) as guest:
        tar_path = tmp_path / "reference.tar"
        guest.rootfs.mounts["/"].g.tar_out("/", str(tar_path), numericowner=True)
        reference = reference_tree(tar_path)
    # sockets are not archived by tar; nothing else may differ
    native = {p: v for p, v in native.items() if v[0] != "socket"}
    missing = sorted(set(reference) - set(native))[:10]
    extra = sorted(set(native) - set(reference))[:10]
    assert not missing and not extra, f"only in guestfs: {missing}; only in native: {extra}"
    differ = [p for p in reference if reference[p] != native[p]][:10]
    assert not differ, [(p, reference[p], native[p]) for p in differ]
    assert len(native) > 10_000  # a whole Debian system, not an empty tree
