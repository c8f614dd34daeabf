"""The backend interface: disk image files in, a fstab-mounted RootFS of the guest out.

Two backends implement it: ``native`` (userspace readers, no appliance, no root) and ``guestfs``
(libguestfs, the reference). ``auto`` tries native and falls back to guestfs where native says the
layout is beyond it (UnsupportedLayout), never where the image itself is bad.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.model.inventory import Filesystem as FilesystemRecord
from migrate.model.inventory import ImageSource
from migrate.rootfs import RootFS

if TYPE_CHECKING:
    from .keys import KeyStore
    from .mounting import Volume


@dataclass(frozen=True)
class DerivedMount:
    """A filesystem the backend mounted although /etc/fstab does not name it (a separate /usr), with why."""

    mountpoint: str
    device: str
    fstype: str | None
    reason: str


@dataclass
class OpenedGuest:
    """A guest opened by a backend. Close it (or use it as a context manager) to release files."""

    backend: str
    rootfs: RootFS
    images: list[ImageSource]
    filesystems: list[FilesystemRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things the backend saw but could not use
    # every volume with the names the guest may use for it: fstab sources resolve against these
    # (migrate.image.mounting.resolve_spec, the same for every backend)
    volumes: list[Volume] = field(default_factory=list)
    derived_mounts: list[DerivedMount] = field(default_factory=list)

    def close(self) -> None:
        self.rootfs.close()

    def __enter__(self) -> OpenedGuest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Backend(ABC):
    name: str

    @abstractmethod
    def open(self, images: list[Path], keys: KeyStore | None = None) -> OpenedGuest:
        """Open the disks of one VM (in order), find the OS root and mount the guest's other
        filesystems as its fstab says; ``keys`` open encrypted volumes. Raises the ImageError
        subclasses of migrate.errors (EncryptedVolume without a key, WrongKey with wrong ones)."""
