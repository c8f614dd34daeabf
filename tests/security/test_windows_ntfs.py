"""Hostile NTFS volumes for the native reader (issue 11, K3): the windows sample's disk with its NTFS
boot sector or MFT damaged. Each must end as a corrupt image (12) naming the file, in a measured
child under 30 s and 500 MB, with no traceback: libfsntfs checks the geometry it is given and we
never fall back to another backend for a damaged image."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from migrate.errors import EXIT_CODES
from migrate.samples import SampleImages, build_sample
from tests.security.test_image_budgets import RSS_LIMIT_KB, TIME_LIMIT, run_measured

pytestmark = pytest.mark.image

PARTITION = 2048 * 512  # the sample's one MBR partition starts at sector 2048


def _mft_offset(fh) -> int:  # noqa: ANN001
    fh.seek(PARTITION)
    boot = fh.read(512)
    cluster = struct.unpack_from("<H", boot, 11)[0] * boot[13]
    return PARTITION + struct.unpack_from("<Q", boot, 0x30)[0] * cluster


def mft_garbage(fh) -> None:  # noqa: ANN001
    """The first 64 KiB of the MFT ($MFT's own record included) overwritten with noise."""
    fh.seek(_mft_offset(fh))
    fh.write(os.urandom(64 * 1024))


def cluster_size(fh) -> None:  # noqa: ANN001
    """Sectors per cluster 0xF0: 2^16-sector clusters (256 MiB) on a 64 MiB volume."""
    fh.seek(PARTITION + 13)
    fh.write(bytes([0xF0]))


def mft_far_away(fh) -> None:  # noqa: ANN001
    """The MFT placed at cluster 2^60, far past the end of the disk."""
    fh.seek(PARTITION + 0x30)
    fh.write(struct.pack("<Q", 1 << 60))


def record_size(fh) -> None:  # noqa: ANN001
    """An MFT record size of 2^128 bytes (the boot sector's negative-exponent form)."""
    fh.seek(PARTITION + 0x40)
    fh.write(bytes([0x80]))


CASES = {"mft-garbage": mft_garbage, "cluster-size": cluster_size, "mft-far-away": mft_far_away,
         "record-size": record_size}


@pytest.fixture(scope="module")
def windows_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    images: SampleImages = build_sample("windows")
    raw = tmp_path_factory.mktemp("ntfs") / "windows.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(images["qcow2"]), str(raw)], check=True)
    return raw


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_ntfs_is_a_corrupt_image(case: str, windows_raw: Path, tmp_path: Path) -> None:
    image = tmp_path / f"{case}.raw"
    shutil.copyfile(windows_raw, image)
    with open(image, "r+b") as fh:
        CASES[case](fh)
    code, seconds, rss_kb, stderr = run_measured(["inspect", str(image), "--backend", "native",
                                                  "-o", str(tmp_path / "inv.json")])
    print(f"{case}: exit {code}, {seconds:.1f} s, peak RSS {rss_kb // 1024} MiB")
    assert code == EXIT_CODES["CorruptImage"], stderr
    assert "Traceback" not in stderr and image.name in stderr and "ntfs" in stderr
    assert seconds < TIME_LIMIT and rss_kb < RSS_LIMIT_KB
    assert not (tmp_path / "inv.json").exists()
