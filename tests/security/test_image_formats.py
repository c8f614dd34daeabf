"""Issue 8, read side: the format fixes that go with confinement (D3, D8, D10), each against a real
image made here by qemu-img or mkfs and, where bytes are read, against qemu's own reading."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from migrate.errors import EXIT_CODES, MigrateError
from migrate.image.formats import open_image
from migrate.image.guestfs_backend import QEMU_FORMAT, drive_format
from migrate.inspect import inspect_images
from tests.image.builders import guest_tree, make_ext4, run

MiB = 1 << 20


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def small_raw(tmp_path) -> Path:
    raw = tmp_path / "src.raw"
    with open(raw, "wb") as fh:
        fh.write(os.urandom(3 * MiB) + bytes(MiB) + os.urandom(12345))
    return raw


def test_renamed_monolithic_vmdk_opens(tmp_path, small_raw):
    """D10: the descriptor embedded in a sparse extent names the file it was written as; after a
    rename it still describes the file that holds it."""
    run("qemu-img", "convert", "-f", "raw", "-O", "vmdk", small_raw, tmp_path / "base.vmdk")
    (tmp_path / "base.vmdk").rename(tmp_path / "other.vmdk")
    run("qemu-img", "convert", "-O", "raw", tmp_path / "other.vmdk", tmp_path / "ref.raw")
    with open_image(tmp_path / "other.vmdk") as dev:
        assert dev.variant == "monolithicSparse"
        assert _sha(dev.read(0, dev.size)) == _sha((tmp_path / "ref.raw").read_bytes())


def test_vhd_is_handed_to_libguestfs_as_vpc(tmp_path, small_raw):
    """D3: detect_format calls VHD "vpc" (qemu's name); the guestfs table used to know it as "vhd",
    so libguestfs was told a VHD was raw. Every format we detect has its explicit qemu name."""
    image = tmp_path / "d.vhd"
    run("qemu-img", "convert", "-f", "raw", "-O", "vpc", small_raw, image)
    assert drive_format(image) == ("vpc", "dynamic", "vpc")
    for fmt in ("qcow2", "vmdk", "vpc", "vhdx", "vdi", "raw"):
        assert QEMU_FORMAT[fmt] == fmt


@pytest.mark.image  # starts the libguestfs appliance (about 30 s under TCG)
def test_guestfs_backend_reads_a_vhd_guest(tmp_path):
    root = guest_tree(tmp_path / "root")
    (root / "etc/fstab").write_text("/dev/sda / ext4 defaults 0 1\n")
    raw = make_ext4(tmp_path / "root.img", root, 24)
    vhd = tmp_path / "guest.vhd"
    run("qemu-img", "convert", "-f", "raw", "-O", "vpc", raw, vhd)
    inv = inspect_images([vhd], "guestfs")
    assert inv.backend == "guestfs" and inv.network.hostname == "tiny"
    assert inv.images[0].format == "vpc"


def test_qcow2_external_data_file_inside_the_folder_reads_like_qemu(tmp_path):
    """A data file that passes the rule is read natively (it used to be UnsupportedLayout, which
    sent the image to libguestfs with the data file unchecked)."""
    image = tmp_path / "x.qcow2"
    run("qemu-img", "create", "-f", "qcow2", "-o", f"data_file={tmp_path / 'x.data'}", image, "4M")
    run("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 64k", "-c", "write -P 0x17 3M 4k", image)
    run("qemu-img", "convert", "-O", "raw", image, tmp_path / "ref.raw")
    with open_image(image) as dev:
        assert _sha(dev.read(0, dev.size)) == _sha((tmp_path / "ref.raw").read_bytes())


def test_data_file_that_is_a_symlink_out_is_refused(tmp_path):
    from tests.security.image_cases import qcow2_with_data_file

    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere/data").write_bytes(bytes(MiB))
    d = tmp_path / "vm"
    d.mkdir()
    (d / "data.raw").symlink_to(tmp_path / "elsewhere/data")
    image = qcow2_with_data_file(d, "data.raw")
    with pytest.raises(MigrateError) as exc:
        open_image(image)
    assert exc.value.exit_code == EXIT_CODES["ChainMemberOutside"]


def test_backing_chain_deeper_than_the_budget(tmp_path):
    """A backing file that names itself (a loop) ends at the depth budget, not in a recursion error."""
    image = tmp_path / "loop.qcow2"
    run("qemu-img", "create", "-f", "qcow2", "-u", "-b", "loop.qcow2", "-F", "qcow2", image, "1M")
    with pytest.raises(MigrateError) as exc:
        open_image(image)
    assert exc.value.exit_code == EXIT_CODES["CorruptImage"] and "deeper than" in exc.value.message


def test_undecodable_file_names_are_skipped_and_reported(tmp_path):
    """D8: pyfsext raises for a Latin-1 name and returns None for some 255-byte names (a TypeError
    used to end the run). The siblings stay visible and the skip is an unknown in the inventory."""
    root = guest_tree(tmp_path / "root")
    www = root / "var/www"
    www.mkdir(parents=True)
    (www / "index.html").write_text("ok\n")
    os.close(os.open(os.fsencode(www) + b"/caf\xe9.html", os.O_CREAT | os.O_WRONLY, 0o644))
    (www / ("x" * 255)).write_text("long\n")
    (root / "etc/fstab").write_text("/dev/sda / ext4 defaults 0 1\n")
    raw = make_ext4(tmp_path / "root.img", root, 24)
    from migrate.image.native import NativeBackend

    with NativeBackend().open([raw]) as guest:
        assert [os.path.basename(p) for p in guest.rootfs.iterdir("/var/www")] == ["index.html"]
        assert any("/var/www" in n and "2 entries" in n for n in guest.notes), guest.notes
    from migrate.inspect import inventory_of, open_vm

    with open_vm([raw], "native") as vm:
        vm.guest.rootfs.iterdir("/var/www")  # as an analyzer reading a webroot would
        inv = inventory_of(vm)
    assert inv.network.hostname == "tiny"
    assert any("cannot decode" in u.message and u.analyzer == "backend:native" for u in inv.unknowns)


def test_lv_striped_onto_an_unknown_pv_is_a_note_not_a_crash(tmp_path):
    """D8: pyvslvm's get_logical_volume raises for a segment on a PV the VG does not list (it was
    outside the try: an internal error). That LV is reported and left out; the others mount."""
    from tests.security.image_cases import lvm_disk

    root = guest_tree(tmp_path / "root")
    (root / "etc/fstab").write_text("/dev/vg0/root / ext4 defaults 0 1\n")
    fs = make_ext4(tmp_path / "root.img", root, 16).read_bytes()
    disk = lvm_disk(tmp_path / "disk.raw", [("root", "pv0", 4), ("lost", "pv9", 1)], payload=fs)
    inv = inspect_images([disk], "native")
    assert inv.network.hostname == "tiny"
    assert [f.device for f in inv.filesystems if f.mountpoint == "/"] == ["/dev/vg0/root"]
    assert any("logical volume 1 cannot be mapped" in u.message for u in inv.unknowns), inv.unknowns
    proc = subprocess.run([sys.executable, "-m", "migrate", "inspect", str(disk)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("kind", ["vhd", "vhdx"])
def test_differencing_disk_with_a_vetted_parent_does_not_fall_back(tmp_path, kind):
    """qemu opens a differencing VHD as a plain one (``qemu-img info`` shows no backing file and
    never opens the parent: silently wrong data) and refuses a differencing VHDX, so `auto` must not
    hand either to libguestfs, even when the parent locator passes the rule: 16, at once."""
    import time

    from tests.security.image_cases import vhd_differencing, vhdx_differencing

    child = tmp_path / "child"
    child.mkdir()
    run("qemu-img", "create", "-f", "vpc" if kind == "vhd" else "vhdx", child / f"base.{kind}", "4M")
    image = (vhd_differencing if kind == "vhd" else vhdx_differencing)(child, f"base.{kind}")
    start = time.monotonic()
    with pytest.raises(MigrateError) as exc:
        inspect_images([image], "auto")
    assert exc.value.exit_code == EXIT_CODES["UnsupportedLayout"] and "differencing" in exc.value.message
    assert time.monotonic() - start < 10  # no appliance was started
