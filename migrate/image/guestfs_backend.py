"""The reference backend: libguestfs (its appliance runs the guest's own kernel drivers).

Slow under TCG (~25 s per image here) but it reads every layout the Linux kernel can: LVM, btrfs
subvolumes, md RAID. Paths are resolved by RootFS as for every backend; libguestfs's own calls used
here (lstatns, readlink, ls, pread) never follow a symlink, and the appliance sees only the guest.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from migrate.errors import BackendUnavailable, CorruptImage, EncryptedVolume, NoOperatingSystem
from migrate.image.backend import Backend, OpenedGuest
from migrate.model.inventory import Filesystem as FilesystemRecord
from migrate.model.inventory import ImageSource
from migrate.rootfs import FileStat, Filesystem, RootFS, kind_from_mode

# qemu's names for the formats detect_format reports (which already uses qemu's: "vpc" is VHD)
QEMU_FORMAT = {"qcow2": "qcow2", "vmdk": "vmdk", "vpc": "vpc", "vhdx": "vhdx", "vdi": "vdi", "raw": "raw"}


def drive_format(path: Path) -> tuple[str, str | None, str]:
    """(format, variant, qemu format for add_drive) of a disk the native layer has vetted: its
    chain confined and within budgets (migrate.image.formats.vet_chain). libguestfs is never told
    to probe, and an unknown name is an error here rather than "raw"."""
    from migrate.image.formats import vet_chain

    fmt, variant = vet_chain(path)
    return fmt, variant, QEMU_FORMAT[fmt]
PREAD_CHUNK = 2 * 1024 * 1024  # the libguestfs protocol caps one message at 4 MiB


def guestfs_environment() -> None:
    """Settings every libguestfs user in migrate shares (backend, samples, tests)."""
    os.environ.setdefault("LIBGUESTFS_BACKEND", "direct")
    # /dev/kvm on these machines exists but cannot run guests (design.md §7): emulate unless told.
    if os.environ.get("MIGRATE_GUESTFS_KVM") != "1":
        os.environ.setdefault("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")


class GuestfsFilesystem(Filesystem):
    """The whole mounted guest as one tree inside the appliance."""

    def __init__(self, handle: object) -> None:
        self.g = handle
        self.description = "libguestfs appliance"

    def lstat(self, path: str) -> FileStat | None:
        try:
            st = self.g.lstatns(path)  # type: ignore[attr-defined]
        except RuntimeError:
            return None
        mtime = st["st_mtime_sec"] + st["st_mtime_nsec"] / 1e9
        return FileStat(kind_from_mode(st["st_mode"]), st["st_mode"] & 0o7777, st["st_uid"], st["st_gid"],
                        st["st_size"], mtime)

    def readlink(self, path: str) -> str:
        return self.g.readlink(path)  # type: ignore[attr-defined]

    def listdir(self, path: str) -> list[str]:
        return sorted(self.g.ls(path))  # type: ignore[attr-defined]

    def read(self, path: str, offset: int, size: int) -> bytes:
        parts = []
        while size > 0:
            chunk = self.g.pread(path, min(size, PREAD_CHUNK), offset)  # type: ignore[attr-defined]
            if not chunk:
                break
            parts.append(chunk)
            offset += len(chunk)
            size -= len(chunk)
        return b"".join(parts)

    def close(self) -> None:
        try:
            self.g.umount_all()  # type: ignore[attr-defined]
            self.g.shutdown()  # type: ignore[attr-defined]
        finally:
            self.g.close()  # type: ignore[attr-defined]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class GuestfsBackend(Backend):
    name = "guestfs"

    def open(self, images: list[Path]) -> OpenedGuest:
        guestfs_environment()
        try:
            import guestfs
        except ImportError as exc:
            raise BackendUnavailable(
                "the guestfs backend needs the libguestfs Python binding (Debian: python3-guestfs)"
            ) from exc
        sources = []
        g = guestfs.GuestFS(python_return_dict=True)
        try:
            for path in images:
                fmt, variant, qemu_fmt = drive_format(Path(path))
                sources.append(ImageSource(path=str(path), format=fmt, variant=variant,
                                           file_size=Path(path).stat().st_size))
                g.add_drive_opts(str(path), readonly=1, format=qemu_fmt)
            try:
                g.launch()
            except RuntimeError as exc:
                raise CorruptImage(f"libguestfs could not open the image: {_first_line(exc)}",
                                   path=str(images[0])) from exc
            for src, dev in zip(sources, g.list_devices(), strict=False):
                src.virtual_size = g.blockdev_getsize64(dev)
            fs_types = g.list_filesystems()
            try:
                roots = g.inspect_os()
            except RuntimeError as exc:  # e.g. a Windows guest whose cmd.exe is no executable libguestfs knows
                raise NoOperatingSystem(f"libguestfs's inspection failed: {_first_line(exc)}",
                                        path=", ".join(map(str, images))) from None
            if not roots:
                if "crypto_LUKS" in fs_types.values():
                    raise EncryptedVolume("encrypted volume (LUKS) and no key given; cannot see the OS inside",
                                          path=", ".join(map(str, images)))
                raise NoOperatingSystem("no operating system found on the disk(s)",
                                        path=", ".join(map(str, images)))
            root = roots[0]
            mountpoints = g.inspect_get_mountpoints(root)
            notes = []
            mounted: dict[str, str] = {}
            for mp in sorted(mountpoints, key=len):
                try:
                    g.mount_ro(mountpoints[mp], mp)
                    mounted[mountpoints[mp]] = mp
                except RuntimeError as exc:
                    notes.append(f"could not mount {mountpoints[mp]} on {mp}: {_first_line(exc)}")
            records = []
            for dev, fstype in sorted(fs_types.items()):
                if fstype in ("unknown", "swap"):
                    continue
                rec = FilesystemRecord(device=dev, fstype=fstype, mountpoint=mounted.get(dev))
                for attr, call in (("uuid", g.vfs_uuid), ("label", g.vfs_label)):
                    with contextlib.suppress(RuntimeError):
                        setattr(rec, attr, call(dev) or None)
                records.append(rec)
        except BaseException:
            g.close()
            raise
        rootfs = RootFS({"/": GuestfsFilesystem(g)}, source=", ".join(map(str, images)),
                        mountpoints=set(mounted.values()))
        return OpenedGuest(backend=self.name, rootfs=rootfs, images=sources, filesystems=records, notes=notes)
