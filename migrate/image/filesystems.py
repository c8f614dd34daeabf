"""Volume probing (by superblock magic) and the native filesystem readers.

ext2/3/4 is read through pyfsext and XFS through pyfsxfs (libyal, LGPL-3.0), each given a file-like
view of our own block device; both implement :class:`migrate.rootfs.Filesystem`. UUIDs and labels
come straight from the superblocks, which we parse ourselves (the bindings do not expose UUIDs).
"""

from __future__ import annotations

import contextlib
import struct
import uuid
from dataclasses import dataclass

from migrate.errors import CorruptImage, GuestPathError
from migrate.rootfs import MAX_EXTENTS, FileStat, Filesystem, kind_from_mode

from .budget import check_deadline
from .formats.base import LRU, BlockDevice, raise_device_error

NATIVE_FSTYPES = ("ext2", "ext3", "ext4", "xfs", "ntfs")


@dataclass(frozen=True)
class Probe:
    fstype: str | None  # ext4, xfs, btrfs, vfat, swap, LVM2_member, crypto_LUKS, ntfs ... None = unknown
    uuid: str | None = None
    label: str | None = None
    version: str | None = None  # LUKS1 / LUKS2


def _cstr(raw: bytes) -> str | None:
    text = raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()
    return text or None


def probe(dev: BlockDevice) -> Probe:
    """What is on a volume, from its signatures (the same names blkid uses for TYPE)."""
    head = dev.read(0, 0x10100)
    md = _md_probe(dev)
    if md is not None:
        return md
    if head[:6] == b"LUKS\xba\xbe":
        version = struct.unpack(">H", head[6:8])[0]
        if version == 1:
            return Probe("crypto_LUKS", _cstr(head[168:208]), None, "LUKS1")
        return Probe("crypto_LUKS", _cstr(head[168:208]), _cstr(head[24:72]), f"LUKS{version}")
    if len(head) >= 1024 + 256 and head[1024 + 56:1024 + 58] == b"\x53\xef":
        sb = head[1024:1024 + 256]
        compat, incompat, ro_compat = struct.unpack("<III", sb[92:104])
        if incompat & 0x2C0 or ro_compat & ~0x7:  # extents / 64bit / flex_bg, or newer ro features
            fstype = "ext4"
        elif compat & 0x4:  # has_journal
            fstype = "ext3"
        else:
            fstype = "ext2"
        return Probe(fstype, str(uuid.UUID(bytes=sb[104:120])), _cstr(sb[120:136]))
    if head[:4] == b"XFSB":
        return Probe("xfs", str(uuid.UUID(bytes=head[32:48])), _cstr(head[108:120]))
    if head[0x10040:0x10048] == b"_BHRfS_M":
        sb = head[0x10000:0x10100 + 0x100] if len(head) > 0x10100 else dev.read(0x10000, 0x1000)
        return Probe("btrfs", str(uuid.UUID(bytes=sb[0x20:0x30])), _cstr(dev.read(0x10000 + 0x12B, 256)))
    for off in (0, 512, 1024, 1536):
        if head[off:off + 8] == b"LABELONE" and head[off + 24:off + 32] == b"LVM2 001":
            return Probe("LVM2_member")
    if head[4086:4096] in (b"SWAPSPACE2", b"SWAP-SPACE"):
        return Probe("swap", str(uuid.UUID(bytes=head[1036:1052])), _cstr(head[1052:1068]))
    if head[3:11] == b"NTFS    ":  # the volume serial number is what blkid and libguestfs call its UUID
        return Probe("ntfs", f"{struct.unpack('<Q', head[0x48:0x50])[0]:016X}")
    if head[510:512] == b"\x55\xaa" and (head[54:59] == b"FAT12" or head[54:59] == b"FAT16"
                                        or head[82:87] == b"FAT32"):
        vid_off = 67 if head[82:87] == b"FAT32" else 39
        vid = struct.unpack("<I", head[vid_off:vid_off + 4])[0]
        label = _cstr(head[vid_off + 4:vid_off + 15])
        return Probe("vfat", f"{vid >> 16:04X}-{vid & 0xFFFF:04X}", None if label == "NO NAME" else label)
    if head[0x8001:0x8006] == b"CD001":
        return Probe("iso9660")
    return Probe(None)


def _md_probe(dev: BlockDevice) -> Probe | None:
    """A Linux md RAID member (blkid's TYPE linux_raid_member), checked before filesystems: with
    metadata 0.90/1.0 the member also starts with the array's own filesystem."""
    from .md import read_superblock

    try:
        sb = read_superblock(dev, "a volume", dev.path)
    except CorruptImage:  # said again, naming the device, when the backend assembles the arrays
        return Probe("linux_raid_member")
    if sb is None:
        return None
    return Probe("linux_raid_member", sb.array_uuid, sb.name, sb.metadata)


