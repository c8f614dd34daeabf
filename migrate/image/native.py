"""The ``native`` backend: our own format readers, partition and LVM discovery, libyal filesystem
readers, the shared mounting rules. No appliance, no root, no kernel: opening a guest takes well
under a second where libguestfs under TCG takes 20-30 s (design §7).

What it cannot do it says with UnsupportedLayout (btrfs, a mounted filesystem type without a native
reader), so the ``auto`` backend can fall back to guestfs; bad images raise the other ImageErrors.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from migrate.errors import (
    ChainMemberNotRegular,
    ChainMemberOutside,
    CorruptImage,
    EncryptedVolume,
    ImageError,
    ImageNotFound,
    NoOperatingSystem,
    ResourceBudgetExceeded,
    TimeBudgetExceeded,
    UnsupportedLayout,
)
from migrate.model.inventory import Filesystem as FilesystemRecord
from migrate.model.inventory import ImageSource
from migrate.rootfs import Filesystem, RootFS

from .backend import Backend, DerivedMount, OpenedGuest
from .budget import deadline
from .filesystems import NATIVE_FSTYPES, open_filesystem, probe
from .formats import BlockDevice, open_image
from .formats.qcow2 import Qcow2Device
from .keys import KeyStore
from .luks import unlock
from .lvm import assemble
from .md import assemble_md, read_superblock
from .mounting import Volume, config_aliases, find_root, find_usr, parse_fstab, plan_mounts, positional_names
from .partitions import read_partitions

# present but never an OS root or a data mount worth refusing over
_NOT_DATA = {"swap", "LVM2_member", "crypto_LUKS", "linux_raid_member", "vfat", "iso9660", None}
MAX_LAYERS = 8  # md, LUKS and LVM stacked on each other; real guests use two or three


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

    def open(self, images: list[Path], keys: KeyStore | None = None) -> OpenedGuest:
        paths = [os.fspath(p) for p in images]
        if not paths:
            raise ImageNotFound("no disk images given")
        resources: list[object] = []
        try:
            with deadline(f"opening {paths[0]}"):  # every read of an image file checks it
                return self._open(paths, resources, keys or KeyStore())
        except BaseException:
            for res in reversed(resources):
                with contextlib.suppress(Exception):
                    res.close()  # type: ignore[attr-defined]
            raise

    def _open(self, paths: list[str], resources: list[object], keys: KeyStore) -> OpenedGuest:
        sources: list[ImageSource] = []
        volumes: list[Volume] = []
        owner: dict[int, str] = {}  # id(volume) -> image path, for error messages
        notes: list[str] = []
        locked: list[Volume] = []  # LUKS volumes no key was given for

        def add(vol: Volume, dev: BlockDevice, path: str) -> Volume:
            vol.handle = dev
            owner[id(vol)] = path
            volumes.append(vol)
            return vol

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
                             part_index=part.index or None)
                vol.luks_version = pr.version  # type: ignore[attr-defined]
                add(vol, sub, path)
        self._stack_layers(volumes, add, owner, keys, locked, notes, resources, paths)

        opened: dict[int, Filesystem | None] = {}
        failures: list[ImageError] = []

        def fs_of(vol: Volume) -> Filesystem | None:
            if id(vol) not in opened:
                try:
                    fs = open_filesystem(vol.handle, vol.fstype or "", f"{vol.fstype} on {vol.device}")
                    fs.notes = notes  # type: ignore[attr-defined]  # undecodable names become unknowns
                    resources.append(fs)
                    opened[id(vol)] = fs
                except TimeBudgetExceeded:
                    raise  # the whole image is out of time: not one unreadable filesystem among others
                except ImageError as exc:
                    failures.append(exc)
                    notes.append(f"{vol.device}: {exc.message}")
                    opened[id(vol)] = None
            return opened[id(vol)]

        def has(vol: Volume, path: str) -> bool:
            fs = fs_of(vol)
            return fs is not None and fs.lstat(path) is not None

        def readable(vol: Volume) -> bool:
            return vol.fstype in NATIVE_FSTYPES

        root = find_root([v for v in volumes if readable(v)], has)
        if root is None:
            self._no_root(paths, volumes, owner, failures, locked)
        assert root is not None
        root_fs = fs_of(root)
        assert root_fs is not None
        probe_fs = RootFS({"/": root_fs})

        def read_guest(path: str) -> str | None:
            # RootFS semantics: /etc/fstab may be a symlink
            return probe_fs.read_text(path, max_bytes=1 << 20) if probe_fs.is_file(path) else None

        config_aliases(read_guest, volumes)
        plan = plan_mounts(root, parse_fstab(read_guest("/etc/fstab") or ""), volumes, readable)
        derived: list[DerivedMount] = []
        usr = find_usr(bool(probe_fs.is_dir("/usr") and probe_fs.iterdir("/usr")), plan, volumes, has, readable)
        if usr is not None:
            plan.mounts.append(usr)
            derived.append(DerivedMount("/usr", usr.volume.device, usr.volume.fstype, usr.reason or ""))
        for m in plan.unreadable:
            if m.volume.fstype not in _NOT_DATA and not m.mountpoint.startswith("/boot"):
                raise UnsupportedLayout(
                    f"{m.volume.fstype or 'unknown'} filesystem on {m.volume.device} (mounted at {m.mountpoint}) "
                    "cannot be read natively", path=owner[id(m.volume)])
        for vol in locked:
            notes.append(f"{vol.device}: encrypted ({getattr(vol, 'luks_version', None) or 'LUKS'}) and no key "
                         "given for it; its contents are not inspected")
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
        return OpenedGuest(backend=self.name, rootfs=rootfs, images=sources, filesystems=records, notes=notes,
                           volumes=volumes, derived_mounts=derived)

    @staticmethod
    def _stack_layers(volumes: list[Volume], add: Callable[[Volume, BlockDevice, str], Volume],
                      owner: dict[int, str], keys: KeyStore, locked: list[Volume], notes: list[str],
                      resources: list[object], paths: list[str]) -> None:
        """Open what is stacked on the volumes found so far, layer by layer, until nothing new
        appears: md arrays on their members, LUKS payloads (with the keys given), LVM logical
        volumes on their physical volumes (once no md/LUKS layer adds more, so a volume group whose
        physical volumes sit on different layers is assembled whole)."""
        done: set[int] = set()
        md_seen = 0
        for _layer in range(MAX_LAYERS):
            fresh = [v for v in volumes if id(v) not in done]
            members = [v for v in fresh if v.fstype == "linux_raid_member"]
            luks = [v for v in fresh if v.fstype == "crypto_LUKS"]
            new = 0
            if members:
                sbs = []
                for v in members:
                    done.add(id(v))
                    sb = read_superblock(v.handle, v.device, owner[id(v)])  # type: ignore[arg-type]
                    if sb is not None:
                        sbs.append((v.device, v.handle, sb))
                for arr in assemble_md(sbs, report_path=paths[0]):  # type: ignore[arg-type]
                    if arr.problem:
                        notes.append(arr.problem)
                    if arr.device is None:
                        continue
                    names = [f"/dev/md{127 - md_seen}", *arr.names]
                    md_seen += 1
                    pr = probe(arr.device)
                    vol = Volume(device=names[0], aliases=names[1:], fstype=pr.fstype, uuid=pr.uuid,
                                 label=pr.label, size=arr.device.size, md_uuid=arr.uuid)
                    add(vol, arr.device, paths[0])
                    new += 1
            for v in luks:
                done.add(id(v))
                if not keys:
                    locked.append(v)
                    continue
                where = v.device if len(paths) == 1 or v.disk_index is None else \
                    f"{v.device} (disk {v.disk_index + 1})"
                header_uuid = v.uuid
                if not keys.candidates(v.names, header_uuid):
                    locked.append(v)
                    continue
                plain = unlock(v.handle, v.names, where, keys, owner[id(v)])  # type: ignore[arg-type]
                resources.append(plain)
                pr = probe(plain)
                name = f"/dev/mapper/luks-{header_uuid}" if header_uuid else f"/dev/mapper/luks-{v.device[5:]}"
                vol = Volume(device=name, fstype=pr.fstype, uuid=pr.uuid, label=pr.label, size=plain.size,
                             luks_uuid=header_uuid, luks_source=list(v.names))
                add(vol, plain, owner[id(v)])
                new += 1
            if new:
                continue
            pvs = [v for v in fresh if v.fstype == "LVM2_member"]
            if not pvs:
                return
            for v in pvs:
                done.add(id(v))
            vgs = assemble([(v.device, v.handle) for v in pvs], report_path=paths[0])  # type: ignore[misc]
            resources.append(vgs)
            notes.extend(vgs.notes)
            for lv in vgs.lvs:
                pr = probe(lv.device)
                vol = Volume(device=lv.names[0], aliases=lv.names[1:], fstype=pr.fstype, uuid=pr.uuid,
                             label=pr.label, size=lv.device.size)
                vol.luks_version = pr.version  # type: ignore[attr-defined]
                add(vol, lv.device, paths[0])
        raise ResourceBudgetExceeded(f"volumes stacked more than {MAX_LAYERS} layers deep (md, LUKS, LVM)",
                                     path=paths[0])

    @staticmethod
    def _no_root(paths: list[str], volumes: list[Volume], owner: dict[int, str],
                 failures: list[ImageError], locked: list[Volume]) -> None:
        for vol in locked:
            where = f"partition {vol.part_index} ({vol.device})" if vol.part_index else vol.device
            if len(paths) > 1 and vol.disk_index is not None:
                where += f" of disk {vol.disk_index + 1}"
            version = getattr(vol, "luks_version", None) or "LUKS"
            raise EncryptedVolume(f"encrypted volume ({version}) on {where} and no key for it; give one with "
                                  "--key or --keys-from-stdin", path=owner[id(vol)])
        # why no root was found: a budget or confinement stop first (a read the tool refused is not a
        # missing OS), then a filesystem that is corrupt
        for kind in ((ResourceBudgetExceeded, ChainMemberOutside, ChainMemberNotRegular), CorruptImage):
            for exc in failures:
                if isinstance(exc, kind):
                    raise exc
        for vol in volumes:
            if vol.fstype not in _NOT_DATA and vol.fstype not in NATIVE_FSTYPES:
                raise UnsupportedLayout(f"{vol.fstype} filesystem on {vol.device} cannot be read natively",
                                        path=owner[id(vol)])
        seen = ", ".join(f"{v.device} ({v.fstype or 'no filesystem'})" for v in volumes) or "none"
        raise NoOperatingSystem(f"no operating system found (volumes: {seen})", path=", ".join(paths))
