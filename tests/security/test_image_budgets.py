"""Issue 8, read side: memory, CPU and disk bombs (docs/security.md, "Disk images and chains").

Every case runs ``python -m migrate inspect`` in a child process; ``os.wait4`` gives that child's
own peak RSS. Each must end with its documented exit code in under 30 s and under 500 MB, where
before the budgets a zstd cluster inflated to GiBs, a GPT entry size of 2^28 or 2^20-entry grain
tables took gigabytes, 100k L1 entries on one L2 table took 79 s, and OVA members filled the disk.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from migrate.errors import EXIT_CODES
from tests.security.image_cases import BOMB_CASES, build

RSS_LIMIT_KB = 500 * 1024
TIME_LIMIT = 30.0


# Linux carries a process's peak RSS over exec from the memory it had before, so a child forked from
# this (large) pytest process reports pytest's peak. A small interpreter in between forks the measured
# child from a small address space and reports that child's own peak from wait4.
MEASURE = """
import os, subprocess, sys
proc = subprocess.Popen([sys.executable, "-m", "migrate", *sys.argv[1:]], stdout=subprocess.DEVNULL)
_pid, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def run_measured(args: list[str], env: dict[str, str] | None = None) -> tuple[int, float, int, str]:
    """(exit code, seconds, peak RSS in KiB, stderr) of ``python -m migrate ARGS``."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", MEASURE, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)
    code, maxrss = (int(x) for x in proc.stdout.split())
    return code, time.monotonic() - start, maxrss, proc.stderr


@pytest.mark.image  # one measured CLI process per case, 2-4 s each
@pytest.mark.parametrize("case", sorted(BOMB_CASES))
def test_bomb_is_bounded(case, tmp_path):
    image, _canary = build(case, tmp_path)
    scratch = tmp_path / "tmp"  # the child's TMPDIR: where an OVA would be unpacked
    scratch.mkdir()
    code, seconds, rss_kb, stderr = run_measured(["inspect", str(image), "-o", str(tmp_path / "inv.json")],
                                                 env={"TMPDIR": str(scratch)})
    print(f"{case}: exit {code}, {seconds:.1f} s, peak RSS {rss_kb // 1024} MiB")
    assert code == BOMB_CASES[case][1], stderr
    assert "Traceback" not in stderr and image.name in stderr
    assert seconds < TIME_LIMIT
    assert rss_kb < RSS_LIMIT_KB
    assert list(scratch.iterdir()) == []  # the unpack folder is gone, nothing was left behind


@pytest.mark.image
def test_wall_clock_budget_has_its_exit_code(tmp_path):
    """MIGRATE_IMAGE_TIMEOUT bounds every image operation; past it the open stops with code 33."""
    image, _canary = build("qcow2-100k-l1-one-l2", tmp_path)
    code, seconds, _rss, stderr = run_measured(["inspect", str(image)], env={"MIGRATE_IMAGE_TIMEOUT": "0"})
    assert code == EXIT_CODES["TimeBudgetExceeded"], stderr
    assert "time budget" in stderr and image.name in stderr
    code, _s, _rss, stderr = run_measured(["inspect", str(image)], env={"MIGRATE_IMAGE_TIMEOUT": "60"})
    assert code == EXIT_CODES["NoOperatingSystem"], stderr


def test_shared_l2_table_is_walked_once(tmp_path):
    """The qcow2 allocation check on 100k L1 entries naming one L2 table: well under a second."""
    from migrate.image.formats import open_image

    image, _canary = build("qcow2-100k-l1-one-l2", tmp_path)
    start = time.monotonic()
    with open_image(image) as dev:
        assert dev.size == 100_000 * 8192 * 65536
        assert dev.read(0, 16) == bytes(16)
    assert time.monotonic() - start < 2.0


def test_zstd_cluster_inflates_to_one_cluster_only(tmp_path):
    pytest.importorskip("zstandard")
    from migrate.image.formats import open_image

    image, _canary = build("qcow2-zstd-bomb", tmp_path)
    with open_image(image) as dev:
        assert dev.read(0, 65536 + 16) == bytes(65536 + 16)
        assert len(dev._decompress(dev._entry(0))) == 65536  # type: ignore[attr-defined]
