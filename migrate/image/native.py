"""The ``native`` backend: our own format readers, partition and LVM discovery, libyal filesystem
readers, the shared mounting rules. No appliance, no root, no kernel: opening a guest takes well
under a second where libguestfs under TCG takes 20-30 s (design §7).

What it cannot do it says with UnsupportedLayout (btrfs, a mounted filesystem type without a native
reader), so the ``auto`` backend can fall back to guestfs; bad images raise the other ImageErrors.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from migrate.errors import (
    CorruptImage,
    EncryptedVolume,
    ImageError,
    ImageNotFound,
    NoOperatingSystem,
    UnsupportedLayout,
)
from migrate.model.inventory import Filesystem as FilesystemRecord
from migrate.model.inventory import ImageSource
from migrate.rootfs import Filesystem, RootFS

from .backend import Backend, OpenedGuest
from .budget import deadline
from .filesystems import NATIVE_FSTYPES, open_filesystem, probe
from .formats import BlockDevice, open_image
from .formats.qcow2 import Qcow2Device
from .lvm import assemble
from .mounting import Volume, find_root, parse_fstab, plan_mounts, positional_names
from .partitions import read_partitions

# present but never an OS root or a data mount worth refusing over
_NOT_DATA = {"swap", "LVM2_member", "crypto_LUKS", "vfat", "iso9660", None}


class NativeRootFS(RootFS):
    """A RootFS that also releases the image files and LVM handles underneath it."""

    def __init__(self, *args: object, resources: list[object], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._resources = resources

    def close(self) -> None:
        super().close()
        for res in reversed(self._resources):
            with contextlib.suppress(OSError):
                res.close()  # type: ignore[attr-defined]
        self._resources = []


def image_source(dev: BlockDevice, path: str) -> ImageSource:
    variant = dev.variant
    if isinstance(dev, Qcow2Device):
        variant = "compressed" if dev.is_compressed() else None
    return ImageSource(path=path, format=dev.format, variant=variant, virtual_size=dev.size,
                       file_size=dev.file_size, backing_chain=dev.backing_chain)


class NativeBackend(Backend):
    name = "native"

    def open(self, images: list[Path]) -> OpenedGuest:
        paths = [os.fspath(p) for p in images]
        if not paths:
            raise ImageNotFound("no disk images given")
        resources: list[object] = []
        try:
            with deadline(f"opening {paths[0]}"):  # every read of an image file checks it
                return self._open(paths, resources)
        except BaseException:
            for res in reversed(resources):
                with contextlib.suppress(Exception):
                    res.close()  # type: ignore[attr-defined]
            raise

    def _open(self, paths: list[str], resources: list[object]) -> OpenedGuest:
        sources: list[ImageSource] = []
        volumes: list[Volume] = []
        owner: dict[int, str] = {}  # id(volume) -> image path, for error messages
        notes: list[str] = []
        pvs: list[tuple[str, BlockDevice]] = []
        for di, path in enumerate(paths):
            if not os.path.exists(path):
                raise ImageNotFound("no such file", path=path)
            dev = open_image(path)
            resources.append(dev)
            sources.append(image_source(dev, path))
            for part in read_partitions(dev, report_path=path):
                sub = dev if part.index == 0 else dev.slice(part.start, part.size)
                pr = probe(sub)
                names = positional_names(di, part.index or None)
                vol = Volume(device=names[0], aliases=names[1:], fstype=pr.fstype, uuid=pr.uuid, label=pr.label,
                             partuuid=part.partuuid, partlabel=part.name, size=part.size, disk_index=di,
                             part_index=part.index or None, handle=sub)
                vol.luks_version = pr.version  # type: ignore[attr-defined]
                owner[id(vol)] = path
                volumes.append(vol)
                if pr.fstype == "LVM2_member":
                    pvs.append((vol.device, sub))
        if pvs:
            vgs = assemble(pvs, report_path=paths[0])
            resources.append(vgs)
            notes.extend(vgs.notes)
            for lv in vgs.lvs:
                pr = probe(lv.device)
                vol = Volume(device=lv.names[0], aliases=lv.names[1:], fstype=pr.fstype, uuid=pr.uuid,
                             label=pr.label, size=lv.device.size, handle=lv.device)
                vol.luks_version = pr.version  # type: ignore[attr-defined]
                owner[id(vol)] = paths[0]
                volumes.append(vol)

        opened: dict[int, Filesystem | None] = {}
        failures: list[ImageError] = []

        def fs_of(vol: Volume) -> Filesystem | None:
            if id(vol) not in opened:
                try:
                    fs = open_filesystem(vol.handle, vol.fstype or "", f"{vol.fstype} on {vol.device}")
                    fs.notes = notes  # type: ignore[attr-defined]  # undecodable names become unknowns
                    resources.append(fs)
                    opened[id(vol)] = fs
                except ImageError as exc:
                    failures.append(exc)
                    notes.append(f"{vol.device}: {exc.message}")
                    opened[id(vol)] = None
            return opened[id(vol)]

        def has(vol: Volume, path: str) -> bool:
            fs = fs_of(vol)
            return fs is not None and fs.lstat(path) is not None

        readable = [v for v in volumes if v.fstype in NATIVE_FSTYPES]
        root = find_root(readable, has)
        if root is None:
            self._no_root(paths, volumes, owner, failures)
        assert root is not None
        root_fs = fs_of(root)
        assert root_fs is not None
        probe_fs = RootFS({"/": root_fs})
        fstab_text = ""
        if probe_fs.is_file("/etc/fstab"):  # RootFS semantics: /etc/fstab may be a symlink
            fstab_text = probe_fs.read_text("/etc/fstab", max_bytes=1 << 20)
        plan = plan_mounts(root, parse_fstab(fstab_text), volumes, lambda v: v.fstype in NATIVE_FSTYPES)
        for m in plan.unreadable:
            if m.volume.fstype not in _NOT_DATA and not m.mountpoint.startswith("/boot"):
                raise UnsupportedLayout(
                    f"{m.volume.fstype or 'unknown'} filesystem on {m.volume.device} (mounted at {m.mountpoint}) "
                    "cannot be read natively", path=owner[id(m.volume)])
        mounts: dict[str, Filesystem] = {}
        where: dict[int, str] = {}
        for m in plan.mounts:
            fs = fs_of(m.volume)
            if fs is None:
                plan.notes.append(f"{m.mountpoint}: {m.volume.device} could not be opened; not mounted")
                continue
            mounts[m.mountpoint] = fs
            where.setdefault(id(m.volume), m.mountpoint)
        notes.extend(plan.notes)
        # RootFS.close closes the filesystems; the resources list closes devices and LVM handles
        others = [r for r in resources if not isinstance(r, Filesystem)]
        unused = [r for r in resources if isinstance(r, Filesystem) and r not in mounts.values()]
        rootfs = NativeRootFS(mounts, source=paths[0], resources=unused + others)
        records = [
            FilesystemRecord(device=v.device, fstype=v.fstype, uuid=v.uuid, label=v.label,
                             mountpoint=where.get(id(v)), size=v.size)
            for v in volumes if v.fstype is not None
        ]
        return OpenedGuest(backend=self.name, rootfs=rootfs, images=sources, filesystems=records, notes=notes)

    @staticmethod
    def _no_root(paths: list[str], volumes: list[Volume], owner: dict[int, str],
                 failures: list[ImageError]) -> None:
        for vol in volumes:
            if vol.fstype == "crypto_LUKS":
                where = f"partition {vol.part_index}" if vol.part_index else vol.device
                if len(paths) > 1 and vol.disk_index is not None:
                    where += f" of disk {vol.disk_index + 1}"
                version = getattr(vol, "luks_version", None) or "LUKS"
                raise EncryptedVolume(f"encrypted volume ({version}) on {where}; native and guestfs backends "
                                      "cannot open it without a key", path=owner[id(vol)])
        for exc in failures:
            if isinstance(exc, CorruptImage):
                raise exc
        for vol in volumes:
            if vol.fstype not in _NOT_DATA and vol.fstype not in NATIVE_FSTYPES:
                raise UnsupportedLayout(f"{vol.fstype} filesystem on {vol.device} cannot be read natively",
                                        path=owner[id(vol)])
        seen = ", ".join(f"{v.device} ({v.fstype or 'no filesystem'})" for v in volumes) or "none"
        raise NoOperatingSystem(f"no operating system found (volumes: {seen})", path=", ".join(paths))
