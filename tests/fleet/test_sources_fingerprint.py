"""Content fingerprints (migrate.fleet.fingerprint): what they see, what sampling misses (the documented
trade-off), content not names, chains included, stat keys."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from migrate.fleet.fingerprint import EDGE, FULL_HASH_LIMIT, fingerprint, stat_changed, stat_key

MiB = 1 << 20


def _raw_disk(path, size):
    """A sparse raw disk with an MBR signature (what the image layer takes for a raw disk)."""
    with open(path, "wb") as fh:
        fh.truncate(size)
        fh.seek(510)
        fh.write(b"\x55\xaa")
    return path


def _poke(path, offset, data=b"\x01"):
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def test_small_images_are_hashed_whole(tmp_path):
    p = _raw_disk(tmp_path / "small.img", 8 * MiB)
    before = fingerprint(p)
    _poke(p, 5 * MiB + 12345)
    assert fingerprint(p).value != before.value


def test_large_images_are_sampled_and_full_hash_sees_everything(tmp_path):
    p = _raw_disk(tmp_path / "large.img", FULL_HASH_LIMIT + 64 * MiB)
    sampled, full = fingerprint(p).value, fingerprint(p, full=True).value
    _poke(p, 100)  # in the first MiB: headers, partition tables
    assert fingerprint(p).value != sampled
    sampled, full = fingerprint(p).value, fingerprint(p, full=True).value
    _poke(p, os.path.getsize(p) - 100)  # in the last MiB: footers, appended tables
    assert fingerprint(p).value != sampled
    sampled, full = fingerprint(p).value, fingerprint(p, full=True).value
    hole = EDGE + 1000  # between the first MiB and the first sampled block: not read when sampling
    _poke(p, hole)
    assert fingerprint(p).value == sampled  # the trade-off docs/fleet.md states
    assert fingerprint(p, full=True).value != full
    with open(p, "ab") as fh:  # growing the file (what sparse formats do) always shows
        fh.write(b"\0" * 4096)
    assert fingerprint(p).value != sampled


def test_content_not_name(tmp_path):
    a = _raw_disk(tmp_path / "a.img", 4 * MiB)
    (tmp_path / "elsewhere").mkdir()
    b = shutil.copy(a, tmp_path / "elsewhere" / "renamed.img")
    fa, fb = fingerprint(a), fingerprint(b)
    assert fa.value == fb.value and fa.stat_key != fb.stat_key


def test_stat_keys(tmp_path):
    p = _raw_disk(tmp_path / "d.img", 4 * MiB)
    key = fingerprint(p).stat_key
    assert not stat_changed(key)
    os.utime(p, ns=(1, 1))
    assert stat_changed(key)
    gone = stat_key([str(tmp_path / "missing.img")])
    assert not stat_changed(gone)  # still missing: nothing to redo
    _raw_disk(tmp_path / "missing.img", 4 * MiB)
    assert stat_changed(gone)  # back: redo
    assert stat_changed(None) and stat_changed("not json")


@pytest.mark.image
def test_backing_files_are_part_of_an_overlays_fingerprint(tmp_path):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", "16M"], check=True, cwd=tmp_path)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "vm.qcow2"],
                   check=True, cwd=tmp_path)
    before = fingerprint(tmp_path / "vm.qcow2")
    assert before.files == (str(tmp_path / "vm.qcow2"), str(tmp_path / "base.qcow2"))
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x33 0 64k", "base.qcow2"], check=True,
                   capture_output=True, cwd=tmp_path)
    assert fingerprint(tmp_path / "vm.qcow2").value != before.value
