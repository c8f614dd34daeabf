"""Every format reader against the reference, ``qemu-img convert -O raw``: the whole virtual disk
must be byte-identical (compared by hashing in chunks). The source disk mixes a filesystem, random
data (incompressible clusters), zeros and a partial last cluster."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from migrate.errors import CorruptImage, MissingExtent, UnknownImageFormat
from migrate.image.formats import detect_format, open_image
from tests.image.builders import make_ext4, run

pytestmark = pytest.mark.image  # builds real disk images with qemu-img, mkfs and sfdisk

CHUNK = 4 << 20
VARIANTS = {
    "qcow2": ("qcow2", []),
    "qcow2-compressed": ("qcow2", ["-c"]),
    "qcow2-v2": ("qcow2", ["-o", "compat=0.10"]),
    "qcow2-small-clusters": ("qcow2", ["-c", "-o", "cluster_size=4096"]),
    "qcow2-zstd": ("qcow2", ["-c", "-o", "compression_type=zstd"]),
    "vmdk-monolithicSparse": ("vmdk", []),
    "vmdk-streamOptimized": ("vmdk", ["-o", "subformat=streamOptimized"]),
    "vmdk-twoGbMaxExtentSparse": ("vmdk", ["-o", "subformat=twoGbMaxExtentSparse"]),
    "vmdk-monolithicFlat": ("vmdk", ["-o", "subformat=monolithicFlat"]),
    "vhd-dynamic": ("vpc", []),
    "vhd-fixed": ("vpc", ["-o", "subformat=fixed"]),
    "vhdx": ("vhdx", []),
    "vdi-dynamic": ("vdi", []),
    "vdi-static": ("vdi", ["-o", "static=on"]),
}


@pytest.fixture(scope="module")
def source_disk(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("formats")
    tree = d / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/hostname").write_text("formats\n")
    raw = make_ext4(d / "disk.raw", tree, 40)
    with open(raw, "r+b") as fh:  # incompressible data, a zero gap, more data, a ragged tail
        fh.seek(20 << 20)
        fh.write(os.urandom(3 << 20) + bytes(1 << 20) + os.urandom(777))
        fh.truncate((40 << 20) + 3 * 512)
    return raw


def _digest_device(dev) -> str:
    h = hashlib.sha256()
    for off in range(0, dev.size, CHUNK):
        h.update(dev.read(off, CHUNK))
    return h.hexdigest()


def _digest_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
    return h.hexdigest(), path.stat().st_size


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_reader_matches_qemu_img(variant, source_disk, tmp_path):
    fmt, opts = VARIANTS[variant]
    if variant == "qcow2-zstd":
        pytest.importorskip("zstandard")
    image = tmp_path / f"disk.{fmt}"
    run("qemu-img", "convert", "-f", "raw", "-O", fmt, *opts, source_disk, image)
    reference = tmp_path / "reference.raw"
    run("qemu-img", "convert", "-f", fmt, "-O", "raw", image, reference)
    want, want_size = _digest_file(reference)
    with open_image(image) as dev:
        assert dev.format == fmt
        assert dev.size == want_size
        assert _digest_device(dev) == want
        # unaligned reads across chunk boundaries agree with the reference too
        with open(reference, "rb") as ref:
            for off, n in ((0, 1), (65535, 3), (20 << 20 | 12345, 200_000), (want_size - 10, 100)):
                ref.seek(off)
                assert dev.read(off, n) == ref.read(n), (off, n)


def test_qcow2_backing_chain(source_disk, tmp_path):
    base = tmp_path / "base.qcow2"
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", source_disk, base)
    mid = tmp_path / "mid.qcow2"
    run("qemu-img", "create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", mid)
    top = tmp_path / "top.qcow2"
    run("qemu-img", "create", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", top)
    # write into the overlays so that all three layers contribute
    run("qemu-io", "-f", "qcow2", "-c", "write -P 0xab 1M 128k", mid)
    run("qemu-io", "-f", "qcow2", "-c", "write -z 21M 64k", "-c", "write -P 0xcd 1040k 8k", top)
    reference = tmp_path / "reference.raw"
    run("qemu-img", "convert", "-O", "raw", top, reference)
    with open_image(top) as dev:
        assert dev.backing_chain == [str(tmp_path / "mid.qcow2"), str(tmp_path / "base.qcow2")]
        assert _digest_device(dev) == _digest_file(reference)[0]


def test_missing_backing_file(source_disk, tmp_path):
    run("qemu-img", "create", "-f", "qcow2", "-b", "gone.qcow2", "-F", "qcow2", "-u", tmp_path / "top.qcow2", "64M")
    with pytest.raises(MissingExtent) as exc:
        open_image(tmp_path / "top.qcow2")
    assert exc.value.path == str(tmp_path / "top.qcow2")
    assert "gone.qcow2" in exc.value.message


def test_vmdk_missing_extent(source_disk, tmp_path):
    desc = tmp_path / "split.vmdk"
    run("qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", source_disk, desc)
    (tmp_path / "split-s001.vmdk").unlink()
    with pytest.raises(MissingExtent) as exc:
        open_image(desc)
    assert exc.value.path == str(desc) and "split-s001.vmdk" in exc.value.message


def test_truncated_qcow2(source_disk, tmp_path):
    image = tmp_path / "t.qcow2"
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", source_disk, image)
    size = image.stat().st_size
    with open(image, "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(CorruptImage) as exc, open_image(image) as dev:
        _digest_device(dev)
    assert exc.value.path == str(image)
    assert "\n" not in str(exc.value)
    with open(image, "r+b") as fh:
        fh.truncate(40)
    with pytest.raises(CorruptImage):
        open_image(image)


def test_qcow2_table_entry_past_eof(source_disk, tmp_path):
    image = tmp_path / "bad.qcow2"
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", source_disk, image)
    with open(image, "r+b") as fh:
        hdr = fh.read(48)
        l1_off = int.from_bytes(hdr[40:48], "big")
        fh.seek(l1_off)
        fh.write((1 << 50).to_bytes(8, "big"))
    with pytest.raises(CorruptImage) as exc:
        open_image(image)
    assert exc.value.path == str(image)


@pytest.mark.parametrize("content", [os.urandom(1 << 16), b"hello, not a disk\n" * 100, b"x"])
def test_random_bytes_are_unknown(tmp_path, content):
    junk = tmp_path / "junk.img"
    junk.write_bytes(content)
    with pytest.raises(UnknownImageFormat) as exc:
        detect_format(junk)
    assert exc.value.path == str(junk)
    with pytest.raises(UnknownImageFormat):
        open_image(junk)


def test_detect_format_variants(source_disk, tmp_path):
    assert detect_format(source_disk) == ("raw", None)
    image = tmp_path / "d.vpc"
    run("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed", source_disk, image)
    assert detect_format(image) == ("vpc", "fixed")
    image = tmp_path / "d.qcow2"
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", "compat=0.10", source_disk, image)
    assert detect_format(image) == ("qcow2", "v2")
    blank = tmp_path / "blank.img"
    with open(blank, "wb") as fh:
        fh.truncate(8 << 20)
    assert detect_format(blank) == ("raw", None)


def test_file_object_adapter(source_disk):
    with open_image(source_disk) as dev:
        f = dev.file_object()
        f.seek(1024 + 56)
        assert f.read(2) == b"\x53\xef"
        assert f.tell() == 1024 + 58
        assert f.get_size() == dev.size
        f.seek(-3, os.SEEK_END)
        assert len(f.read(100)) == 3

