"""Disk layouts for the corpus-lemp/edge/infra guests, stated as data: a list of :class:`Volume`.

Real VMs put their filesystems on MBR or GPT partitions, on LVM logical volumes, or straight on a
whole extra disk. The building blocks are :mod:`migrate.samples._corpus`'s (sfdisk on the host,
libguestfs only for the LVM metadata, filesystem images made on the host and placed at their
offsets); this module turns a layout into calls to them, so each guest only says its shape.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from migrate.samples._common import Progress, _noop, dir_used_bytes
from migrate.samples._corpus import MiB, lvm_on_partition, mkfs_ext4, partitioned_raw, place, split_out
from migrate.samples.flagship import _xfs

PART_TYPES = {"dos": {"linux": "83", "lvm": "8e"},
              "gpt": {"linux": "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "lvm": "E6D6D379-F507-44C2-A23C-238F2A3DF928"}}


@dataclass(frozen=True)
class Volume:
    """One filesystem: mounted at ``mountpoint``, on a plain partition (``lv`` None) or an LV of the VG."""

    mountpoint: str
    fstype: Literal["ext4", "xfs"]
    size_mb: int
    label: str
    uuid: str = ""  # ext4 only (see _mkfs)
    lv: str | None = None


def _mkfs(vol: Volume, src: Path, image: Path) -> None:
    """xfs keeps the UUID mkfs.xfs chose: setting one afterwards (``xfs_admin -U``) turns on the
    meta_uuid incompat feature, which the native xfs reader refuses; fstab names xfs volumes by label
    or LV path, as installers do."""
    if vol.fstype == "xfs":
        _xfs(src, image, vol.size_mb * MiB, vol.label)
    else:
        mkfs_ext4(src, image, vol.size_mb * MiB, label=vol.label, uuid=vol.uuid)


def fill_trees(tree: Path, volumes: Sequence[Volume], work: Path) -> dict[str, Path]:
    """Split ``tree`` into one directory per volume (deepest mountpoints first); root stays ``tree``."""
    work.mkdir(parents=True, exist_ok=True)
    parts: dict[str, Path] = {}
    for vol in sorted(volumes, key=lambda v: -len(v.mountpoint)):
        if vol.mountpoint == "/":
            parts["/"] = tree
            continue
        parts[vol.mountpoint] = split_out(tree, vol.mountpoint, work / f"fs{vol.mountpoint.replace('/', '-')}")
    return parts


def whole_disk(src: Path, raw: Path, vol: Volume) -> dict[str, int]:
    """A disk that is one filesystem, no partition table (a data disk added to a VM later)."""
    _mkfs(vol, src, raw)
    return {"tree_bytes": dir_used_bytes(src), "size_bytes": vol.size_mb * MiB}


def partitioned_disk(parts: dict[str, Path], raw: Path, disk_bytes: int, volumes: Sequence[Volume], *,
                     table: Literal["gpt", "dos"], vg: str,
                     progress: Progress = _noop) -> dict[str, object]:  # fmt: skip
    """A disk with ``table``: one partition per plain volume (in order) from 1 MiB, then one LVM PV
    up to the end of the disk holding every LV volume. Returns each volume's byte offset."""
    plain = [v for v in volumes if v.lv is None]
    lvs = [v for v in volumes if v.lv is not None]
    layout: list[tuple[int, int, str]] = []
    starts: dict[str, int] = {}
    cursor = 1
    for v in plain:
        layout.append((cursor, v.size_mb, PART_TYPES[table]["linux"]))
        starts[v.mountpoint] = cursor * MiB
        cursor += v.size_mb
    pv_start = cursor
    if lvs:
        layout.append((pv_start, disk_bytes // MiB - pv_start - 1, PART_TYPES[table]["lvm"]))
    partitioned_raw(raw, disk_bytes, table, layout)
    if lvs:
        offsets = lvm_on_partition(raw, len(plain) + 1, pv_start, vg, {v.lv: v.size_mb for v in lvs if v.lv},
                                   progress)  # fmt: skip
        for v in lvs:
            starts[v.mountpoint] = offsets[v.lv][0]  # type: ignore[index]
    work = raw.parent / f"{raw.stem}-fs"
    work.mkdir()
    progress(f"mkfs: {', '.join(f'{v.mountpoint} {v.fstype}' for v in volumes)}; placing them on the disk")
    for v in volumes:
        image = work / f"{v.label}.img"
        _mkfs(v, parts[v.mountpoint], image)
        place(image, raw, starts[v.mountpoint], v.size_mb * MiB)
        image.unlink()
    shutil.rmtree(work, ignore_errors=True)
    return {"offsets": starts, "tree_bytes": {v.mountpoint: dir_used_bytes(parts[v.mountpoint]) for v in volumes}}
