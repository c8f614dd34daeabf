"""Fleet inputs: a CSV exported from the virtual infrastructure, or inventories (their VM sizing)."""

from __future__ import annotations

import csv
from pathlib import Path

from migrate.errors import InvalidDocument
from migrate.model.capacity import FleetVM
from migrate.model.inventory import Inventory

ALIASES = {
    "vm": "name", "vm_name": "name", "cpus": "vcpus", "vcpu": "vcpus", "memory": "memory_mib", "mem_mib": "memory_mib",
    "memory_mb": "memory_mib", "disk": "disk_gib", "disk_gb": "disk_gib", "replica_group": "group",
}
PCT = ("cpu_p50", "cpu_p90", "cpu_p95", "cpu_peak", "mem_p50", "mem_p90", "mem_p95", "mem_peak")


def _num(v: str | None) -> float | None:
    v = (v or "").strip().rstrip("%")
    return float(v) if v else None


def load_csv(path: str | Path) -> list[FleetVM]:
    """Columns: name, vcpus, memory_mib (or memory_gib), disk_gib, optional cpu_/mem_ p50/p90/p95/peak in
    percent of the allocation, optional group (replicas kept apart)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise InvalidDocument(f"cannot read: {exc.strerror}", path=str(p)) from exc
    vms: list[FleetVM] = []
    for lineno, raw in enumerate(csv.DictReader(text.splitlines()), start=2):
        row = {ALIASES.get(k.strip().lower(), k.strip().lower()): (v or "").strip() for k, v in raw.items() if k}
        try:
            mem = _num(row.get("memory_mib"))
            if mem is None and row.get("memory_gib"):
                mem = float(row["memory_gib"]) * 1024
            vm = FleetVM(name=row["name"], vcpus=int(float(row["vcpus"])), memory_mib=int(mem),
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
