"""Content fingerprints of disk images, cheap enough for a datastore of hundreds of GB (docs/fleet.md).

A rerun must skip what is done and redo what changed, and "the same image" has to mean the same
*content*: a copied or renamed export is the same VM, a re-exported one is not. Hashing every byte
of every image on each run would cost as much as reading the whole datastore (hours for a few TB), so:

- a file up to ``FULL_HASH_LIMIT`` is hashed whole;
- a larger one is hashed from its size, its first and last ``EDGE`` bytes (headers, footers, the
  metadata tables most formats keep at the start or append at the end) and ``SAMPLES`` blocks of
  ``SAMPLE`` bytes at evenly spread offsets: 2 MiB + 4 MiB of reads whatever the size;
- an image's fingerprint combines the fingerprints of every file its chain reads (backing files,
  VMDK extents, parents), found through the same confinement rule the readers use
  (migrate.image.confine), so changing a backing file changes every overlay's fingerprint.

Trade-off, stated plainly: an in-place edit of a large raw or preallocated file that keeps its size
and touches none of the sampled bytes goes unnoticed. Sparse formats append new clusters and rewrite
tables, which the edges catch. ``full=True`` (``fleet inspect --full-hash``) hashes every byte.

Re-reading even the samples of ten thousand images costs minutes on network storage, so the store
also keeps a *stat key* (size, mtime, inode of every chain file): while it is unchanged the stored
fingerprint is trusted, as make and rsync do; when it changes the fingerprint is recomputed and only a
different fingerprint makes the member pending again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

from migrate.image.budget import deadline
from migrate.image.confine import ChainRoot, open_regular

FULL_HASH_LIMIT = 64 << 20
EDGE = 1 << 20
SAMPLE = 64 << 10
SAMPLES = 64
VERSION = "fp1"


@dataclass(frozen=True)
class _RecordingRoot(ChainRoot):
    """The confinement root of an image that also remembers every chain member it resolved."""

    seen: list[str] = field(default_factory=list, compare=False, hash=False)

    def resolve(self, name: str, referrer: str, *, what: str) -> str:
        real = super().resolve(name, referrer, what=what)
        if real not in self.seen:
            self.seen.append(real)
        return real


@dataclass(frozen=True)
class Fingerprint:
    value: str  # "fp1:<hex>"
    files: tuple[str, ...]  # the image and every chain member, in the order they were opened
    stat_key: str


def chain_files(path: str | os.PathLike[str]) -> list[str]:
    """The image itself and every file its chain reads (backing files, extents, parents), each
    confined to the image's folder. An OVA is one file (its disks are inside). Raises the image
    layer's errors (CorruptImage, ChainMemberOutside, …) for a chain that cannot be walked."""
    from pathlib import Path

    from migrate.image.formats import open_image
    from migrate.image.ova import is_ova

    top = os.path.realpath(os.fspath(path))
    if is_ova(Path(top)):
        return [top]
    base = ChainRoot.of(path)
    root = _RecordingRoot(base.folder, base.report_path)
    with deadline(f"walking the disk chain of {os.fspath(path)}", 120.0):
        open_image(path, root=root).close()
    return [top, *[p for p in root.seen if p != top]]


def stat_key(files: list[str] | tuple[str, ...]) -> str:
    """Size, mtime and inode of each chain file (JSON, with the file list so a rerun can check it
    without opening the image): changes whenever the content may have."""
    h = hashlib.sha256()
    for f in files:
        try:
            st = os.stat(f)
            h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n".encode())
        except OSError:  # missing: the key changes again when the file comes back
            h.update(f"{f}\0missing\n".encode())
    return json.dumps({"files": list(files), "key": h.hexdigest()[:32]})


def stat_changed(key: str | None) -> bool:
    """True when a stored stat key no longer matches its files (or a file is gone, or no key)."""
    if not key:
        return True
    try:
        files = json.loads(key)["files"]
        return stat_key(files) != key
    except (ValueError, KeyError, TypeError):
        return True


def file_digest(path: str, *, full: bool = False) -> str:
    """The content digest of one file (whole below FULL_HASH_LIMIT or with ``full``, else sampled)."""
    fd = open_regular(path, path)
    try:
        size = os.fstat(fd).st_size
        h = hashlib.sha256(f"{size}\0".encode())
        if full or size <= FULL_HASH_LIMIT:
            h.update(b"full\0")
            offset = 0
            while offset < size:
                chunk = os.pread(fd, 4 << 20, offset)
                if not chunk:
                    break
                h.update(chunk)
                offset += len(chunk)
        else:
            h.update(b"sampled\0")
            h.update(os.pread(fd, EDGE, 0))
            h.update(os.pread(fd, EDGE, size - EDGE))
            span = size - 2 * EDGE - SAMPLE
            for i in range(1, SAMPLES + 1):
                h.update(os.pread(fd, SAMPLE, EDGE + span * i // (SAMPLES + 1)))
        return h.hexdigest()
    finally:
        os.close(fd)


def fingerprint(path: str | os.PathLike[str], *, full: bool = False,
                disks: list[str] | tuple[str, ...] = ()) -> Fingerprint:
    """The fingerprint of an image and its whole chain (see the module docstring); with ``disks``,
    of a VM's disks in order (each with its chain)."""
    files: list[str] = []
    for disk in (path, *disks):
        files.extend(f for f in chain_files(disk) if f not in files)
    h = hashlib.sha256(VERSION.encode())
    for f in files:  # content only: a renamed or moved copy keeps its fingerprint
        h.update(file_digest(f, full=full).encode())
    return Fingerprint(f"{VERSION}:{h.hexdigest()[:40]}", tuple(files), stat_key(files))
