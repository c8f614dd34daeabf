"""Windows registry hives read through the RootFS, for the Windows analyzers (not an analyzer itself).

One maintained parser serves both backends: libregf (``pyregf``, LGPL-3.0) opens the hive file
through a file object over :class:`migrate.rootfs.GuestFile`, so it reads the same bytes whether the
guest came from the native NTFS reader or from libguestfs, and only the cells it needs: a 200 MB
SOFTWARE hive is never loaded whole. A hive is as hostile as the rest of the image (design §9): its
size is capped before opening, one listing reads at most ``MAX_SUBKEYS`` keys, a value's data at most
``MAX_VALUE_BYTES``, and every lookup is a fixed path (no walk of the whole tree that a cyclic or
absurdly deep hive could make endless).

Windows paths are case-insensitive; guest paths are found case-insensitively with ``find_path``,
component by component through the RootFS (so symlinks and mounts resolve as for every analyzer).
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from migrate.analyzers.base import Context, NotApplicable
from migrate.errors import GuestFileTooLarge, GuestPathError
from migrate.image.formats.base import LRU
from migrate.model.inventory import Findings, Unknown
from migrate.rootfs import GuestFile, RootFS

MAX_HIVE_BYTES = 1 << 30  # real SOFTWARE hives reach a few hundred MB; over 1 GiB is no hive we trust
MAX_SUBKEYS = 20_000  # keys listed under one key (a real Services key has 500-1000)
MAX_VALUE_BYTES = 1 << 20
MAX_LISTING = 100_000  # directory entries compared when a component's case differs

# REG_* value types (winnt.h)
REG_SZ, REG_EXPAND_SZ, REG_BINARY, REG_DWORD, REG_DWORD_BE, REG_MULTI_SZ, REG_QWORD = 1, 2, 3, 4, 5, 7, 11

# where libguestfs looks for %SystemRoot% (daemon/inspect_fs_windows.ml)
SYSTEMROOT_CANDIDATES = ("/Windows", "/WINNT", "/WIN32", "/WIN", "/ReactOS")


class HiveError(Exception):
    """A hive that cannot be opened or a key that cannot be read (too large, corrupt)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def find_path(rootfs: RootFS, path: str) -> str | None:
    """The guest path spelled as it is on the disk for a Windows path given in any case, or None.

    Each component is compared case-insensitively with its directory's entries (an exact match wins):
    NTFS keeps names as created (``Config`` or ``config``), the native reader finds them in any case
    and ntfs-3g under libguestfs only as spelled, so both backends give the same, on-disk spelling."""
    current = "/"
    for part in [p for p in path.replace("\\", "/").split("/") if p]:
        folded = part.casefold()
        entries = rootfs.iterdir(current)[:MAX_LISTING]
        names = [posixpath.basename(e) for e in entries]
        match = part if part in names else next((n for n in names if n.casefold() == folded), None)
        if match is None:
            return None
        current = posixpath.join(current, match)
    return current


def find_systemroot(rootfs: RootFS) -> str | None:
    """%SystemRoot% as a guest path: the first candidate with a System32\\config folder holding SYSTEM."""
    for candidate in SYSTEMROOT_CANDIDATES:
        found = find_path(rootfs, candidate)
        if found and rootfs.is_dir(found):
            hive = find_path(rootfs, f"{found}/System32/config/SYSTEM")
            if hive and rootfs.is_file(hive):
                return found
    return None


def windows_folder(rootfs: RootFS) -> str | None:
    """The System32 folder of a %SystemRoot% candidate, whether or not its hives are usable."""
    for candidate in SYSTEMROOT_CANDIDATES:
        found = find_path(rootfs, f"{candidate}/System32")
        if found and rootfs.is_dir(found):
            return found
    return None