class _LibyalFilesystem(Filesystem):
    """Shared code for pyfsext / pyfsxfs volumes (their file-entry APIs are the same)."""

    module_name = ""

    def __init__(self, dev: BlockDevice, description: str) -> None:
        import importlib

        mod = importlib.import_module(self.module_name)
        self.dev = dev
        self.description = description
        self._fileobj = dev.file_object()
        self._volume = mod.volume()
        try:
            self._volume.open_file_object(self._fileobj)
        except OSError as exc:
            check_deadline(dev.path)  # the binding wraps our TimeBudgetExceeded in an OSError
            raise_device_error(self._fileobj)
            raise CorruptImage(f"cannot open {description}: {str(exc).splitlines()[0]}",
                               path=dev.path) from None
        self._entries = LRU(4096)
        self.skipped_names = 0  # directory entries whose names the binding could not decode
        self._reported: set[str] = set()
        self.notes: list[str] = []  # the backend points this at the guest's notes (they become unknowns)

    def _entry(self, path: str):  # type: ignore[no-untyped-def]
        def load():  # type: ignore[no-untyped-def]
            try:
                return self._volume.get_file_entry_by_path(path)
            except (OSError, UnicodeError, ValueError):
                raise_device_error(self._fileobj)  # a budget hit under the lookup is not "no such file"
                return None
        return self._entries.get(path, load)

    def lstat(self, path: str) -> FileStat | None:
        e = self._entry(path)
        if e is None:
            return None
        mode = e.file_mode
        try:
            mtime = e.get_modification_time_as_integer() / 1e9
        except (OSError, AttributeError):
            mtime = None
        return FileStat(kind_from_mode(mode), mode & 0o7777, e.owner_identifier, e.group_identifier,
                        e.size, mtime)

    def readlink(self, path: str) -> str:
        e = self._entry(path)
        if e is None:
            raise GuestPathError("no such file", path=path)
        target = e.symbolic_link_target
        if target is None:
            raise GuestPathError("not a symbolic link", path=path)
        return target

    def listdir(self, path: str) -> list[str]:
        e = self._entry(path)
        if e is None:
            raise GuestPathError("no such directory", path=path)
        names = []
        base = path.rstrip("/")
        skipped = 0
        for i in range(e.number_of_sub_file_entries):
            # the binding raises for names that are not UTF-8 (Latin-1 bytes) and gives None for
            # some 255-byte names: those entries are skipped and reported, so one odd name never
            # hides its siblings from the analyzers (issue 8, D8)
            try:
                child = e.get_sub_file_entry(i)
                name = child.name
            except OSError:
                name = None
            if name is None:
                skipped += 1
                continue
            if name not in (".", ".."):
                names.append(name)
                # a walk lstats every child next: keep the entry so that needs no lookup by path
                self._entries.put(f"{base}/{name}", child)
        if skipped and path not in self._reported:
            self._reported.add(path)
            self.skipped_names += skipped
            self.notes.append(f"{self.description}: {path or '/'}: {skipped} entr{'y' if skipped == 1 else 'ies'} "
                              "whose names the reader cannot decode (not UTF-8, or too long) skipped")
        return sorted(names)

    def read(self, path: str, offset: int, size: int) -> bytes:
        e = self._entry(path)
        if e is None:
            raise GuestPathError("no such file", path=path)
        size = max(0, min(size, e.size - offset))
        if size == 0:
            return b""
        try:
            return e.read_buffer_at_offset(size, offset)
        except OSError as exc:
            check_deadline(self.dev.path)
            raise_device_error(self._fileobj)
            raise CorruptImage(f"cannot read {path!r} on {self.description}: {str(exc).splitlines()[0]}",
                               path=self.dev.path) from None

    def close(self) -> None:
        self._entries = LRU(1)
        with contextlib.suppress(OSError):
            self._volume.close()


class ExtFilesystem(_LibyalFilesystem):
    module_name = "pyfsext"

    def data_extents(self, path: str, size: int) -> list[tuple[int, int]] | None:
        """Where the file holds data, from its extent list (issue 8, D5: `data export` writes holes
        sparsely). pyfsext lists a file's extents in logical order, holes as extents flagged sparse
        (flag 1); anything that does not add up to the file's size is "unknown" (None)."""
        e = self._entry(path)
        if e is None:
            return None
        try:
            count = e.number_of_extents
            if count > MAX_EXTENTS:
                return None
            extents = [e.get_extent(i) for i in range(count)]
        except (OSError, TypeError, ValueError):
            return None
        out: list[tuple[int, int]] = []
        pos = 0
        for _physical, length, flags in extents:
            if length < 0:
                return None
            if not flags & 1 and pos < size:
                out.append((pos, min(length, size - pos)))
            pos += length
        if pos < size or pos - size >= 1 << 20:
            return None
        return out


