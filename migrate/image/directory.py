"""A guest tree already extracted to a host directory (``migrate inspect DIR``).

Useful for trees from `virt-tar-out`, backups or containers. Every path is still resolved inside
the tree by RootFS: an absolute symlink in it means the tree's file, never the host's.
"""

from __future__ import annotations

from pathlib import Path

from migrate.errors import UsageError
from migrate.image.backend import Backend, OpenedGuest
from migrate.model.inventory import Filesystem as FilesystemRecord
from migrate.model.inventory import ImageSource
from migrate.rootfs import RootFS


class DirectoryBackend(Backend):
    name = "directory"

    def open(self, images: list[Path], keys: object = None) -> OpenedGuest:  # a tree has nothing encrypted
        if len(images) != 1:
            raise UsageError("a guest directory is inspected on its own, not with other images")
        root = images[0]
        rootfs = RootFS.from_directory(root)
        return OpenedGuest(backend=self.name, rootfs=rootfs,
                           images=[ImageSource(path=str(root), format="directory")],
                           filesystems=[FilesystemRecord(device=str(root), fstype="directory", mountpoint="/")])
