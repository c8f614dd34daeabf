"""RootFS: the only view of a guest that analyzers get.

A guest is a set of filesystems mounted at guest paths (as its fstab says). Path resolution happens
here, once, for every backend: symlinks are resolved component by component *inside the guest*
(an absolute target means the guest's root, ``..`` never climbs above ``/``), so no backend is ever
asked for a path outside the guest and nothing on the host is ever read. Reads are size-capped so a
hostile image cannot exhaust memory.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import posixpath
import stat as stat_module
import unicodedata
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from migrate.errors import GuestFileTooLarge, GuestPathError

FileKind = Literal["file", "dir", "symlink", "char", "block", "fifo", "socket", "other"]

DEFAULT_MAX_READ = 16 * 1024 * 1024
MAX_SYMLINKS = 40


@dataclass(frozen=True)
class FileStat:
    kind: FileKind
    mode: int  # permission bits, including setuid/setgid/sticky (st_mode & 0o7777)
    uid: int
    gid: int
    size: int
    mtime: float | None = None


def kind_from_mode(st_mode: int) -> FileKind:
    for test, kind in (
        (stat_module.S_ISREG, "file"),
        (stat_module.S_ISDIR, "dir"),
        (stat_module.S_ISLNK, "symlink"),
        (stat_module.S_ISCHR, "char"),
        (stat_module.S_ISBLK, "block"),
        (stat_module.S_ISFIFO, "fifo"),
        (stat_module.S_ISSOCK, "socket"),
    ):
        if test(st_mode):
            return kind  # type: ignore[return-value]
    return "other"


class Filesystem(ABC):
    """One guest filesystem. Paths are absolute within it and already resolved: no method follows
    a symlink, and a path never contains ``..``."""

    description: str = "filesystem"

    @abstractmethod
    def lstat(self, path: str) -> FileStat | None:
        """Metadata of ``path`` itself, or None when it does not exist."""

    @abstractmethod
    def readlink(self, path: str) -> str: ...

    @abstractmethod
    def listdir(self, path: str) -> list[str]: ...

    @abstractmethod
    def read(self, path: str, offset: int, size: int) -> bytes: ...

    def data_extents(self, path: str, size: int) -> list[tuple[int, int]] | None:
        """The (offset, length) ranges of ``path`` that hold data, holes left out, or None when the
        filesystem cannot tell (then every byte counts as data). Lets `migrate data export` write a
        1 TiB sparse file as the few bytes it holds."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


MAX_EXTENTS = 65536


