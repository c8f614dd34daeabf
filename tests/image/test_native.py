"""The native backend on small guests built in the test: partition layouts, fstab mounting (through
symlinks, by UUID, LABEL, PARTUUID, position), several disks, every container format, and the error
for each kind of bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from migrate.errors import (
    CorruptImage,
    EncryptedVolume,
    ImageNotFound,
    NoOperatingSystem,
    UnknownImageFormat,
    UnsupportedLayout,
)
from migrate.image.formats import open_image
from migrate.image.native import NativeBackend
from migrate.image.partitions import read_partitions
from tests.image.builders import convert, guest_tree, make_disk, make_ext4, make_xfs, run

pytestmark = pytest.mark.image  # builds real disk images with qemu-img, mkfs and sfdisk

ROOT_UUID = "11111111-2222-3333-4444-555555555555"
FSTAB = f"""# fstab of the test guest
UUID={ROOT_UUID} / ext4 errors=remount-ro 0 1
LABEL=VARFS /var xfs defaults 0 2
tmpfs /tmp tmpfs defaults 0 0
/swapfile none swap sw 0 0
/dev/sdb1 /srv ext4 defaults 0 2
UUID=99999999-0000-0000-0000-000000000000 /gone ext4 defaults,nofail 0 2
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("native")


@pytest.fixture(scope="module")
def fs_images(work) -> dict[str, Path]:
    root = guest_tree(work / "root")
    (root / "etc/fstab.d").mkdir()
    (root / "etc/fstab.d/real").write_text(FSTAB)
    (root / "etc/fstab").symlink_to("fstab.d/real")  # fstab itself is a symlink
    var = work / "var"
    (var / "lib/app").mkdir(parents=True)
    (var / "lib/app/data.bin").write_bytes(os.urandom(300_000))
    (var / "log").mkdir()
    (var / "log/latest").symlink_to("/var/lib/app/data.bin")
    os.chown(var / "lib/app", 105, 107)
    srv = work / "srv"
    (srv / "www").mkdir(parents=True)
    (srv / "www/index.html").write_text("<h1>second disk</h1>\n")
    return {
        "root": make_ext4(work / "root.img", root, 48, uuid=ROOT_UUID),
        "var": make_xfs(work / "var.img", var, 300, label="VARFS"),
        "srv": make_ext4(work / "srv.img", srv, 16, label="SRV"),
        "empty": make_ext4(work / "empty.img", None, 16),
    }


@pytest.fixture(scope="module")
def gpt_guest(work, fs_images) -> tuple[Path, Path]:
    """Disk 1: GPT, ext4 root + xfs /var, compressed qcow2. Disk 2: MBR with one ext4, VHDX."""
    disk1 = make_disk(work / "d1.raw", 400, [(48, fs_images["root"], "linux"), (320, fs_images["var"], "linux")])
    disk2 = make_disk(work / "d2.raw", 24, [(16, fs_images["srv"], "83")], label="dos")
    return convert(disk1, work / "d1.qcow2", "qcow2", "-c"), convert(disk2, work / "d2.vhdx", "vhdx")


def test_two_disk_guest_mounted_per_fstab(gpt_guest):
    with NativeBackend().open(list(gpt_guest)) as guest:
        fs = guest.rootfs
        assert guest.backend == "native"
        assert sorted(fs.mounts) == ["/", "/srv", "/var"]
        assert fs.read_text("/etc/os-release").startswith("ID=debian")
        assert fs.read_text("/srv/www/index.html") == "<h1>second disk</h1>\n"
        assert fs.read_bytes("/var/log/latest") == fs.read_bytes("/var/lib/app/data.bin")
        assert len(fs.read_bytes("/var/lib/app/data.bin")) == 300_000
        st = fs.stat("/var/lib/app")
        assert (st.kind, st.uid, st.gid) == ("dir", 105, 107)
        assert fs.stat("/usr/bin/tool").mode == 0o4755
        assert fs.stat("/tmp").mode == 0o1777
        assert fs.lstat("/home/alice/dangling").kind == "symlink"
        assert fs.readlink("/home/alice/dangling") == "/nonexistent/target"
        assert fs.stat("/home/alice/dangling") is None
        assert fs.is_file("/bin/tool")  # /bin -> usr/bin
        by_mount = {f.mountpoint: f for f in guest.filesystems}
        assert by_mount["/"].uuid == ROOT_UUID and by_mount["/"].fstype == "ext4"
        assert by_mount["/var"].label == "VARFS" and by_mount["/var"].fstype == "xfs"
        assert by_mount["/srv"].device == "/dev/sdb1"
        assert [i.format for i in guest.images] == ["qcow2", "vhdx"]
        assert guest.images[0].variant == "compressed"
        assert guest.images[0].virtual_size == 400 << 20
        assert guest.images[0].file_size == gpt_guest[0].stat().st_size
        assert any("/gone" in n for n in guest.notes)


