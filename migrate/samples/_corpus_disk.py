"""Disk layouts for corpus guests: partitions and LVM volumes described as data, built the fast way.

Real VMs put their filesystems on MBR or GPT partitions, on LVM logical volumes, or straight on a
whole extra disk. Every filesystem here is made and filled on the host (``mkfs.ext4 -d``; xfs through
a loop mount, see :mod:`migrate.samples.flagship`); only the partition table and the LVM metadata,
which need device-mapper, are written by libguestfs, whose appliance has its own kernel. The images
are then copied to the offsets the LVM metadata gives, far faster than copying through the appliance
under emulation. A layout is a list of :class:`Volume` so each guest states its own shape.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from migrate.samples._common import Progress, SampleBuildError, _noop, dir_used_bytes, run
from migrate.samples._corpus import split_out
from migrate.samples.flagship import _ext4, _lv_offsets, _xfs

MiB = 1024 * 1024
FIRST_SECTOR = 2048
LVM_GPT_TYPE = "E6D6D379-F507-44C2-A23C-238F2A3DF928"


@dataclass(frozen=True)
class Volume:
    """One filesystem: mounted at ``mountpoint``, on a plain partition (``lv`` None) or an LV of the VG."""

    mountpoint: str
    fstype: Literal["ext4", "xfs"]
    size_mb: int
    label: str
    uuid: str | None = None  # ext4 only (xfs gets a random one; fstab then names it by label)
    lv: str | None = None


def _mkfs(vol: Volume, src: Path, image: Path) -> None:
    if vol.fstype == "xfs":
        _xfs(src, image, vol.size_mb * MiB, vol.label)
    else:
        _ext4(src, image, vol.size_mb * MiB, vol.label, vol.uuid or "")


def fill_trees(tree: Path, volumes: Sequence[Volume], work: Path) -> dict[str, Path]:
    """Split ``tree`` into one directory per volume (deepest mountpoints first), root last."""
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
    """A disk with ``table``: one partition per plain volume (in order), then one LVM PV with every
    LV volume. Returns the byte offset of each volume (for tests that read the raw disk)."""
    import guestfs

    from migrate.image.guestfs_backend import guestfs_environment

    work = raw.parent / f"{raw.stem}-fs"
    work.mkdir()
    plain = [v for v in volumes if v.lv is None]
    lvs = [v for v in volumes if v.lv is not None]
    images = {v.mountpoint: work / f"{v.label}.img" for v in volumes}
    progress(f"mkfs: {', '.join(f'{v.mountpoint} {v.fstype}' for v in volumes)}")
    for v in volumes:
        _mkfs(v, parts[v.mountpoint], images[v.mountpoint])
    with open(raw, "wb") as fh:
        fh.truncate(disk_bytes)
    sectors = disk_bytes // 512
    starts: dict[str, int] = {}
    cursor = FIRST_SECTOR * 512
    for v in plain:
        starts[v.mountpoint] = cursor
        cursor += v.size_mb * MiB
    pv_start = cursor
    guestfs_environment()
    g = guestfs.GuestFS(python_return_dict=True)
    meta = ""
    try:
        g.add_drive_opts(str(raw), format="raw", readonly=False)
        progress(f"libguestfs: {table} partition table" + (" and LVM metadata" if lvs else ""))
        g.launch()
        dev = "/dev/sda"
        g.part_init(dev, "gpt" if table == "gpt" else "msdos")
        for v in plain:
            first = starts[v.mountpoint] // 512
            g.part_add(dev, "p", first, first + v.size_mb * MiB // 512 - 1)
        if lvs:
            g.part_add(dev, "p", pv_start // 512, sectors - (34 if table == "gpt" else 1))
            n = len(plain) + 1
            if table == "gpt":
                g.part_set_gpt_type(dev, n, LVM_GPT_TYPE)
            else:
                g.part_set_mbr_id(dev, n, 0x8E)
            g.pvcreate(f"{dev}{n}")
            g.vgcreate(vg, [f"{dev}{n}"])
            for v in lvs:
                g.lvcreate(v.lv, vg, v.size_mb)
            m = g.vgmeta(vg)
            meta = m.decode() if isinstance(m, bytes) else m
        if table == "dos" and plain:
            g.part_set_bootable(dev, 1, True)
        g.sync()
        g.shutdown()
    finally:
        g.close()
    if lvs:
        offsets = _lv_offsets(meta)
        missing = {v.lv for v in lvs} - set(offsets)
        if missing:
            raise SampleBuildError(f"could not locate LVs {sorted(missing)} in the LVM metadata")
        for v in lvs:
            start, length = offsets[v.lv]  # type: ignore[index]
            if length != v.size_mb * MiB:
                raise SampleBuildError(f"LV {v.lv}: {length} bytes, expected {v.size_mb} MiB")
            starts[v.mountpoint] = pv_start + start
    progress("writing the filesystems at their partition/LV offsets")
    for v in volumes:
        off = starts[v.mountpoint]
        if off % MiB:
            raise SampleBuildError(f"{v.mountpoint}: offset {off} is not MiB-aligned")
        run(["dd", f"if={images[v.mountpoint]}", f"of={raw}", "bs=1M", f"seek={off // MiB}",
             "conv=notrunc,sparse", "status=none"])  # fmt: skip
    used = {v.mountpoint: dir_used_bytes(parts[v.mountpoint]) for v in volumes}
    shutil.rmtree(work, ignore_errors=True)
    return {"offsets": starts, "tree_bytes": used}
