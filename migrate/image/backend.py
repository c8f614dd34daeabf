"""The backend interface: disk image files in, a fstab-mounted RootFS of the guest out.

Two backends implement it: ``native`` (userspace readers, no appliance, no root) and ``guestfs``
(libguestfs, the reference). ``auto`` tries native and falls back to guestfs where native says the
layout is beyond it (UnsupportedLayout), never where the image itself is bad.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from migrate.model.inventory import Filesystem as FilesystemRecord
from migrate.model.inventory import ImageSource
from migrate.rootfs import RootFS


@dataclass
class OpenedGuest:
    """A guest opened by a backend. Close it (or use it as a context manager) to release files."""

    backend: str
    rootfs: RootFS
    images: list[ImageSource]
    filesystems: list[FilesystemRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things the backend saw but could not use

    def close(self) -> None:
        self.rootfs.close()

    def __enter__(self) -> OpenedGuest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Backend(ABC):
    name: str

    @abstractmethod
    def open(self, images: list[Path]) -> OpenedGuest:
        """Open the disks of one VM (in order), find the OS root and mount the guest's other
        filesystems as its fstab says. Raises the ImageError subclasses of migrate.errors."""
