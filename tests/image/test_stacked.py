"""md RAID and LUKS2-under-LVM guests built in libguestfs's appliance (tests/image/stacked_images.py,
cached): md RAID1 and RAID0 read natively with fstab's /dev/md0 resolved through the guest's
mdadm.conf; LUKS2 detected by libguestfs (15 without a key, 38 on a wrong key, not "no operating
system") and opened with the key given by both backends."""

from __future__ import annotations

import pytest

from migrate.errors import EncryptedVolume, WrongKey
from migrate.image.guestfs_backend import GuestfsBackend
from migrate.image.keys import key_store
from migrate.inspect import inspect_images
from tests.image.stacked_images import LUKS_PASSPHRASE, stacked_images

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def stacked():
    return stacked_images()


def test_md_raid1_and_raid0_natively(stacked):
    inv = inspect_images([stacked["md1.img"], stacked["md2.img"]], "native")
    assert inv.backend == "native" and inv.os.distro == "debian"
    mounts = {m.mountpoint: m for m in inv.mounts}
    assert mounts["/"].resolved_device == "/dev/md127" and mounts["/"].mounted
    assert mounts["/srv"].spec == "/dev/md0" and mounts["/srv"].mounted  # named by the guest's mdadm.conf
    fs = {f.device: f for f in inv.filesystems}
    assert (fs["/dev/md127"].label, fs[mounts["/srv"].resolved_device].label) == ("MDROOT", "MDSRV")
    assert {fs[d].fstype for d in ("/dev/sda1", "/dev/sdb1", "/dev/sda2", "/dev/sdb2")} == {"linux_raid_member"}
    assert not inv.unknowns, inv.unknowns


def test_md_raid0_stripes_read_back(stacked):
    """The RAID0 file spans many 64 KiB chunks on both members: read whole, it is what was written."""
    from migrate.image.native import NativeBackend

    with NativeBackend().open([stacked["md1.img"], stacked["md2.img"]]) as guest:
        assert guest.rootfs.read_bytes("/srv/on-raid0.txt") == b"striped\n" * 20000


def test_md_degraded_mirror_is_read_and_said(stacked):
    inv = inspect_images([stacked["md1.img"]], "native")
    assert inv.os.distro == "debian"
    messages = " | ".join(u.message for u in inv.unknowns)
    assert "1 of 2 mirror members present" in messages and "RAID0 array mdsrv" in messages


def test_luks2_without_key_under_guestfs_is_encrypted_not_no_os(stacked):
    """libguestfs never lists crypto_LUKS among filesystems: each device is asked (issue 11 found exit 14)."""
    with pytest.raises(EncryptedVolume) as exc:
        GuestfsBackend().open([stacked["luks.img"]])
    assert type(exc.value) is EncryptedVolume and exc.value.exit_code == 15
    assert "LUKS2" in exc.value.message and "/dev/sda2" in exc.value.message


def test_luks2_wrong_key_under_guestfs(stacked):
    with pytest.raises(WrongKey) as exc:
        GuestfsBackend().open([stacked["luks.img"]], key_store(["not-the-key"]))
    assert exc.value.exit_code == 38 and "LUKS2" in exc.value.message and "/dev/sda2" in exc.value.message


def test_luks2_lvm_opened_by_guestfs_with_the_key(stacked):
    inv = inspect_images([stacked["luks.img"]], "guestfs", keys=key_store([LUKS_PASSPHRASE]))
    assert inv.backend == "guestfs" and inv.os.distro == "debian"
    mounts = {m.mountpoint: m for m in inv.mounts}
    assert mounts["/"].spec == "/dev/mapper/vgcrypt-root" and mounts["/"].resolved_device == "/dev/vgcrypt/root"
    assert mounts["/boot"].resolved_device == "/dev/sda1" and mounts["/boot"].mounted
    assert LUKS_PASSPHRASE not in inv.to_json()


def test_luks2_lvm_opened_natively_like_guestfs(stacked):
    """The same appliance-made LUKS2 (Argon2id key slot) opened by the native reader: same mounts."""
    inv = inspect_images([stacked["luks.img"]], "auto", keys=key_store([f"/dev/sda2:key:{LUKS_PASSPHRASE}"]))
    assert inv.backend == "native" and inv.os.distro == "debian" and not inv.unknowns, inv.unknowns
    mounts = {m.mountpoint: m for m in inv.mounts}
    assert mounts["/"].resolved_device == "/dev/vgcrypt/root" and mounts["/"].mounted
    assert mounts["/boot"].resolved_device == "/dev/sda1" and mounts["/boot"].mounted
    fs = {f.device: f for f in inv.filesystems}
    assert fs["/dev/vgcrypt/root"].label == "CRYPTROOT" and fs["/dev/sda2"].fstype == "crypto_LUKS"


def test_md_raid5_natively_byte_exact():
    """A RAID5 built by mdadm in the appliance (left-symmetric, 64 KiB chunks over three members):
    the data chunks are found where md's parity rotation puts them."""
    from migrate.image.native import NativeBackend
    from tests.image.raid5_image import PAYLOAD, raid5_images

    with NativeBackend().open(raid5_images()) as guest:
        assert {f.device: f.label for f in guest.filesystems}["/dev/md127"] == "R5ROOT"
        assert guest.rootfs.read_bytes("/srv/striped.bin") == PAYLOAD
        assert not guest.notes


def test_md_raid5_degraded_is_left_to_libguestfs():
    from migrate.errors import UnsupportedLayout
    from migrate.image.native import NativeBackend
    from tests.image.raid5_image import raid5_images

    with pytest.raises(UnsupportedLayout) as exc:
        NativeBackend().open(raid5_images()[:2])
    assert "degraded RAID5" in exc.value.message and "[2]" in exc.value.message