def test_fstab_positional_entry_unresolved_with_one_disk(gpt_guest):
    with NativeBackend().open([gpt_guest[0]]) as guest:
        assert sorted(guest.rootfs.mounts) == ["/", "/var"]
        assert any("/dev/sdb1" in n and "no such volume" in n for n in guest.notes)


@pytest.mark.parametrize(("fmt", "opts"), [
    ("vmdk", ["-o", "subformat=streamOptimized"]), ("vmdk", []), ("vpc", []), ("vdi", []), ("raw", []),
])
def test_whole_disk_filesystem_in_every_format(work, fs_images, fmt, opts):
    image = convert(fs_images["root"], work / f"whole.{fmt}", fmt, *opts)
    with NativeBackend().open([image]) as guest:
        assert guest.filesystems[0].device == "/dev/sda" and guest.filesystems[0].mountpoint == "/"
        assert guest.rootfs.read_text("/etc/hostname") == "tiny\n"
        assert guest.images[0].format == fmt


def test_mbr_logical_partitions(work, fs_images):
    disk = work / "mbr.raw"
    disk.unlink(missing_ok=True)
    with open(disk, "wb") as fh:
        fh.truncate(100 << 20)
    script = "label: dos\nstart=1MiB,size=8MiB,type=83\nstart=10MiB,size=88MiB,type=5\n" \
             "start=11MiB,size=10MiB,type=82\nstart=22MiB,size=50MiB,type=83\n"
    subprocess.run(["sfdisk", "-q", str(disk)], input=script, text=True, check=True, capture_output=True)
    run("dd", f"if={fs_images['root']}", f"of={disk}", "bs=1M", "seek=22", "conv=notrunc,sparse", "status=none")
    with open_image(disk) as dev:
        parts = read_partitions(dev)
    assert [(p.index, p.start >> 20, p.size >> 20, p.type_byte) for p in parts] == [
        (1, 1, 8, 0x83), (5, 11, 10, 0x82), (6, 22, 50, 0x83)]
    with NativeBackend().open([disk]) as guest:
        assert {f.device: f.mountpoint for f in guest.filesystems}["/dev/sda6"] == "/"


def test_gpt_backup_header_used_when_primary_is_damaged(gpt_guest, work):
    raw = work / "gpt-damaged.raw"
    run("qemu-img", "convert", "-O", "raw", gpt_guest[0], raw)
    with open(raw, "r+b") as fh:
        fh.seek(512 + 100)
        fh.write(b"garbage")
    with open_image(raw) as dev:
        parts = read_partitions(dev)
    assert [(p.index, p.scheme, p.start) for p in parts] == [(1, "gpt", 1 << 20), (2, "gpt", 49 << 20)]
    assert parts[0].type_guid == "0fc63daf-8483-4772-8e79-3d69d8477de4"
    want = subprocess.run(["sfdisk", "--part-uuid", str(raw), "1"], capture_output=True, text=True).stdout
    assert parts[0].partuuid == want.strip().lower()


def test_missing_image():
    with pytest.raises(ImageNotFound) as exc:
        NativeBackend().open([Path("/nonexistent/disk.qcow2")])
    assert exc.value.path == "/nonexistent/disk.qcow2"


