"""btrfs with subvolumes: the native backend says it cannot read btrfs, `auto` falls back to
libguestfs, which mounts the subvolumes as the guest's fstab says (root on @, /home on @home)."""

from __future__ import annotations

import subprocess

import pytest

from migrate.image.guestfs_backend import guestfs_environment
from migrate.inspect import inspect_images
from migrate.samples.bad import minimal_os_tree

pytestmark = pytest.mark.image

FSTAB = "LABEL=btroot / btrfs subvol=@,defaults 0 0\nLABEL=btroot /home btrfs subvol=@home,defaults 0 0\n"


@pytest.fixture(scope="module")
def btrfs_image(tmp_path_factory):
    import guestfs

    guestfs_environment()
    work = tmp_path_factory.mktemp("btrfs")
    tree = minimal_os_tree(work / "tree", "btrfs-guest")
    (tree / "etc/fstab").write_text(FSTAB)
    (work / "home-marker").write_text("on the @home subvolume\n")
    disk = work / "disk.raw"
    with open(disk, "wb") as fh:
        fh.truncate(320 * 2**20)
    g = guestfs.GuestFS(python_return_dict=True)
    try:
        g.add_drive_opts(str(disk), format="raw", readonly=0)
        g.launch()
        g.mkfs_btrfs(["/dev/sda"], label="btroot")
        g.mount("/dev/sda", "/")
        g.btrfs_subvolume_create("/@")
        g.btrfs_subvolume_create("/@home")
        g.mkdir_p("/@/home")
        tar = work / "tree.tar"
        subprocess.run(["tar", "-C", str(tree), "--numeric-owner", "-cf", str(tar), "."], check=True)
        g.tar_in(str(tar), "/@")
        g.mkdir_p("/@home/alice")
        g.upload(str(work / "home-marker"), "/@home/alice/marker.txt")
        g.umount_all()
        g.shutdown()
    finally:
        g.close()
    return disk


def test_auto_falls_back_to_guestfs_and_mounts_subvolumes(btrfs_image):
    inv = inspect_images([btrfs_image], "auto")
    assert inv.backend == "guestfs"
    assert any("btrfs" in u.message and "guestfs" in u.message for u in inv.unknowns)
    assert (inv.os.distro, inv.network.hostname) == ("debian", "btrfs-guest")
    mounts = {m.mountpoint: m for m in inv.mounts}
    assert mounts["/home"].fstype == "btrfs" and "subvol=@home" in mounts["/home"].options
    assert mounts["/home"].mounted  # libguestfs mounted the @home subvolume where fstab says


def test_native_alone_refuses_btrfs_with_a_clear_error(btrfs_image):
    from migrate.errors import UnsupportedLayout

    with pytest.raises(UnsupportedLayout, match="btrfs"):
        inspect_images([btrfs_image], "native")
