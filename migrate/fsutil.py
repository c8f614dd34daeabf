"""Host-side file helpers: outputs appear whole or not at all, and only below their output directory."""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from migrate.errors import NoSpace, OutputError, OutputEscape


def atomic_write_text(path: str | os.PathLike[str], text: str, *, mode: int = 0o644) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename, so a
    reader (or a crash) never sees a half-written file."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror}", path=str(target)) from exc
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


# --- confinement of writes under an output directory (issue 8, D1) --------------------------------
#
# Guest-derived names (a unit's WorkingDirectory, an nginx include, a file in a web root) end up as
# paths under OUTDIR. One rule for all of them: the guest part is normalised from the guest's view
# (``..`` never climbs above the guest's "/"), the whole relative path must stay below the output
# root, and every component is opened relative to a directory descriptor without following links, so
# a symlink planted in OUTDIR (or raced in while writing) cannot redirect a write to the host.

SAFE_MODE_MASK = 0o775  # no setuid/setgid/sticky, never world-writable on the host side
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def safe_mode(mode: int) -> int:
    """A guest file mode made harmless for a host file: no special bits, not world-writable, and
    always readable by its owner (the build has to read it)."""
    return (mode & SAFE_MODE_MASK) | 0o400


def guest_relpath(guest: str) -> str:
    """A guest path as a relative output path: normalised as the guest would see it, anchored at
    "/", so ``/opt/app/../../../../tmp/x`` is ``tmp/x`` and never climbs out of the tree it is
    placed in. (Symlinks are not looked at: the writer never follows them anyway.)"""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in guest):
        # a newline in a path would end a Dockerfile RUN line or an entrypoint comment early
        raise OutputEscape("a path with a control character cannot be written",
                           path=guest.encode("unicode_escape").decode("ascii"))
    norm = posixpath.normpath("/" + guest.lstrip("/"))
    return norm.lstrip("/")


def check_relpath(rel: str) -> list[str]:
    """The components of a relative output path; refused (OutputEscape) when it is absolute, empty
    or names ``..``/``.`` after normalisation."""
    if "\0" in rel:
        raise OutputEscape("a path with a NUL byte cannot be written", path=rel.replace("\0", "\\0"))
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if rel.startswith("/") or not parts or ".." in parts:
        raise OutputEscape("output path leaves the output directory", path=rel)
    return parts


class ConfinedDir:
    """Writes below one host directory and nowhere else (see the comment block above).

    Every component is opened with O_NOFOLLOW relative to its parent's descriptor; files are created
    with O_EXCL (an existing regular file is unlinked first, never opened), modes go through
    ``safe_mode``. A link or non-directory in the way is an OutputEscape (exit 35), not an OSError."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        try:
            self._fd = os.open(self.root, _DIR_FLAGS)
        except OSError as exc:
            raise OutputError(f"cannot open the output directory: {exc.strerror}", path=str(self.root)) from exc

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ConfinedDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _escape(self, rel: str, why: str) -> Exception:
        return OutputEscape(f"refusing to write: {why}", path=str(self.root / rel))

    def _open_dir(self, parts: list[str], rel: str, *, create: bool) -> int:
        """A descriptor of the directory ``parts`` below the root (created when asked)."""
        fd = os.dup(self._fd)
        try:
            for name in parts:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o755, dir_fd=fd)
                try:
                    nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise self._escape(rel, f"{name} is a symbolic link or not a directory") from exc
                    raise
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd

    def mkdir(self, rel: str) -> None:
        parts = check_relpath(rel)
        try:
            os.close(self._open_dir(parts, rel, create=True))
        except OSError as exc:
            raise OutputError(f"cannot create directory: {exc.strerror}", path=str(self.root / rel)) from exc

    def open_write(self, rel: str, mode: int = 0o644) -> BinaryIO:
        """A new file opened for writing (binary); an existing regular file is replaced, a link or a
        directory in its place is refused."""
        parts = check_relpath(rel)
        try:
            dfd = self._open_dir(parts[:-1], rel, create=True)
            try:
                name = parts[-1]
                try:
                    st = os.lstat(name, dir_fd=dfd)
                except FileNotFoundError:
                    st = None
                if st is not None:
                    if not stat.S_ISREG(st.st_mode):
                        raise self._escape(rel, "something that is not a regular file is in the way")
                    os.unlink(name, dir_fd=dfd)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                fd = os.open(name, flags, 0o600, dir_fd=dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise NoSpace("no space left on the output filesystem", path=str(self.root / rel)) from exc
            raise OutputError(f"cannot write: {exc.strerror}", path=str(self.root / rel)) from exc
        os.fchmod(fd, safe_mode(mode))
        return os.fdopen(fd, "wb")

    def write_bytes(self, rel: str, data: bytes, mode: int = 0o644) -> None:
        fh = self.open_write(rel, mode)
        try:
            with fh:
                fh.write(data)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise NoSpace("no space left on the output filesystem", path=str(self.root / rel)) from exc
            raise OutputError(f"cannot write: {exc.strerror}", path=str(self.root / rel)) from exc


def free_bytes(path: str | os.PathLike[str]) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def require_space(path: str | os.PathLike[str], needed: int, *, what: str) -> None:
    """NoSpace (exit 36) before anything is written when ``needed`` bytes (+ 1 MiB and 1% for
    filesystem metadata) do not fit beside ``path``."""
    free = free_bytes(path)
    if needed + (1 << 20) + needed // 100 > free:
        raise NoSpace(f"{what} needs about {needed} bytes but only {free} are free", path=str(path))
