"""Issue 11's additions to the image layer, held against hostile images (docs/security.md): md
superblocks with absurd member counts, offsets and sizes; LUKS headers asking for billions of PBKDF2
iterations, terabytes of Argon2 memory or a payload past the volume; key files that would read
without end. Each ends in its documented exit code, fast and small, with no traceback, measured on a
child ``migrate inspect`` process (peak RSS through wait4)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from migrate.errors import EXIT_CODES
from tests.image.builders import make_disk, make_ext4, make_luks1
from tests.security.test_image_budgets import RSS_LIMIT_KB, TIME_LIMIT, run_measured

pytestmark = pytest.mark.image
KEY = "hostile-test-key"
MD_MAGIC = 0xA92B4EFC


def _md_member(path: Path, *, raid_disks: int, data_offset: int, data_size: int, size_mib: int = 8) -> Path:
    """A partition image carrying an md 1.2 superblock (at 4 KiB) with the numbers given."""
    with open(path, "wb") as fh:
        fh.truncate(size_mib << 20)
        sb = bytearray(512)
        struct.pack_into("<II", sb, 0, MD_MAGIC, 1)
        sb[16:32] = bytes(range(16))
        sb[32:40] = b"evil:md0"
        struct.pack_into("<iIQII", sb, 72, 1, 0, data_size, 0, raid_disks)
        struct.pack_into("<QQQ", sb, 128, data_offset, data_size, 8)
        struct.pack_into("<I", sb, 220, 4)  # max_dev
        fh.seek(4096)
        fh.write(sb)
    return path


def _luks1_with(work: Path, patch: dict[int, bytes]) -> Path:
    inner = make_ext4(work / "inner.img", None, 4)
    luks = make_luks1(work / "luks.img", inner, KEY.encode())
    with open(luks, "r+b") as fh:
        for offset, data in patch.items():
            fh.seek(offset)
            fh.write(data)
    return make_disk(work / "disk.raw", 12, [(10, luks, "linux")])


def _luks2_with(work: Path, old: bytes, new: bytes) -> Path:
    """A real LUKS2 header (cryptsetup, pbkdf2) whose JSON metadata says ``new`` where it said ``old``
    (the JSON area is NUL-padded, so a longer value fits; its checksum is left stale, which a reader
    must not need to reject a hostile header)."""
    vol = work / "luks2.img"
    with open(vol, "wb") as fh:
        fh.truncate(8 << 20)
    subprocess.run(["cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
                    "--pbkdf-force-iterations", "1000", "--key-file", "-", str(vol)], input=KEY.encode(),
                   check=True, capture_output=True)
    raw = bytearray(vol.read_bytes()[:16384])
    end = raw.index(b"\0", 4096)
    meta = raw[4096:end]
    assert old in meta
    meta = meta.replace(old, new)
    raw[4096:4096 + len(meta)] = meta
    raw[4096 + len(meta):16384] = bytes(16384 - 4096 - len(meta))
    with open(vol, "r+b") as fh:
        fh.write(raw)
    return make_disk(work / "disk2.raw", 12, [(10, vol, "linux")])


def _cases(work: Path) -> dict[str, tuple[Path, str, list[str]]]:
    """name -> (image, expected error class, extra CLI args)."""
    slot0 = 208
    return {
        "md-billion-members": (make_disk(work / "md1.raw", 10, [(8, _md_member(
            work / "m1.img", raid_disks=1 << 31, data_offset=2048, data_size=4096), "linux")]),
            "CorruptImage", []),
        "md-data-past-member": (make_disk(work / "md2.raw", 10, [(8, _md_member(
            work / "m2.img", raid_disks=2, data_offset=1 << 40, data_size=1 << 50), "linux")]),
            "CorruptImage", []),
        "luks1-4g-iterations": (_luks1_with(work / "l1", {slot0 + 4: struct.pack(">I", 0xFFFFFFFF)}),
                                "ResourceBudgetExceeded", ["--key", KEY]),
        "luks1-digest-4g-iterations": (_luks1_with(work / "l2", {164: struct.pack(">I", 0xFFFFFFFF)}),
                                       "ResourceBudgetExceeded", ["--key", KEY]),
        "luks1-payload-past-end": (_luks1_with(work / "l3", {104: struct.pack(">I", 0x7FFFFFFF)}),
                                   "CorruptImage", ["--key", KEY]),
        "luks1-stripes": (_luks1_with(work / "l4", {slot0 + 44: struct.pack(">I", 0xFFFFFFFF)}),
                          "CorruptImage", ["--key", KEY]),
        "luks2-terabyte-argon2": (_luks2_with(work / "l5", b'"type":"pbkdf2"', b'"type":"argon2id","time":4,'
                                              b'"memory":1073741824,"cpus":4'), "ResourceBudgetExceeded",
                                  ["--key", KEY]),
        "luks2-huge-iterations": (_luks2_with(work / "l6", b'"iterations":1000', b'"iterations":99999999999'),
                                  "ResourceBudgetExceeded", ["--key", KEY]),
        "luks2-argon2-work": (_luks2_with(work / "l7", b'"type":"pbkdf2"', b'"type":"argon2id","time":64,'
                                          b'"memory":1048576,"cpus":1'), "ResourceBudgetExceeded", ["--key", KEY]),
        "luks2-json-nesting-bomb": (_luks2_with(work / "l8", b'{"keyslots"', b'{"x":' + b"[" * 5000 + b"]" * 5000
                                                + b',"keyslots"'), "CorruptImage", ["--key", KEY]),
    }


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    work = tmp_path_factory.mktemp("stacked-hostile")
    for sub in ("l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8"):
        (work / sub).mkdir()
    return _cases(work)


CASE_NAMES = ["md-billion-members", "md-data-past-member", "luks1-4g-iterations", "luks1-digest-4g-iterations",
              "luks1-payload-past-end", "luks1-stripes", "luks2-terabyte-argon2", "luks2-huge-iterations",
              "luks2-argon2-work", "luks2-json-nesting-bomb"]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_hostile_stacked_volume_is_bounded(case, cases, tmp_path):
    image, expected, extra = cases[case]
    code, seconds, rss_kb, stderr = run_measured(["inspect", str(image), "--backend", "auto", *extra,
                                                  "-o", str(tmp_path / "inv.json")])
    print(f"{case}: exit {code}, {seconds:.1f} s, peak RSS {rss_kb // 1024} MiB")
    assert code == EXIT_CODES[expected], stderr
    assert "Traceback" not in stderr and image.name in stderr and KEY not in stderr
    if case.startswith("md-"):
        assert "md superblock 1.2 on /dev/sda1" in stderr  # the member is named
    assert seconds < TIME_LIMIT and rss_kb < RSS_LIMIT_KB
    assert not (tmp_path / "inv.json").exists()  # no half-written output


@pytest.mark.parametrize("keyfile", ["/dev/zero", "/dev/urandom", "/proc/kcore", "/proc/self/environ", "fifo", "big"])
def test_key_file_that_would_not_end_is_refused(keyfile, tmp_path):
    import os

    if keyfile == "fifo":
        keyfile = str(tmp_path / "fifo")
        os.mkfifo(keyfile)
    elif keyfile == "big":
        keyfile = str(tmp_path / "big")
        with open(keyfile, "wb") as fh:
            fh.truncate(1 << 30)  # sparse 1 GiB
    guest = tmp_path / "guest"
    (guest / "etc").mkdir(parents=True)
    code, seconds, rss_kb, stderr = run_measured(["inspect", str(guest), "--key", f"/dev/sda2:file:{keyfile}"])
    assert code == EXIT_CODES["KeyFileRefused"] == 39, stderr
    assert "Traceback" not in stderr and keyfile in stderr
    assert seconds < TIME_LIMIT and rss_kb < RSS_LIMIT_KB


def test_key_file_is_read_not_quoted(tmp_path):
    """A key file with a secret inside: the inventory and messages never carry its bytes."""
    keyfile = tmp_path / "key"
    keyfile.write_text("s3cr3t-key-material")
    guest = tmp_path / "guest"
    (guest / "etc").mkdir(parents=True)
    (guest / "etc/os-release").write_text("ID=debian\nVERSION_ID=12\n")
    out = tmp_path / "inv.json"
    proc = subprocess.run([sys.executable, "-m", "migrate", "inspect", str(guest), "--key",
                           f"/dev/sda2:file:{keyfile}", "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "s3cr3t" not in out.read_text() + proc.stdout + proc.stderr
    assert json.loads(out.read_text())["os"]["distro"] == "debian"