class HostDirFilesystem(Filesystem):
    """A guest tree extracted to a host directory (unit tests, extracted images).

    Only ever called with resolved guest paths, so every component below ``root`` is a real
    directory; ``os.lstat`` and ``O_NOFOLLOW`` make sure the final one is never followed either.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.realpath(root)
        self.description = f"directory {self.root}"

    def _host(self, path: str) -> str:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise GuestPathError("path escapes the guest root", path=path)
        return os.path.join(self.root, *parts)

    def lstat(self, path: str) -> FileStat | None:
        try:
            st = os.lstat(self._host(path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno in (errno.ENAMETOOLONG, errno.EILSEQ):
                return None  # a name this host cannot hold (e.g. 255 bytes + ".d"): no such entry
            raise GuestPathError(f"cannot stat: {exc.strerror}", path=path) from exc
        return FileStat(kind_from_mode(st.st_mode), st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_size,
                        st.st_mtime)

    def readlink(self, path: str) -> str:
        try:
            return os.readlink(self._host(path))
        except OSError as exc:  # the message names the guest path, never the host one
            raise GuestPathError(f"cannot read the link: {exc.strerror}", path=path) from exc

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self._host(path)))
        except OSError as exc:
            raise GuestPathError(f"cannot list: {exc.strerror}", path=path) from exc

    def read(self, path: str, offset: int, size: int) -> bytes:
        fd = os.open(self._host(path), os.O_RDONLY | os.O_NOFOLLOW)
        try:
            return os.pread(fd, size, offset)
        finally:
            os.close(fd)

    def data_extents(self, path: str, size: int) -> list[tuple[int, int]] | None:
        """SEEK_DATA/SEEK_HOLE on the host file; None where unsupported or too fragmented."""
        if not hasattr(os, "SEEK_DATA"):
            return None
        fd = os.open(self._host(path), os.O_RDONLY | os.O_NOFOLLOW)
        try:
            out: list[tuple[int, int]] = []
            pos = 0
            while pos < size:
                try:
                    start = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:
                        break  # only a hole from pos to the end
                    return None
                if start >= size:
                    break
                end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
                out.append((start, end - start))
                if len(out) > MAX_EXTENTS:
                    return None
                pos = end
            return out
        except OSError:
            return None
        finally:
            os.close(fd)


@dataclass(frozen=True)
class GuestFile:
    """One resolved regular file of the guest (see RootFS.open)."""

    path: str
    stat: FileStat
    fs: Filesystem
    rel: str

    def pread(self, offset: int, size: int) -> bytes:
        return self.fs.read(self.rel, offset, size)

    def data_extents(self) -> list[tuple[int, int]] | None:
        """Where the file holds data (see Filesystem.data_extents); None: unknown, all of it."""
        return self.fs.data_extents(self.rel, self.stat.size)


NAME_MAX = 255


@dataclass(frozen=True)
class BadName:
    """A directory entry that was skipped: where, its name escaped (never raw bytes), and why."""

    directory: str
    name: str
    reason: str

    @property
    def path(self) -> str:
        return posixpath.join(self.directory, self.name) if self.name else self.directory


def escape_name(name: str) -> str:
    """A file name as printable text: undecodable bytes as \\xNN, control characters as \\n, \\x1b ..."""
    raw = name.encode("utf-8", "surrogateescape")
    text = raw.decode("utf-8", "backslashreplace")
    return "".join(ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) == "Cc" else ch
                   for ch in text)


def bad_name_reason(name: str) -> str | None:
    """Why a directory entry's name cannot be used as a guest path in the outputs, or None.

    JSON documents, Dockerfiles and terminals need text: a name that is not valid UTF-8, holds a
    control character or "/", or is longer than any Linux filesystem allows, is skipped (and
    reported) instead of failing the analyzer that listed the directory."""
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if len(encoded) > NAME_MAX:
        return f"is longer than {NAME_MAX} bytes"
    if "/" in name or any(unicodedata.category(ch) == "Cc" for ch in name):
        return "holds a control character or a slash"
    return None


def normalize(path: str) -> str:
    """Lexically clean an absolute guest path (``..`` is *not* folded: that needs the filesystem)."""
    if not path.startswith("/"):
        path = "/" + path
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return "/" + "/".join(parts)


class RootFS:
    """A read-only, fstab-mounted view of a guest. All paths are guest paths."""

    def __init__(self, mounts: dict[str, Filesystem], *, source: str = "guest",
                 max_read: int = DEFAULT_MAX_READ, mountpoints: set[str] | None = None) -> None:
        """``mountpoints``: the guest mountpoints really mounted, where a backend mounts inside one
        Filesystem itself (libguestfs); by default the keys of ``mounts``."""
        if "/" not in mounts:
            raise ValueError("a RootFS needs a filesystem mounted at /")
        self.mounts = {normalize(k): v for k, v in mounts.items()}
        self.mountpoints = {normalize(m) for m in mountpoints} if mountpoints is not None else set(self.mounts)
        self._mount_order = sorted(self.mounts, key=len, reverse=True)
        self.source = source
        self.max_read = max_read
        # directory entries skipped because their names cannot travel through the outputs (not UTF-8,
        # over 255 bytes, control characters): the runner turns new ones into unknowns, exports list them
        self.bad_names: list[BadName] = []
        self.read_log: set[str] | None = None  # paths read while set (the runner scrubs unknowns with it)
        # whole-file reads left to the analyzer that runs now (None: unlimited); see migrate.analysis
        self.reads_left: int | None = None
        # the backend's own identification of the OS, where it has one (libguestfs's inspect_get_*: type,
        # distro, product_name, version, arch, hostname ...), for the OS analyzers to cross-check theirs
        self.identity: dict[str, str] = {}
        self._bad_names_seen: set[BadName] = set()

    @classmethod
    def from_directory(cls, root: str | os.PathLike[str], **kwargs: object) -> RootFS:
        return cls({"/": HostDirFilesystem(root)}, source=str(root), **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        for fs in self.mounts.values():
            fs.close()

    def __enter__(self) -> RootFS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- raw access on resolved paths -------------------------------------------------------
    def _locate(self, path: str) -> tuple[Filesystem, str]:
        for mountpoint in self._mount_order:
            if mountpoint == "/" or path == mountpoint or path.startswith(mountpoint + "/"):
                rel = path[len(mountpoint):] if mountpoint != "/" else path
                return self.mounts[mountpoint], rel or "/"
        raise AssertionError("unreachable: / is always mounted")

    def _lstat_raw(self, path: str) -> FileStat | None:
        fs, rel = self._locate(path)
        return fs.lstat(rel)

    # -- resolution ---------------------------------------------------------------------------
    def resolve(self, path: str, *, follow_final: bool = True) -> str:
        """Canonical guest path of ``path``; symlinks resolved inside the guest.

        Raises GuestPathError when a component is missing (except the last), is not a directory, or
        when more than MAX_SYMLINKS links are followed (a loop)."""
        resolved = "/"
        remaining = deque(p for p in path.split("/"))
        links = 0
        while remaining:
            name = remaining.popleft()
            if name in ("", "."):
                continue
            if name == "..":
                resolved = posixpath.dirname(resolved) or "/"
                continue
            candidate = posixpath.join(resolved, name)
            st = self._lstat_raw(candidate)
            if st is None:
                if any(p not in ("", ".") for p in remaining):
                    raise GuestPathError("no such file or directory", path=path)
                return posixpath.join(resolved, name)
            if st.kind == "symlink" and (follow_final or any(p not in ("", ".") for p in remaining)):
                links += 1
                if links > MAX_SYMLINKS:
                    raise GuestPathError("too many levels of symbolic links", path=path)
                fs, rel = self._locate(candidate)
                target = fs.readlink(rel)
                if target.startswith("/"):
                    resolved = "/"
                remaining.extendleft(reversed(target.split("/")))
                continue
            if st.kind != "dir" and any(p not in ("", ".") for p in remaining):
                raise GuestPathError("not a directory", path=path)
            resolved = candidate
        return resolved

    # -- public API -----------------------------------------------------------------------------
    def lstat(self, path: str) -> FileStat | None:
        try:
            return self._lstat_raw(self.resolve(path, follow_final=False))
        except GuestPathError:
            return None

    def stat(self, path: str) -> FileStat | None:
        try:
            return self._lstat_raw(self.resolve(path))
        except GuestPathError:
            return None

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def is_file(self, path: str) -> bool:
        st = self.stat(path)
        return st is not None and st.kind == "file"

    def is_dir(self, path: str) -> bool:
        st = self.stat(path)
        return st is not None and st.kind == "dir"

    def is_symlink(self, path: str) -> bool:
        st = self.lstat(path)
        return st is not None and st.kind == "symlink"

    def readlink(self, path: str) -> str:
        real = self.resolve(path, follow_final=False)
        st = self._lstat_raw(real)
        if st is None or st.kind != "symlink":
            raise GuestPathError("not a symbolic link", path=path)
        fs, rel = self._locate(real)
        return fs.readlink(rel)

    def open(self, path: str, *, follow_final: bool = True) -> GuestFile:
        """A regular guest file, resolved once, for reading in ranges (no size cap: the caller
        streams, e.g. `migrate data export` copying database segments)."""
        real = self.resolve(path, follow_final=follow_final)
        st = self._lstat_raw(real)
        if st is None:
            raise GuestPathError("no such file", path=path)
        if st.kind != "file":
            raise GuestPathError(f"not a regular file ({st.kind})", path=path)
        fs, rel = self._locate(real)
        return GuestFile(path, st, fs, rel)

    def read_bytes(self, path: str, *, max_bytes: int | None = None) -> bytes:
        limit = self.max_read if max_bytes is None else max_bytes
        if self.read_log is not None:
            self.read_log.add(path)
        if self.reads_left is not None:
            if self.reads_left <= 0:
                raise GuestPathError("not read: the analyzer's read budget is spent (an include graph that "
                                     "expands without end?)", path=path)
            self.reads_left -= 1
        f = self.open(path)
        if f.stat.size > limit:
            raise GuestFileTooLarge(f"file is {f.stat.size} bytes, over the {limit}-byte read limit", path=path)
        return f.pread(0, f.stat.size)[:limit]

    def read_text(self, path: str, *, max_bytes: int | None = None) -> str:
        return self.read_bytes(path, max_bytes=max_bytes).decode("utf-8", errors="replace")

    def iterdir(self, path: str) -> list[str]:
        """Full guest paths of the entries of a directory, sorted; [] when it is not a directory."""
        try:
            real = self.resolve(path)
        except GuestPathError:
            return []
        st = self._lstat_raw(real)
        if st is None or st.kind != "dir":
            return []
        fs, rel = self._locate(real)
        base = normalize(path)
        try:
            names = fs.listdir(rel)
        except (OSError, GuestPathError) as exc:
            why = exc.message if isinstance(exc, GuestPathError) else exc.strerror
            self._bad_name(base, "", f"the directory cannot be listed ({why})")
            return []
        out = []
        for raw in names:
            name = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
            if name in (".", ".."):
                continue
            why = bad_name_reason(name)
            if why:
                self._bad_name(base, name, why)
                continue
            out.append(posixpath.join(base, name))
        return sorted(out)

    def _bad_name(self, directory: str, name: str, why: str) -> None:
        entry = BadName(directory, escape_name(name), why)
        if entry not in self._bad_names_seen:
            self._bad_names_seen.add(entry)
            self.bad_names.append(entry)

    def glob(self, pattern: str) -> list[str]:
        """fnmatch per path component (no ``**``); results are guest paths as spelled by the pattern."""
        parts = [p for p in normalize(pattern).split("/") if p]
        found = ["/"]
        for part in parts:
            nxt: list[str] = []
            for base in found:
                if any(ch in part for ch in "*?["):
                    nxt.extend(p for p in self.iterdir(base) if fnmatch.fnmatchcase(posixpath.basename(p), part))
                else:
                    candidate = posixpath.join(base, part)
                    if self.lstat(candidate) is not None:
                        nxt.append(candidate)
            found = nxt
        return sorted(found)

    def walk(self, top: str, *, max_entries: int = 1_000_000,
             max_depth: int | None = None) -> Iterator[tuple[str, FileStat]]:
        """Every entry below ``top`` (not following symlinks, not crossing into other mounts'
        parents), with its lstat; bounded by ``max_entries``, and with ``max_depth`` not below that
        many folders (each entry's path is resolved from the root: a chain of folders thousands deep
        costs the square of its depth)."""
        seen = 0
        stack = [(normalize(top), 0)]
        while stack:
            current, depth = stack.pop()
            for child in self.iterdir(current):
                st = self.lstat(child)
                if st is None:
                    continue
                seen += 1
                if seen > max_entries:
                    raise GuestPathError(f"more than {max_entries} entries", path=top)
                yield child, st
                if st.kind == "dir" and (max_depth is None or depth + 1 < max_depth):
                    stack.append((child, depth + 1))