class _GuestFileIO(io.RawIOBase):
    """A seekable read-only file object over a guest file, for libregf. libregf reads a hive in small
    pieces (a cell, a 4 KiB bin header); under libguestfs each read is a round trip to the appliance,
    so reads go through a cache of BLOCK-sized blocks (at most CACHE_BLOCKS of them: 16 MiB)."""

    BLOCK = 256 * 1024
    CACHE_BLOCKS = 64

    def __init__(self, f: GuestFile) -> None:
        self._f = f
        self._pos = 0
        self._blocks = LRU(self.CACHE_BLOCKS)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._f.stat.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def get_size(self) -> int:
        return self._f.stat.size

    def _block(self, index: int) -> bytes:
        return self._blocks.get(index, lambda: self._f.pread(index * self.BLOCK, self.BLOCK))  # type: ignore[return-value]

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._f.stat.size - self._pos
        size = max(0, min(size, self._f.stat.size - self._pos, 16 << 20))
        parts = []
        pos, end = self._pos, self._pos + size
        while pos < end:
            block = self._block(pos // self.BLOCK)
            start = pos % self.BLOCK
            piece = block[start:start + end - pos]
            if not piece:
                break
            parts.append(piece)
            pos += len(piece)
        self._pos = pos
        return b"".join(parts)

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _string(data: bytes) -> str:
    """REG_SZ / REG_EXPAND_SZ data: UTF-16LE up to the first NUL (hives often carry junk after it)."""
    if len(data) % 2:
        data = data[:-1]
    text = data.decode("utf-16-le", "replace")
    return text.split("\0", 1)[0]


@dataclass
class Key:
    """One registry key: its values decoded by type, its sub-keys listed with a cap."""

    _key: object
    path: str  # HKLM\SOFTWARE\... (for evidence and messages)
    hive: str  # guest path of the hive file
    ancestors: tuple[int, ...] = ()  # cell offsets of the keys above it: a sub-key list that loops back is cut
    looped: int = 0  # sub-key entries of the last listing that pointed back at this key or one above it

    @property
    def name(self) -> str:
        return str(self._key.name or "")  # type: ignore[attr-defined]

    def value(self, name: str) -> str | int | list[str] | bytes | None:
        """The value ``name`` (case-insensitive, as Windows looks it up) decoded by its type; None when
        absent, unreadable or larger than MAX_VALUE_BYTES."""
        try:
            v = self._key.get_value_by_name(name)  # type: ignore[attr-defined]
            if v is None or (v.data_size or 0) > MAX_VALUE_BYTES:
                return None
            data = v.data or b""
            kind = v.type
        except (OSError, TypeError, ValueError):
            return None
        if kind in (REG_SZ, REG_EXPAND_SZ):
            return _string(data)
        if kind == REG_DWORD and len(data) >= 4:
            return int(struct.unpack("<I", data[:4])[0])
        if kind == REG_DWORD_BE and len(data) >= 4:
            return int(struct.unpack(">I", data[:4])[0])
        if kind == REG_QWORD and len(data) >= 8:
            return int(struct.unpack("<Q", data[:8])[0])
        if kind == REG_MULTI_SZ:
            if len(data) % 2:
                data = data[:-1]
            return [s for s in data.decode("utf-16-le", "replace").split("\0") if s]
        return data

    def text(self, name: str) -> str | None:
        """A value as text (strings as they are, numbers in decimal); None when absent or empty."""
        v = self.value(name)
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return v.strip() or None
        return None

    def number(self, name: str) -> int | None:
        v = self.value(name)
        if isinstance(v, int):
            return v
        text = v.strip() if isinstance(v, str) else ""
        if text.isdecimal() and len(text) <= 20:  # isdigit admits "²" (int() refuses it); 20 digits: 2^64
            return int(text)
        return None

    def values(self) -> Iterator[tuple[str, str | int | list[str] | bytes | None]]:
        try:
            count = min(self._key.number_of_values, MAX_SUBKEYS)  # type: ignore[attr-defined]
        except (OSError, TypeError):
            return
        for i in range(count):
            try:
                name = self._key.get_value(i).name or ""  # type: ignore[attr-defined]
            except (OSError, TypeError, ValueError):
                continue
            yield name, self.value(name)

    def subkey(self, path: str) -> Key | None:
        """The key at ``path`` below this one (backslash-separated, case-insensitive), or None."""
        try:
            k = self._key.get_sub_key_by_path(path)  # type: ignore[attr-defined]
        except (OSError, TypeError, ValueError):
            return None
        return None if k is None else Key(k, f"{self.path}\\{path}", self.hive, (*self.ancestors, self.offset))

    def subkeys(self) -> tuple[list[Key], int]:
        """(the first MAX_SUBKEYS sub-keys, how many more there were)."""
        try:
            count = self._key.number_of_sub_keys  # type: ignore[attr-defined]
        except (OSError, TypeError):
            return [], 0
        out = []
        above = {*self.ancestors, self.offset}
        self.looped = 0
        for i in range(min(count, MAX_SUBKEYS)):
            try:
                k = self._key.get_sub_key(i)  # type: ignore[attr-defined]
                offset = k.offset
            except (OSError, TypeError, ValueError):
                continue
            if offset in above:
                self.looped += 1
                continue
            out.append(Key(k, f"{self.path}\\{k.name}", self.hive, tuple(above)))
        return out, max(0, count - MAX_SUBKEYS)

    @property
    def offset(self) -> int:
        try:
            return int(self._key.offset)  # type: ignore[attr-defined]
        except (OSError, TypeError, ValueError):
            return -1


class Hive:
    """An open hive; use as a context manager."""

    def __init__(self, rootfs: RootFS, path: str, mount: str) -> None:
        import pyregf

        self.path = path
        try:
            f = rootfs.open(path)
        except GuestPathError as exc:
            raise HiveError(f"cannot open the hive: {exc.message}", path) from None
        if f.stat.size > MAX_HIVE_BYTES:
            raise HiveError(f"hive is {f.stat.size} bytes, over the {MAX_HIVE_BYTES}-byte limit", path)
        self._io = _GuestFileIO(f)
        self._file = pyregf.file()
        try:
            self._file.open_file_object(self._io)
            root = self._file.get_root_key()
        except (OSError, TypeError, ValueError) as exc:
            raise HiveError(f"not a readable registry hive ({str(exc).splitlines()[0] if str(exc) else 'corrupt'})",
                            path) from None
        if root is None:
            raise HiveError("the hive has no root key", path)
        self.root = Key(root, mount, path)

    def key(self, path: str) -> Key | None:
        return self.root.subkey(path)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()

    def __enter__(self) -> Hive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class WindowsGuest:
    """What every Windows analyzer starts from: %SystemRoot% and the two machine hives."""

    systemroot: str
    system_hive: str | None
    software_hive: str | None


def windows_guest(ctx: Context) -> WindowsGuest | None:
    """The guest's %SystemRoot% and hive paths, found once per run (cached in ``ctx.cache``)."""
    if "windows_guest" not in ctx.cache:
        root = find_systemroot(ctx.rootfs)
        guest = None
        if root is not None:
            guest = WindowsGuest(root, find_path(ctx.rootfs, f"{root}/System32/config/SYSTEM"),
                                 find_path(ctx.rootfs, f"{root}/System32/config/SOFTWARE"))
        ctx.cache["windows_guest"] = guest
    return ctx.cache["windows_guest"]  # type: ignore[return-value]


def open_hive(ctx: Context, which: str) -> Hive | None:
    """SYSTEM or SOFTWARE of the guest, or None when the guest has none. Raises HiveError."""
    guest = windows_guest(ctx)
    if guest is None:
        return None
    path = guest.system_hive if which == "SYSTEM" else guest.software_hive
    if path is None or not ctx.rootfs.is_file(path):
        return None
    return Hive(ctx.rootfs, path, f"HKLM\\{which}")


def readable_hive(ctx: Context, which: str, analyzer: str, findings: Findings, *,
                  required: bool = False) -> Hive | None:
    """``open_hive`` for an analyzer: a hive that cannot be read is an unknown of ``analyzer`` (None then);
    a guest without the hive is NotApplicable when the analyzer cannot work without it."""
    try:
        hive = open_hive(ctx, which)
    except HiveError as exc:
        findings.unknowns.append(Unknown(analyzer=analyzer, path=exc.path, message=exc.message))
        return None
    if hive is None and required:
        raise NotApplicable(f"no {which} hive")
    return hive


def current_control_set(system: Hive) -> str | None:
    """ControlSet00N named by SYSTEM\\Select\\Current (what Windows mounts as CurrentControlSet)."""
    select = system.key("Select")
    current = select.number("Current") if select else None
    if current is None or not 0 < current < 1000:
        return None
    name = f"ControlSet{current:03d}"
    return name if system.key(name) is not None else None


def guest_path_of(windows_path: str, systemroot: str, drive: str = "C") -> str | None:
    """A Windows path on the system drive as a guest path (environment variables of the system
    expanded): ``%SystemDrive%\\inetpub\\wwwroot`` -> ``/inetpub/wwwroot``. None for other drives,
    UNC paths and variables that are not the system's."""
    text = windows_path.strip().strip('"')
    env = {"%systemdrive%": f"{drive}:", "%systemroot%": f"{drive}:" + systemroot.replace("/", "\\"),
           "%windir%": f"{drive}:" + systemroot.replace("/", "\\"),
           "%programfiles%": f"{drive}:\\Program Files", "%programdata%": f"{drive}:\\ProgramData"}
    lowered = text.lower()
    for var, value in env.items():
        if lowered.startswith(var):
            text, lowered = value + text[len(var):], (value + text[len(var):]).lower()
    if "%" in text:
        return None
    if text.startswith("\\\\?\\"):
        text = text[4:]
    if text.startswith("\\\\"):  # a UNC path (\\server\share): another machine
        return None
    if len(text) >= 2 and text[1] == ":":
        if text[0].upper() != drive.upper():
            return None
        text = text[2:]
    elif not text.startswith("\\"):
        return None
    parts = [p for p in text.replace("/", "\\").split("\\") if p not in ("", ".")]
    if ".." in parts:
        return None
    return "/" + "/".join(parts)


def pe_machine(data: bytes) -> str | None:
    """The architecture in a PE executable's COFF header (how libguestfs tells a Windows guest's arch
    from cmd.exe), or None when ``data`` is not a PE image."""
    if len(data) < 0x40 or data[:2] != b"MZ":
        return None
    offset = struct.unpack_from("<I", data, 0x3C)[0]
    if offset + 6 > len(data) or data[offset:offset + 4] != b"PE\0\0":
        return None
    machine = struct.unpack_from("<H", data, offset + 4)[0]
    return {0x14C: "i386", 0x8664: "x86_64", 0xAA64: "aarch64", 0x1C4: "arm", 0x200: "ia64"}.get(machine)


def too_large(exc: Exception) -> bool:
    return isinstance(exc, GuestFileTooLarge)
