"""Data migration documents: the export manifest (what was copied out of the guest, file by file)
and the import report (what a volume holds after seeding, compared with the manifest).

Pure data. ``migrate.data`` writes and reads them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from migrate.model.base import Document, Model

EntryKind = Literal["file", "dir", "symlink", "fifo"]
SkippedKind = Literal["socket", "char", "block", "other", "unreadable"]


class FileEntry(Model):
    """One entry of a volume archive. ``path`` is relative to the volume root ("." is the root)."""

    path: str
    kind: EntryKind
    mode: int  # permission bits incl. setuid/setgid/sticky
    uid: int
    gid: int
    size: int = 0
    mtime: int = 0  # whole seconds
    sha256: str | None = None  # regular files
    target: str | None = None  # symlinks, exactly as stored in the guest


class SkippedEntry(Model):
    """Something under a persistent path that is not in the archive, and why. Never silent."""

    path: str  # guest path
    kind: SkippedKind | str
    reason: str


class VolumeArchive(Model):
    volume: str  # stack volume name (compose key): postgres-data
    service: str | None  # stack service (container) name, or the guest service when not planned
    guest_service: str | None = None
    guest_path: str  # /var/lib/postgresql/15/main
    kind: str = "data"
    planned: bool = True  # the plan has a volume for it (False: named by the <service>-<slug> convention)
    naming: str  # how the volume name was decided
    archive: str  # file name inside the export directory
    archive_sha256: str
    archive_bytes: int
    files: int
    bytes: int  # sum of regular file sizes
    entries: list[FileEntry] = Field(default_factory=list)
    skipped: list[SkippedEntry] = Field(default_factory=list)
    excluded: list[str] = Field(default_factory=list)  # nested persistent paths exported on their own


class DataManifest(Document):
    KIND = "data-manifest"
    SCHEMA_VERSION = 1

    source_vm: str
    images: list[str] = Field(default_factory=list)
    volumes: list[VolumeArchive] = Field(default_factory=list)
    # persistent paths of the inventory that are no directory in the guest (missing, a link leading
    # nowhere inside it): no archive, the reason here (additive, issue 8)
    not_exported: list[SkippedEntry] = Field(default_factory=list)

    def canonical(self) -> DataManifest:
        data = self.model_copy(deep=True)
        data.volumes.sort(key=lambda v: v.volume)
        for v in data.volumes:
            v.entries.sort(key=lambda e: e.path)
            v.skipped.sort(key=lambda s: s.path)
            v.excluded.sort()
        return data

    def volume(self, name: str) -> VolumeArchive | None:
        return next((v for v in self.volumes if v.volume == name), None)


class Mismatch(Model):
    path: str
    field: str  # missing, unexpected, kind, mode, uid, gid, size, sha256, target, mtime
    expected: str | None = None
    actual: str | None = None


class VolumeImport(Model):
    volume: str  # stack volume name
    docker_volume: str  # <project>_<volume>
    archive: str
    created: bool
    replaced: bool = False  # --force wiped existing content
    entries_checked: int = 0
    files_checked: int = 0
    mismatches: list[Mismatch] = Field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches


class NotImported(Model):
    volume: str
    guest_path: str
    reason: str


class DataImportReport(Document):
    KIND = "data-import-report"
    SCHEMA_VERSION = 1

    project: str
    mode: Literal["compose", "swarm"]
    base_image: str
    volumes: list[VolumeImport] = Field(default_factory=list)
    not_imported: list[NotImported] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.volumes)

    def canonical(self) -> DataImportReport:
        data = self.model_copy(deep=True)
        data.volumes.sort(key=lambda v: v.volume)
        for v in data.volumes:
            v.mismatches.sort(key=lambda m: (m.path, m.field))
        data.not_imported.sort(key=lambda n: n.volume)
        return data
