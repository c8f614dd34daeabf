"""LVM2 guests: the device-mapper is missing on the host, so the layout is built inside the
libguestfs appliance (pvcreate, vgcreate, lvcreate), and filesystems made on the host from trees are
uploaded into the logical volumes. The fstab names one LV as /dev/mapper/VG-LV (dashes doubled) and
the other as /dev/VG/LV."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from migrate.errors import ResourceBudgetExceeded
from migrate.image.filesystems import open_filesystem
from migrate.image.formats import BlockDevice, open_image
from migrate.image.lvm import assemble
from migrate.image.native import NativeBackend
from migrate.image.partitions import read_partitions
from tests.image.builders import convert, guest_tree, make_ext4, make_xfs

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def lvm_guest(tmp_path_factory) -> Path:
    if not shutil.which("guestfish"):
        pytest.skip("guestfish not installed")
    d = tmp_path_factory.mktemp("lvm")
    root = guest_tree(d / "root")
    (root / "etc/fstab").write_text("/dev/mapper/vg--sys-root / ext4 defaults 0 1\n"
                                    "/dev/vg-sys/my-var /var xfs defaults 0 2\n"
                                    "/dev/sda1 /boot ext4 defaults 0 2\n")
    var = d / "var"
    (var / "lib").mkdir(parents=True)
    (var / "lib/state").write_text("on an LV\n")
    boot = d / "boot"
    boot.mkdir()
    (boot / "vmlinuz").write_bytes(b"kernel")
    make_ext4(d / "root.img", root, 60)
    make_xfs(d / "var.img", var, 300)
    make_ext4(d / "boot.img", boot, 16)
    disk = d / "disk.raw"
    with open(disk, "wb") as fh:
        fh.truncate(420 << 20)
    script = f"""run
part-init /dev/sda mbr
part-add /dev/sda p 2048 34815
part-add /dev/sda p 34816 -1
pvcreate /dev/sda2
vgcreate vg-sys /dev/sda2
lvcreate root vg-sys 60
lvcreate my-var vg-sys 300
upload {d / 'boot.img'} /dev/sda1
upload {d / 'root.img'} /dev/vg-sys/root
upload {d / 'var.img'} /dev/vg-sys/my-var
"""
    env = dict(os.environ, LIBGUESTFS_BACKEND="direct")
    env.setdefault("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
    subprocess.run(["guestfish", "-a", str(disk)], input=script, text=True, check=True, env=env,
                   capture_output=True, timeout=600)
    return convert(disk, d / "disk.qcow2", "qcow2", "-c")


def test_lvm_guest(lvm_guest):
    with NativeBackend().open([lvm_guest]) as guest:
        assert sorted(guest.rootfs.mounts) == ["/", "/boot", "/var"]
        assert guest.rootfs.read_text("/var/lib/state") == "on an LV\n"
        assert guest.rootfs.read_bytes("/boot/vmlinuz") == b"kernel"
        devices = {f.device: (f.fstype, f.mountpoint) for f in guest.filesystems}
        assert devices["/dev/vg-sys/root"] == ("ext4", "/")
        assert devices["/dev/vg-sys/my-var"] == ("xfs", "/var")
        assert devices["/dev/sda2"] == ("LVM2_member", None)
        assert guest.notes == []


class _BudgetAfter(BlockDevice):
    """A real device whose reads past ``limit`` hit a resource budget, as a compressed cluster that
    inflates too far would: the error is raised under libyal's C code, which wraps it in an OSError."""

    def __init__(self, dev: BlockDevice, limit: int) -> None:
        self.dev, self.limit, self.size, self.path = dev, limit, dev.size, dev.path

    def read(self, offset: int, size: int) -> bytes:
        if offset + size > self.limit:
            raise ResourceBudgetExceeded("cluster inflates past its budget", path=self.path)
        return self.dev.read(offset, size)


def test_a_budget_hit_under_the_lvm_and_filesystem_readers_keeps_its_class(lvm_guest):
    """Before, the binding's OSError became CorruptImage ("LVM2 metadata unreadable", exit 12): the
    user was told the disk is broken when a budget stopped the read (exit 32)."""
    with open_image(str(lvm_guest)) as disk:
        pv = next(p for p in read_partitions(disk) if p.index == 2)
        pv_dev = disk.slice(pv.start, pv.size)
        assert assemble([("/dev/sda2", pv_dev)], report_path=str(lvm_guest)).lvs  # the real PV reads
        with pytest.raises(ResourceBudgetExceeded):
            assemble([("/dev/sda2", _BudgetAfter(pv_dev, 4096))], report_path=str(lvm_guest))
        boot = next(p for p in read_partitions(disk) if p.index == 1)
        with pytest.raises(ResourceBudgetExceeded):
            open_filesystem(_BudgetAfter(disk.slice(boot.start, boot.size), 2048), "ext4", "/dev/sda1")


def test_no_root_names_the_budget_that_stopped_a_filesystem_not_a_missing_os():
    """The root filesystem's open stopped by a budget is a note among failures; with no root found the
    answer is that budget (32), before a corrupt filesystem (12), never "no operating system" (14)."""
    from migrate.errors import CorruptImage

    budget = ResourceBudgetExceeded("cluster inflates past its budget", path="disk.qcow2")
    corrupt = CorruptImage("bad superblock", path="disk.qcow2")
    with pytest.raises(ResourceBudgetExceeded):
        NativeBackend._no_root(["disk.qcow2"], [], {}, [corrupt, budget], [])
    with pytest.raises(CorruptImage):
        NativeBackend._no_root(["disk.qcow2"], [], {}, [corrupt], [])
