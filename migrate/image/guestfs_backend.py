"""The reference backend: libguestfs (its appliance runs the guest's own kernel drivers).

Slow under TCG (~25 s per image here) but it reads every layout the Linux kernel can: LVM, btrfs
subvolumes, md RAID. Paths are resolved by RootFS as for every backend; libguestfs's own calls used
here (lstatns, readlink, ls, pread) never follow a symlink, and the appliance sees only the guest.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from migrate.errors import (
    BackendUnavailable,
    CorruptImage,
    EncryptedVolume,
    MigrateError,
    NoOperatingSystem,
    ResourceBudgetExceeded,
    WrongKey,
)
from migrate.image.backend import Backend, DerivedMount, OpenedGuest
from migrate.image.budget import check_deadline
from migrate.image.keys import KeyStore
from migrate.image.luks import check_header
from migrate.image.mounting import Volume, config_aliases, parse_fstab, positional_names
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
MAX_LAYERS = 8  # LUKS inside LVM inside LUKS ...: real guests use two


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


def libguestfs_identity(g: object, root: str) -> dict[str, str]:
    """What libguestfs's own inspection says about the guest's OS (inspect_get_*): the analyzers that
    identify an OS compare their facts with it and record any disagreement (RootFS.identity)."""
    out: dict[str, str] = {}
    calls = {"type": "inspect_get_type", "distro": "inspect_get_distro", "product_name": "inspect_get_product_name",
             "arch": "inspect_get_arch", "hostname": "inspect_get_hostname", "major": "inspect_get_major_version",
             "minor": "inspect_get_minor_version", "windows_systemroot": "inspect_get_windows_systemroot",
             "windows_current_control_set": "inspect_get_windows_current_control_set"}
    for key, name in calls.items():
        try:
            value = getattr(g, name)(root)
        except RuntimeError:  # e.g. the Windows-only calls on a Linux guest
            continue
        if value not in (None, "", "unknown"):
            out[key] = str(value)
    if "major" in out:
        out["version"] = f"{out.pop('major')}.{out.pop('minor', '0')}"
    return out


class GuestfsBackend(Backend):
    name = "guestfs"

    def open(self, images: list[Path], keys: KeyStore | None = None) -> OpenedGuest:
        guestfs_environment()
        try:
            import guestfs
        except ImportError as exc:
            raise BackendUnavailable(
                "the guestfs backend needs the libguestfs Python binding (Debian: python3-guestfs)"
            ) from exc
        keys = keys or KeyStore()
        sources = []
        g = guestfs.GuestFS(python_return_dict=True)
        report = ", ".join(map(str, images))
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
                                   path=str(images[0])) from None
            for src, dev in zip(sources, g.list_devices(), strict=False):
                src.virtual_size = g.blockdev_getsize64(dev)
            locked, opened_luks = _open_encrypted(g, keys, report)
            fs_types = g.list_filesystems()
            try:
                roots = g.inspect_os()
            except RuntimeError as exc:  # e.g. a Windows guest whose cmd.exe is no executable libguestfs knows
                raise NoOperatingSystem(f"libguestfs's inspection failed: {_first_line(exc)}",
                                        path=", ".join(map(str, images))) from None
            if not roots:
                if locked:
                    dev, version = locked[0]
                    raise EncryptedVolume(f"encrypted volume ({version}) on {dev} and no key for it; give one "
                                          "with --key or --keys-from-stdin", path=report)
                raise NoOperatingSystem("no operating system found on the disk(s)", path=report)
            root = roots[0]
            mountpoints = g.inspect_get_mountpoints(root)
            notes = [f"{dev}: encrypted ({version}) and no key given for it; its contents are not inspected"
                     for dev, version in locked]
            mounted: dict[str, str] = {}
            for mp in sorted(mountpoints, key=len):
                try:
                    g.mount_ro(mountpoints[mp], mp)
                    mounted[mountpoints[mp]] = mp
                except RuntimeError as exc:
                    if mp == "/" and mountpoints[mp] != root:
                        # fstab names the root by a name only the guest's boot gives it (a crypttab
                        # name: /dev/mapper/cryptroot); inspect_os found the OS on ``root`` itself
                        with contextlib.suppress(RuntimeError):
                            g.mount_ro(root, "/")
                            mounted[root] = "/"
                            continue
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
            volumes = _volumes(g, fs_types, opened_luks)
        except BaseException:
            g.close()
            raise
        rootfs = RootFS({"/": GuestfsFilesystem(g)}, source=report, mountpoints=set(mounted.values()))
        rootfs.identity = libguestfs_identity(g, root)
        derived = _derived_mounts(rootfs, volumes, mounted)
        return OpenedGuest(backend=self.name, rootfs=rootfs, images=sources, filesystems=records, notes=notes,
                           volumes=volumes, derived_mounts=derived)


def _crypto_devices(g: object) -> list[str]:
    """Every block device that holds a LUKS header: libguestfs's list_filesystems never lists
    crypto_LUKS, so each partition, whole disk, logical volume and md array is asked itself."""
    devices = [*g.list_partitions(), *g.list_devices(), *g.list_md_devices()]  # type: ignore[attr-defined]
    with contextlib.suppress(RuntimeError):
        devices += g.lvs()  # type: ignore[attr-defined]
    out = []
    for dev in devices:
        with contextlib.suppress(RuntimeError):
            if g.vfs_type(dev) == "crypto_LUKS":  # type: ignore[attr-defined]
                out.append(dev)
    return out


def _open_encrypted(g: object, keys: KeyStore, report: str) -> tuple[list[tuple[str, str]], dict[str, tuple]]:
    """Open the LUKS volumes the keys apply to (layer by layer: LVM inside LUKS inside LVM), as
    virt-inspector does; the header is checked against the budgets before cryptsetup sees a key.
    Returns the volumes left locked [(device, LUKS version)] and the opened ones
    {mapper device: (LUKS UUID, source device)}."""
    done: set[str] = set()
    locked: list[tuple[str, str]] = []
    opened: dict[str, tuple] = {}
    for _layer in range(MAX_LAYERS):
        fresh = [d for d in _crypto_devices(g) if d not in done]
        if not fresh:
            return locked, opened
        for dev in fresh:
            done.add(dev)
            size = g.blockdev_getsize64(dev)  # type: ignore[attr-defined]
            head = g.pread_device(dev, 16384, 0)  # type: ignore[attr-defined]
            header = check_header(head, size, dev, report,
                                  read=lambda off, n, d=dev: g.pread_device(d, min(n, PREAD_CHUNK), off))  # type: ignore[attr-defined,misc]
            candidates = keys.candidates([dev], header.uuid)
            if not candidates:
                locked.append((dev, f"LUKS{header.version}"))
                continue
            mapname = f"luks-{header.uuid}" if header.uuid else f"luks-{dev.replace('/', '_')}"
            for secret in candidates:
                check_deadline(report)
                try:
                    key = secret.decode("utf-8")
                except UnicodeDecodeError:
                    continue
                try:
                    g.cryptsetup_open(dev, key, mapname, readonly=True)  # type: ignore[attr-defined]
                except RuntimeError:
                    continue  # libguestfs's message for a wrong key; it never contains the key
                opened[f"/dev/mapper/{mapname}"] = (header.uuid, dev)
                break
            else:
                raise WrongKey(f"encrypted volume (LUKS{header.version}) on {dev}: none of the "
                               f"{len(candidates)} key(s) given for it opens it", path=report)
        with contextlib.suppress(RuntimeError):
            g.lvm_scan(True)  # type: ignore[attr-defined]  # LVM physical volumes inside what was opened
    raise ResourceBudgetExceeded(f"encrypted volumes nested more than {MAX_LAYERS} layers deep", path=report)


def _volumes(g: object, fs_types: dict[str, str], opened_luks: dict[str, tuple]) -> list[Volume]:
    """The volumes with every name a guest's fstab may use for them, for the shared resolver."""
    md_info: dict[str, dict] = {}
    for md in g.list_md_devices():  # type: ignore[attr-defined]
        with contextlib.suppress(RuntimeError):
            md_info[md] = g.md_detail(md)  # type: ignore[attr-defined]
    out = []
    for dev, fstype in sorted(fs_types.items()):
        ids: dict[str, str] = {}
        with contextlib.suppress(RuntimeError):
            ids = g.blkid(dev)  # type: ignore[attr-defined]
        vol = Volume(device=dev, fstype=fstype if fstype != "unknown" else None, uuid=ids.get("UUID") or None,
                     label=ids.get("LABEL") or None, partuuid=ids.get("PART_ENTRY_UUID") or None,
                     partlabel=ids.get("PART_ENTRY_NAME") or None, handle=dev)
        m = re.match(r"^/dev/[a-z]*d([a-z]+)(\d*)$", dev)
        if m:
            letters = m.group(1)
            vol.disk_index = (ord(letters[-1]) - 97) + (26 * (ord(letters[0]) - 96) if len(letters) > 1 else 0)
            vol.part_index = int(m.group(2)) if m.group(2) else None
            names = positional_names(vol.disk_index, vol.part_index)
            vol.aliases = [n for n in names if n != dev]
        parts = dev.split("/")
        if len(parts) == 4 and parts[1] == "dev" and parts[2] not in ("mapper", "md", "disk"):
            vg, lv = parts[2], parts[3]
            mapper = f"{vg.replace('-', '--')}-{lv.replace('-', '--')}"
            vol.aliases += [f"/dev/mapper/{mapper}", f"/dev/dm-name-{mapper}"]
        if dev in md_info:
            detail = md_info[dev]
            name = str(detail.get("name", "")).split(":")[-1]
            if name:
                vol.aliases.append(f"/dev/md/{name}")
            uid = detail.get("uuid")
            if uid:
                from .mounting import _mdadm_uuid

                vol.md_uuid = _mdadm_uuid(uid)
        if dev in opened_luks:
            vol.luks_uuid, source = opened_luks[dev]
            vol.luks_source = [source]
        out.append(vol)
    return out


def _derived_mounts(rootfs: RootFS, volumes: list[Volume], mounted: dict[str, str]) -> list[DerivedMount]:
    """Mountpoints libguestfs's inspection chose that the guest's fstab does not name (CoreOS's /usr),
    and the guest-configured names (mdadm.conf, crypttab) added to the volumes."""
    def read(path: str) -> str | None:
        try:
            return rootfs.read_text(path, max_bytes=1 << 20) if rootfs.is_file(path) else None
        except MigrateError:
            return None

    config_aliases(read, volumes)
    in_fstab = {e.mountpoint for e in parse_fstab(read("/etc/fstab") or "")}
    types = {v.device: v.fstype for v in volumes}
    return [DerivedMount(mp, dev, types.get(dev), "libguestfs's inspection mounts it here; /etc/fstab does not")
            for dev, mp in sorted(mounted.items(), key=lambda i: i[1]) if mp != "/" and mp not in in_fstab]
