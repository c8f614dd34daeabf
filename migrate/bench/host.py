"""Readers for the host's /proc and cgroup files (cheap enough to call at 1 Hz)."""

from __future__ import annotations

import os
import platform
import socket
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies summed over all CPUs; iowait and idle count as not busy."""
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    vals = [int(x) for x in parts[:8]]
    idle = vals[3] + vals[4]
    total = sum(vals)
    return total - idle, total


def psi_cpu_some_us() -> int | None:
    try:
        text = Path("/proc/pressure/cpu").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("some"):
            return int(line.rsplit("total=", 1)[1])
    return None


def meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        out[key] = int(rest.split()[0])
    return out


def ksm_pages_sharing() -> int | None:
    try:
        return int(Path("/sys/kernel/mm/ksm/pages_sharing").read_text())
    except (OSError, ValueError):
        return None


def pss_kib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def proc_cpu_s(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def ppid(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text.rsplit(")", 1)[1].split()[1])


def cgroup_version() -> str:
    return "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1"


class CgroupReader:
    """CPU and memory of the cgroup a process lives in (v1: cpuacct + memory hierarchies; v2: unified)."""

    def __init__(self, pid: int) -> None:
        self.cpu_file: Path | None = None
        self.mem_file: Path | None = None
        self.v2 = False
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:
            return
        for line in lines:
            _, controllers, path = line.split(":", 2)
            ctl = controllers.split(",")
            if controllers == "" and cgroup_version() == "v2":
                base = Path("/sys/fs/cgroup") / path.lstrip("/")
                self.cpu_file, self.mem_file, self.v2 = base / "cpu.stat", base / "memory.current", True
            elif "cpuacct" in ctl:
                self.cpu_file = Path("/sys/fs/cgroup/cpuacct") / path.lstrip("/") / "cpuacct.usage"
            elif "memory" in ctl:
                self.mem_file = Path("/sys/fs/cgroup/memory") / path.lstrip("/") / "memory.usage_in_bytes"

    def cpu_s(self) -> float | None:
        if not self.cpu_file:
            return None
        try:
            text = self.cpu_file.read_text()
        except OSError:
            return None
        if self.v2:
            for line in text.splitlines():
                if line.startswith("usage_usec"):
                    return int(line.split()[1]) / 1e6
            return None
        return int(text) / 1e9

    def mem_kib(self) -> float | None:
        if not self.mem_file:
            return None
        try:
            return int(self.mem_file.read_text()) / 1024
        except (OSError, ValueError):
            return None


def busy_cores(seconds: float = 1.0) -> float:
    b0, t0 = cpu_jiffies()
    time.sleep(seconds)
    b1, t1 = cpu_jiffies()
    return (b1 - b0) / CLK_TCK / seconds


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def hostname() -> str:
    return socket.gethostname()
