"""A small fleet for the store/engine/resume tests: qcow2 overlays over the units sample's base image.

Each overlay is a real guest (the units sample: whole-disk ext4, systemd units, jobs) that the native
backend inspects in well under a second, made in milliseconds with ``qemu-img create -b``. The base
is hard-linked into the fleet's folder (a chain may only read files in its image's folder, see
migrate.image.confine), or copied where a hard link is not possible.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_overlays(folder: Path, base: Path, count: int, prefix: str = "vm") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    local = folder / "base.qcow2"
    if not local.exists():
        try:
            os.link(base, local)
        except OSError:
            shutil.copyfile(base, local)
    out = []
    for i in range(1, count + 1):
        p = folder / f"{prefix}{i:02d}.qcow2"
        if not p.exists():
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", p],
                           check=True, cwd=folder)
        out.append(p)
    return out


def chain_escape(folder: Path, name: str = "escape.qcow2") -> Path:
    """A qcow2 whose backing file is a host file outside its folder (refused: ChainMemberOutside)."""
    p = folder / name
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", "/etc/passwd", "-F", "raw", p, "64M"],
                   check=True)
    return p


def migrate_cli(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, **kw)


def start_cli(*args: str) -> subprocess.Popen:
    """`migrate …` in its own session, so a test can kill it and everything it started."""
    return subprocess.Popen([sys.executable, "-m", "migrate", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, start_new_session=True)


def fifo_backed(folder: Path, name: str = "fifo-backed.qcow2") -> Path:
    """A qcow2 whose backing file is a FIFO in its own folder (a naive reader would block on it
    forever; refused: ChainMemberNotRegular). The FIFO itself sits in the folder a scan walks."""
    fifo = folder / "backing.fifo"
    os.mkfifo(fifo)
    p = folder / name
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", fifo.name, "-F", "raw", p, "64M"],
                   check=True, cwd=folder)
    return p


def wait_for(cond, timeout: float, what: str = "condition"):  # type: ignore[no-untyped-def]
    """``cond()``'s first true value, polled every 50 ms; AssertionError naming ``what`` after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
