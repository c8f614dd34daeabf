"""Fleet inputs: a CSV exported from the virtual infrastructure, or inventories (their VM sizing)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from migrate.errors import InvalidDocument
from migrate.model.capacity import FleetVM
from migrate.model.inventory import Inventory

ALIASES = {
    "vm": "name", "vm_name": "name", "cpus": "vcpus", "vcpu": "vcpus", "memory": "memory_mib", "mem_mib": "memory_mib",
    "memory_mb": "memory_mib", "disk": "disk_gib", "disk_gb": "disk_gib", "replica_group": "group",
}
MAX_CSV_BYTES = 64 << 20  # a CSV of 100,000 VMs is a few MB

PCT = ("cpu_p50", "cpu_p90", "cpu_p95", "cpu_peak", "mem_p50", "mem_p90", "mem_p95", "mem_peak")


def _num(v: str | None) -> float | None:
    v = (v or "").strip().rstrip("%")
    if not v:
        return None
    x = float(v)
    if not math.isfinite(x):  # "inf", "nan", 1e400: no size, and int() of one is an OverflowError
        raise ValueError(f"{v[:20]!r} is not a finite number")
    return x


def load_csv(path: str | Path) -> list[FleetVM]:
    """Columns: name, vcpus, memory_mib (or memory_gib), disk_gib, optional cpu_/mem_ p50/p90/p95/peak in
    percent of the allocation, optional group (replicas kept apart)."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_CSV_BYTES:
            raise InvalidDocument(f"larger than {MAX_CSV_BYTES >> 20} MiB", path=str(p))
        text = p.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InvalidDocument(f"cannot read: {exc.strerror}", path=str(p)) from exc
    except UnicodeDecodeError as exc:
        raise InvalidDocument(f"not UTF-8 text (byte {exc.start})", path=str(p)) from None
    try:
        return _rows(csv.DictReader(text.splitlines()), p)
    except csv.Error as exc:  # a field over csv's limit (128 KiB)
        raise InvalidDocument(f"not a readable CSV: {exc}", path=str(p)) from None


def _rows(reader: csv.DictReader, p: Path) -> list[FleetVM]:  # type: ignore[type-arg]
    vms: list[FleetVM] = []
    for lineno, raw in enumerate(reader, start=2):
        row = {ALIASES.get(k.strip().lower(), k.strip().lower()): (v or "").strip() for k, v in raw.items() if k}
        try:
            mem = _num(row.get("memory_mib"))
            if mem is None and row.get("memory_gib"):
                mem = (_num(row["memory_gib"]) or 0) * 1024
            vm = FleetVM(name=row["name"], vcpus=int(_num(row["vcpus"])), memory_mib=int(mem),  # type: ignore[arg-type]
                         disk_gib=_num(row.get("disk_gib")) or 0.0, group=row.get("group") or None,
                         source=f"csv:{p.name}", **{k: _num(row.get(k)) for k in PCT})
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidDocument(f"line {lineno}: bad or missing value ({exc})", path=str(p)) from exc
        for k in PCT:
            val = getattr(vm, k)
            if val is not None and not 0 <= val <= 100:
                raise InvalidDocument(f"line {lineno}: {k}={val} is not a percentage", path=str(p))
        vms.append(vm)
    if not vms:
        raise InvalidDocument("no VMs in CSV", path=str(p))
    return vms


def from_inventories(paths: list[Path]) -> list[FleetVM]:
    """VM sizing from inventories (OVF or images); no utilization, so only like-for-like applies."""
    vms = []
    for path in paths:
        inv = Inventory.load(path)
        s = inv.sizing
        if s is None or not s.vcpus or not s.memory_mib:
            raise InvalidDocument("inventory has no VM sizing (vcpus, memory)", path=str(path))
        disk = sum(d.capacity_bytes or 0 for d in s.disks) / 2**30
        vms.append(FleetVM(name=s.name or inv.name, vcpus=s.vcpus, memory_mib=s.memory_mib, disk_gib=round(disk, 2),
                           source=f"inventory:{Path(path).name} ({s.source})"))
    return vms