class XfsFilesystem(_LibyalFilesystem):
    module_name = "pyfsxfs"


# NTFS's own files in the root directory (MFT records 0-11): ntfs-3g hides them, and so do we
NTFS_METAFILES = frozenset({"$MFT", "$MFTMirr", "$LogFile", "$Volume", "$AttrDef", "$Bitmap", "$Boot", "$BadClus",
                            "$Secure", "$UpCase", "$Extend", "$Quota", "$ObjId", "$Reparse"})
NTFS_MAX_LINK = 4096
_FILETIME_UNIX = 116444736000000000  # 1970-01-01 in 100 ns ticks since 1601


class NtfsFilesystem(_LibyalFilesystem):
    """A Windows system volume through pyfsntfs (libfsntfs, LGPL-3.0).

    libfsntfs looks names up case-insensitively, as Windows does, so guest paths written in any case
    resolve. NTFS keeps ACLs, not modes: files read as 0644 and folders as 0755, owned by 0:0 (what
    ntfs-3g shows without a user mapping). A reparse point (junction, symbolic link) is a symlink whose
    drive-absolute target (``\\??\\C:\\Users``) becomes an absolute guest path, resolved inside the
    guest like every link; any other reparse point is "other" and never followed or read. An Interix
    link (ntfs-3g's `ln -s`) is a symlink too, so both backends see the same tree."""

    module_name = "pyfsntfs"

    def _entry(self, path: str):  # type: ignore[no-untyped-def]
        return super()._entry(path.replace("/", "\\") or "\\")

    def lstat(self, path: str) -> FileStat | None:
        e = self._entry(path)
        if e is None:
            return None
        try:
            flags = e.file_attribute_flags or 0
            is_dir = e.has_directory_entries_index()
            size = 0 if is_dir else e.size
            mtime = (e.get_modification_time_as_integer() - _FILETIME_UNIX) / 1e7
        except (OSError, AttributeError, TypeError):
            return None
        if flags & 0x400:  # FILE_ATTRIBUTE_REPARSE_POINT
            kind = "symlink" if self._link_target(e) is not None else "other"
            return FileStat(kind, 0o777 if kind == "symlink" else 0o644, 0, 0, 0, mtime)
        if not is_dir and flags & 0x4 and self._interix_target(e) is not None:
            return FileStat("symlink", 0o777, 0, 0, size, mtime)
        return FileStat("dir" if is_dir else "file", 0o755 if is_dir else 0o644, 0, 0, size, mtime)

    @staticmethod
    def _interix_target(e) -> str | None:  # type: ignore[no-untyped-def]
        """The target of an Interix symbolic link: a system file holding "IntxLNK\\1" and the target in
        UTF-16 (what ntfs-3g, hence libguestfs, writes for `ln -s`, and reads back as a link)."""
        try:
            if not 8 < e.size <= 8 + 2 * NTFS_MAX_LINK:
                return None
            data = e.read_buffer_at_offset(e.size, 0)
        except (OSError, TypeError, ValueError):
            return None
        if data[:8] != b"IntxLNK\x01":
            return None
        target = data[8:].decode("utf-16-le", "replace")
        return target if target and "\0" not in target else None

    @staticmethod
    def _link_target(e) -> str | None:  # type: ignore[no-untyped-def]
        try:
            target = e.symbolic_link_target
        except (OSError, UnicodeError, ValueError):
            return None
        if not target or len(target) > NTFS_MAX_LINK or "\0" in target:
            return None
        for prefix in ("\\??\\", "\\\\?\\"):
            target = target.removeprefix(prefix)
        if len(target) >= 2 and target[1] == ":":  # drive-absolute: the guest's own root
            target = "\\" + target[2:].lstrip("\\")
        return target.replace("\\", "/")

    def readlink(self, path: str) -> str:
        e = self._entry(path)
        target = None if e is None else self._link_target(e) if (e.file_attribute_flags or 0) & 0x400 \
            else self._interix_target(e)
        if target is None:
            raise GuestPathError("not a symbolic link", path=path)
        return target

    def listdir(self, path: str) -> list[str]:
        names = super().listdir(path)
        if path in ("", "/"):
            names = [n for n in names if n not in NTFS_METAFILES]
        return names


def open_filesystem(dev: BlockDevice, fstype: str, description: str) -> Filesystem:
    if fstype in ("ext2", "ext3", "ext4"):
        return ExtFilesystem(dev, description)
    if fstype == "xfs":
        return XfsFilesystem(dev, description)
    if fstype == "ntfs":
        return NtfsFilesystem(dev, description)
    raise ValueError(f"no native reader for {fstype}")