def test_random_bytes(tmp_path):
    junk = tmp_path / "junk.qcow2"
    junk.write_bytes(os.urandom(1 << 20))
    with pytest.raises(UnknownImageFormat) as exc:
        NativeBackend().open([junk])
    assert exc.value.path == str(junk)


def test_blank_disk_has_no_os(tmp_path):
    image = tmp_path / "blank.qcow2"
    run("qemu-img", "create", "-f", "qcow2", image, "64M")
    with pytest.raises(NoOperatingSystem) as exc:
        NativeBackend().open([image])
    assert exc.value.path == str(image)


def test_empty_filesystem_has_no_os(work, fs_images):
    image = convert(make_disk(work / "emptyfs.raw", 20, [(16, fs_images["empty"], "linux")]),
                    work / "emptyfs.vdi", "vdi")
    with pytest.raises(NoOperatingSystem) as exc:
        NativeBackend().open([image])
    assert exc.value.path == str(image)
    assert "/dev/sda1 (ext4)" in exc.value.message


def test_luks_partition(work):
    if not shutil.which("cryptsetup"):
        pytest.skip("cryptsetup not installed")
    luks = work / "luks.img"
    with open(luks, "wb") as fh:
        fh.truncate(20 << 20)
    subprocess.run(["cryptsetup", "luksFormat", "--type", "luks2", "--pbkdf", "pbkdf2",
                    "--pbkdf-force-iterations", "1000", "-q", str(luks), "-"], input=b"pw", check=True,
                   capture_output=True)
    boot = make_ext4(work / "boot.img", None, 8)
    image = convert(make_disk(work / "luksdisk.raw", 32, [(8, boot, "linux"), (20, luks, "linux")]),
                    work / "luksdisk.qcow2", "qcow2")
    with pytest.raises(EncryptedVolume) as exc:
        NativeBackend().open([image])
    assert exc.value.path == str(image)
    assert exc.value.message == ("encrypted volume (LUKS2) on partition 2 (/dev/sda2) and no key for it; "
                                 "give one with --key or --keys-from-stdin")


def test_btrfs_is_unsupported_layout(work, tmp_path):
    if not shutil.which("mkfs.btrfs"):
        pytest.skip("btrfs-progs not installed")
    fs = tmp_path / "btrfs.img"
    with open(fs, "wb") as fh:
        fh.truncate(128 << 20)
    run("mkfs.btrfs", "-q", fs)
    image = convert(make_disk(tmp_path / "b.raw", 140, [(130, fs, "linux")]), tmp_path / "b.qcow2", "qcow2")
    with pytest.raises(UnsupportedLayout) as exc:
        NativeBackend().open([image])
    assert exc.value.path == str(image) and "btrfs" in exc.value.message


def test_btrfs_data_mount_is_unsupported_layout(work, fs_images, tmp_path):
    if not shutil.which("mkfs.btrfs"):
        pytest.skip("btrfs-progs not installed")
    tree = guest_tree(tmp_path / "root")
    (tree / "etc/fstab").write_text("/dev/sda1 / ext4 defaults 0 1\nLABEL=DATA /srv btrfs defaults 0 0\n")
    root = make_ext4(tmp_path / "root.img", tree, 32)
    fs = tmp_path / "btrfs.img"
    with open(fs, "wb") as fh:
        fh.truncate(128 << 20)
    run("mkfs.btrfs", "-q", "-L", "DATA", fs)
    image = make_disk(tmp_path / "b.raw", 170, [(32, root, "linux"), (130, fs, "linux")])
    with pytest.raises(UnsupportedLayout) as exc:
        NativeBackend().open([image])
    assert "/srv" in exc.value.message


def test_corrupt_filesystem_is_reported(work, tmp_path):
    bad = make_ext4(tmp_path / "bad.img", None, 16)
    with open(bad, "r+b") as fh:  # keep the magic, destroy the group descriptors
        fh.seek(4096)
        fh.write(os.urandom(8192))
    with pytest.raises((CorruptImage, NoOperatingSystem)) as exc:
        NativeBackend().open([bad])
    assert exc.value.path == str(bad)
