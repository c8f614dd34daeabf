"""The one confinement rule for what a disk chain reads (docs/security.md, design §9).

A disk image is hostile input, and its metadata names further files: a qcow2 ``backing_file`` or
external data file, VMDK descriptor extents and ``parentFileNameHint``, VHD/VHDX parent locators.
Followed naively, ``/etc/shadow``, ``../../root/.ssh/id_rsa``, a FIFO or ``/proc/self/mem`` become
part of the virtual disk, and their bytes end up in inventories or exported volumes.

So every such name goes through :meth:`ChainRoot.resolve`: it must be a plain local name that, walked
component by component from the folder of the image the user named (or the OVA's unpack folder),
never leaves that folder, not even through a symlink, and ends at a regular file. Nothing outside the
folder is ever stat-ed or opened: an absolute name is rebased onto the folder only when it lies under
it textually, and symlinks are read (``readlink``) and resolved by us, never by the kernel.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass

from migrate.errors import ChainMemberNotRegular, ChainMemberOutside, MissingExtent

# qemu treats "proto:rest" as a protocol or a json: pseudo-file when the colon comes before any slash
_PSEUDO = re.compile(r"^[^/]*:")
_MAX_LINKS = 40
_MAX_NAME = 4096


@dataclass(frozen=True)
class ChainRoot:
    """The folder a chain may read from, and the user's file that errors name."""

    folder: str  # absolute, symlink-free (realpath of the folder of the named image)
    report_path: str

    @classmethod
    def of(cls, image: str | os.PathLike[str], report_path: str | None = None) -> ChainRoot:
        """The root for an image the user named: its own folder. The user's own path may be a
        symlink (that is the user's choice); what the image names is confined to the folder."""
        path = os.path.abspath(os.fspath(image))
        return cls(os.path.realpath(os.path.dirname(path)), report_path or os.fspath(image))

    def resolve(self, name: str, referrer: str, *, what: str) -> str:
        """The real path of chain member ``name`` as named inside ``referrer`` (a file inside the
        folder, relative names resolve from its directory). Raises ChainMemberOutside,
        ChainMemberNotRegular or MissingExtent, each naming the user's image and the member."""
        if not name or len(name) > _MAX_NAME or "\0" in name:
            raise ChainMemberOutside(f"{what} name {name[:80]!r} is not a usable file name", path=self.report_path)
        if _PSEUDO.match(name):
            raise ChainMemberOutside(f"{what} {name[:200]!r} is a protocol or pseudo-file name (qemu would "
                                     "read it as such), not a file in the image's folder", path=self.report_path)
        # the referrer is the user's image (its folder may be reached through a symlink: the
        # user's choice) or a member this method resolved (already symlink-free)
        base = os.path.realpath(os.path.dirname(os.path.abspath(referrer)))
        if os.path.isabs(name):
            parts = self._rebase(name, what)
        else:
            start = os.path.relpath(base, self.folder) if self._inside(base) else None
            if start is None:
                raise ChainMemberOutside(f"{what} {name!r} is named by a file outside the image's folder",
                                         path=self.report_path)
            parts = ([] if start == "." else start.split(os.sep)) + name.split("/")
        real = self._walk(parts, name, what)
        try:
            st = os.lstat(real)
        except FileNotFoundError:
            raise MissingExtent(f"{what} {name!r} not found (looked for {real!r})", path=self.report_path) from None
        if not stat.S_ISREG(st.st_mode):
            kind = _kind(st.st_mode)
            raise ChainMemberNotRegular(f"{what} {name!r} is {kind}, not a regular file", path=self.report_path)
        return real

    def _inside(self, path: str) -> bool:
        return path == self.folder or path.startswith(self.folder.rstrip(os.sep) + os.sep)

    def _rebase(self, name: str, what: str) -> list[str]:
        norm = os.path.normpath(name)
        if not self._inside(norm):
            raise ChainMemberOutside(f"{what} {name!r} is an absolute path outside the image's folder "
                                     f"{self.folder}", path=self.report_path)
        rel = os.path.relpath(norm, self.folder)
        return [] if rel == "." else rel.split(os.sep)

    def _walk(self, parts: list[str], name: str, what: str) -> str:
        """Resolve ``parts`` below the folder one component at a time; symlinks are expanded here
        (their targets pushed back onto the queue) so no step ever leaves the folder."""
        done: list[str] = []
        queue = list(parts)
        links = 0
        while queue:
            part = queue.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if not done:
                    raise ChainMemberOutside(f"{what} {name!r} climbs out of the image's folder with '..'",
                                             path=self.report_path)
                done.pop()
                continue
            here = os.path.join(self.folder, *done, part)
            try:
                st = os.lstat(here)
            except FileNotFoundError:
                raise MissingExtent(f"{what} {name!r} not found (looked for {here!r})",
                                    path=self.report_path) from None
            except OSError as exc:
                raise ChainMemberNotRegular(f"{what} {name!r} cannot be looked up: {exc.strerror}",
                                            path=self.report_path) from None
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > _MAX_LINKS:
                    raise ChainMemberOutside(f"{what} {name!r}: too many symbolic links", path=self.report_path)
                target = os.readlink(here)
                if os.path.isabs(target):
                    done = []
                    queue = self._rebase(target, what) + queue
                else:
                    queue = target.split("/") + queue
                continue
            if queue and not stat.S_ISDIR(st.st_mode):
                raise MissingExtent(f"{what} {name!r} not found ({here!r} is not a directory)", path=self.report_path)
            done.append(part)
        if not done:
            raise ChainMemberNotRegular(f"{what} {name!r} is the image's folder itself", path=self.report_path)
        return os.path.join(self.folder, *done)


def _kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return kind
    return "not a regular file"


def open_regular(path: str, report_path: str) -> int:
    """Open ``path`` read-only without following a final symlink and without blocking on a FIFO,
    and make sure it is a regular file: the last line of defence for every file a reader opens
    (the user's own image included)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        from migrate.errors import ImageNotFound

        raise ImageNotFound("no such file", path=path) from None
    if not stat.S_ISREG(st.st_mode):
        raise ChainMemberNotRegular(f"{os.path.basename(path)} is {_kind(st.st_mode)}, not a regular file",
                                    path=report_path)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    if os.path.realpath(path) == os.path.abspath(path):
        flags |= os.O_NOFOLLOW  # members come here resolved; a user's symlinked image is opened as named
    fd = os.open(path, flags)
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped between stat and open
        os.close(fd)
        raise ChainMemberNotRegular(f"{os.path.basename(path)} is not a regular file", path=report_path)
    return fd
