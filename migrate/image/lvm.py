"""LVM2 through pyvslvm (libvslvm, LGPL-3.0), which reads the metadata itself and maps logical
volumes (linear and striped segments) onto the physical volumes we hand it as file-like views of
our own partition devices. A volume group whose physical volumes are not all present is reported,
not guessed at."""

from __future__ import annotations

import contextlib
import struct
from dataclasses import dataclass, field

from migrate.errors import CorruptImage

from .budget import MAX_LOGICAL_VOLUMES, check_count, check_deadline
from .formats.base import BlockDevice, raise_device_error


@dataclass
class LogicalVolume:
    vg: str
    name: str
    device: BlockDevice

    @property
    def names(self) -> list[str]:
        """Every spelling a guest's fstab may use: /dev/VG/LV and /dev/mapper/VG-LV (dashes doubled)."""
        mapper = f"{self.vg.replace('-', '--')}-{self.name.replace('-', '--')}"
        return [f"/dev/{self.vg}/{self.name}", f"/dev/mapper/{mapper}", f"/dev/dm-name-{mapper}"]


@dataclass
class VolumeGroups:
    lvs: list[LogicalVolume] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _handles: list[object] = field(default_factory=list)
    _keep: list[object] = field(default_factory=list)

    def close(self) -> None:
        for h in self._handles:
            with contextlib.suppress(OSError):
                h.close()  # type: ignore[attr-defined]


class LvDevice(BlockDevice):
    format = "lvm"

    def __init__(self, lv: object, path: str) -> None:
        self.lv = lv
        self.size = lv.size  # type: ignore[attr-defined]
        self.path = path

    def read(self, offset: int, size: int) -> bytes:
        if offset >= self.size or size <= 0:
            return b""
        size = min(size, self.size - offset)
        return self.lv.read_buffer_at_offset(size, offset)  # type: ignore[attr-defined]


def pv_uuid(dev: BlockDevice) -> str | None:
    """The PV UUID from the LVM2 label (32 characters, no dashes)."""
    for sector in range(4):
        raw = dev.read(sector * 512, 512)
        if raw[:8] == b"LABELONE" and raw[24:32] == b"LVM2 001":
            off = struct.unpack("<I", raw[20:24])[0]
            return raw[off:off + 32].decode("ascii", "replace")
    return None


def assemble(pvs: list[tuple[str, BlockDevice]], *, report_path: str) -> VolumeGroups:
    """Volume groups from the physical volumes found on the disks: [(description, device)]."""
    import pyvslvm

    result = VolumeGroups()
    by_uuid = {}
    for desc, dev in pvs:
        uid = pv_uuid(dev)
        if uid:
            by_uuid[uid] = (desc, dev)
    done: set[str] = set()
    for uid, (desc, dev) in by_uuid.items():
        if uid in done:
            continue
        handle = pyvslvm.handle()
        meta = dev.file_object()
        try:
            handle.open_file_object(meta)
            vg = handle.get_volume_group()
        except OSError as exc:
            check_deadline(report_path)  # the binding wraps our errors in an OSError of its own
            raise_device_error(meta)
            raise CorruptImage(f"LVM2 metadata on {desc} unreadable: {str(exc).splitlines()[0]}",
                               path=report_path) from None
        members = []
        missing = []
        check_count(vg.number_of_physical_volumes, MAX_LOGICAL_VOLUMES, f"physical volumes in {vg.name}",
                    report_path)
        for i in range(vg.number_of_physical_volumes):
            pv = vg.get_physical_volume(i)
            key = (pv.identifier or "").replace("-", "")
            if key in by_uuid:
                members.append(by_uuid[key][1].file_object())
                done.add(key)
            else:
                missing.append(pv.name)
        if missing:
            result.notes.append(f"volume group {vg.name}: physical volume(s) {', '.join(missing)} not on "
                                "the given disks; its logical volumes are not mounted")
            handle.close()
            continue
        try:
            handle.open_physical_volume_files_as_file_objects(members)
            vg = handle.get_volume_group()  # LVs only map onto PVs opened before this call
        except OSError as exc:
            check_deadline(report_path)
            raise_device_error(meta, *members)
            raise CorruptImage(f"LVM2 volume group {vg.name}: {str(exc).splitlines()[0]}",
                               path=report_path) from None
        result._handles.append(handle)
        result._keep.append((handle, meta, members))  # the binding does not hold its file objects alive
        check_count(vg.number_of_logical_volumes, MAX_LOGICAL_VOLUMES, f"logical volumes in {vg.name}",
                    report_path)
        for i in range(vg.number_of_logical_volumes):
            try:  # one LV the binding cannot map (a segment on an unknown PV) is one note, not a crash
                lv = vg.get_logical_volume(i)
                name = lv.name
                device = LvDevice(lv, report_path)
            except (OSError, TypeError, ValueError) as exc:
                result.notes.append(f"volume group {vg.name}: logical volume {i} cannot be mapped "
                                    f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); not mounted")
                continue
            if not name:
                result.notes.append(f"volume group {vg.name}: logical volume {i} has no name; not mounted")
                continue
            result.lvs.append(LogicalVolume(vg.name, name, device))
    return result
