"""Adding sources to a fleet: disk images found under directories and globs, a manifest CSV, an
RVTools export (docs/fleet.md).

What is an image is decided by content (the same magic the image layer uses, and an OVA by being a
tar holding an .ovf), never by extension alone: datastores are full of .vmdk descriptors, -flat
extents, backing files, .nvram and logs. A file that another found image reads as part of its chain
(a qcow2 backing file, a VMDK extent or parent) is that image's, not a VM of its own.

Trust: the directories and globs on the command line are the user's choice. A manifest is a file
that may come from anyone, so the paths it names are confined: resolved relative to the manifest,
they must stay (textually first, then after resolving symbolic links) inside the manifest's folder or
a folder the user named with ``--allow-dir``; anything else is refused (FleetSourceOutside) before a
single host file outside those folders is opened.

An add is all or nothing: everything is read and validated first, then written in one transaction.
"""

from __future__ import annotations

import csv
import glob
import io
import os
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from migrate.errors import (
    FleetSourceInvalid,
    FleetSourceOutside,
    ImageError,
    ImageNotFound,
    MigrateError,
    ResourceBudgetExceeded,
)
from migrate.fleet.rvtools import read_rvtools
from migrate.fleet.store import FleetStore
from migrate.model.fleet import FleetMember, RVToolsSizing, SourceRef

MAX_SCAN_FILES = 200_000
MAX_SCAN_DEPTH = 32  # folders below a scanned directory (os.walk recurses: 1100 levels was a RecursionError)
MAX_MANIFEST_BYTES = 16 << 20
MIN_IMAGE_BYTES = 64  # a VMDK descriptor is a few hundred bytes
MANIFEST_REQUIRED = ("path", "name")
MANIFEST_OPTIONAL = ("owner", "environment", "wave")
_GLOB_CHARS = set("*?[")


@dataclass
class FoundImage:
    path: str  # real path
    format: str  # qemu-img's name, or "ova"
    chain: list[str] = field(default_factory=list)  # files it reads besides itself


@dataclass
class AddResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    notes: list[str] = field(default_factory=list)


def classify(path: str, *, scanning: bool) -> str | None:
    """The image format of ``path`` by content, "ova", or None when it is not a disk image. While
    scanning a directory a raw file must show a partition table or volume signature (a blank file
    of zeros is not taken for a VM)."""
    from migrate.image.formats import _PROBE, _raw_signature, detect_format
    from migrate.image.ova import is_ova

    if is_ova(Path(path)):
        return "ova"
    try:
        fmt, _variant = detect_format(path)
    except ImageError:
        return None
    if fmt == "raw" and scanning:
        with open(path, "rb") as fh:
            if _raw_signature(fh.read(_PROBE)) is None:
                return None
    return fmt


def _walk(root: str, result: AddResult) -> Iterable[str]:
    """Regular files under ``root``; a symbolic link is followed only when its target stays inside."""
    real_root = os.path.realpath(root)
    base_depth = root.rstrip(os.sep).count(os.sep)
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        if dirnames and dirpath.count(os.sep) - base_depth >= MAX_SCAN_DEPTH:
            result.notes.append(f"{dirpath}: not scanned below {MAX_SCAN_DEPTH} folders deep")
            dirnames.clear()
        for name in sorted(filenames):
            count += 1
            if count > MAX_SCAN_FILES:
                result.notes.append(f"{root}: stopped after {MAX_SCAN_FILES} files")
                return
            p = os.path.join(dirpath, name)
            real = os.path.realpath(p)
            if real != os.path.abspath(p) and not _inside(real, real_root):
                result.skipped.append((p, "symbolic link out of the directory"))
                continue
            yield real


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def scan(arguments: list[str], result: AddResult) -> list[FoundImage]:
    """The disk images and OVAs named by files, directories and globs (see the module docstring)."""
    candidates: list[tuple[str, bool]] = []  # (real path, found by scanning)
    for arg in arguments:
        matches = sorted(glob.glob(arg, recursive=True)) if _GLOB_CHARS & set(arg) else [arg]
        if not matches:
            result.skipped.append((arg, "matches nothing"))
        for m in matches:
            if os.path.isdir(m):
                candidates.extend((p, True) for p in _walk(m, result))
            elif os.path.exists(m):
                candidates.append((os.path.realpath(m), False))
            elif m == arg:  # named explicitly: a typo must not pass for an empty datastore
                raise ImageNotFound("no such file or directory", path=m)
            else:
                result.skipped.append((m, "no such file or directory"))
    found: dict[str, FoundImage] = {}
    for path, scanning in candidates:
        if path in found:
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            result.skipped.append((path, "not a regular file"))
            continue
        try:
            fmt = classify(path, scanning=scanning) if st.st_size >= MIN_IMAGE_BYTES else None
        except ResourceBudgetExceeded as exc:  # a tar whose headers are a bomb: said, and no member
            result.skipped.append((path, f"refused while probing its format: {exc.message}"))
            continue
        if fmt is None:
            if not scanning:
                result.skipped.append((path, "not a disk image or OVA"))
            continue
        found[path] = FoundImage(path, fmt)
    members_of_others: set[str] = set()
    for img in found.values():
        if img.format == "ova":
            continue
        from migrate.fleet.fingerprint import chain_files

        try:
            img.chain = chain_files(img.path)[1:]
        except MigrateError:
            img.chain = []  # a broken chain: the member fails at inspection, with its error
        members_of_others.update(img.chain)
    for p in sorted(members_of_others & set(found)):
        result.notes.append(f"{p}: part of another image's disk chain, not a VM of its own")
    return [img for p, img in found.items() if p not in members_of_others]


@dataclass
class ManifestRow:
    """One VM of a manifest: the rows that name it (one per disk, in order) and its fields."""

    row: int
    name: str
    images: list[str]
    owner: str | None
    environment: str | None
    wave: str | None
    rows: list[int] = field(default_factory=list)

    @property
    def image(self) -> str | None:
        return self.images[0] if self.images else None


def read_manifest(path: Path, allow_dirs: list[Path]) -> list[ManifestRow]:
    """VMs of a manifest CSV: ``path,name`` required, ``owner,environment,wave`` optional (other
    columns are ignored). A VM with several disks is named on several rows, one disk each, in disk
    order. Paths are confined as the module docstring says."""
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise FleetSourceInvalid(f"larger than {MAX_MANIFEST_BYTES >> 20} MiB", path=str(path))
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise FleetSourceInvalid(f"cannot read: {exc.strerror}", path=str(path)) from exc
    except UnicodeDecodeError:
        raise FleetSourceInvalid("not UTF-8 text", path=str(path)) from None
    try:
        return _manifest_rows(csv.reader(io.StringIO(text)), path, allow_dirs)
    except csv.Error as exc:  # a field over csv's limit (128 KiB): a clear refusal, not a traceback
        raise FleetSourceInvalid(f"not a readable CSV: {exc}", path=str(path)) from None


def _manifest_rows(reader: Iterable[list[str]], path: Path, allow_dirs: list[Path]) -> list[ManifestRow]:
    reader = iter(reader)
    header = [h.strip().lower() for h in next(reader, [])]
    if not any(header):
        raise FleetSourceInvalid("empty manifest (no header row)", path=str(path))
    for col in MANIFEST_REQUIRED:
        if col not in header:
            raise FleetSourceInvalid(f"required column {col!r} is missing (header: {', '.join(header)})",
                                     path=str(path))
    index = {c: header.index(c) for c in (*MANIFEST_REQUIRED, *MANIFEST_OPTIONAL) if c in header}
    base = os.path.realpath(path.parent)
    roots = [base, *(os.path.realpath(d) for d in allow_dirs)]
    rows: dict[str, ManifestRow] = {}
    seen_images: dict[str, int] = {}
    for rowno, cells in enumerate(reader, start=2):
        values = {c: (cells[i].strip() if i < len(cells) else "") for c, i in index.items()}
        if not any(values.values()):
            continue
        name = values["name"]
        if not name:
            raise FleetSourceInvalid(f"row {rowno}: column 'name' is empty", path=str(path))
        if len(name) > 200 or any(unicodedata.category(ch) == "Cc" for ch in name):
            raise FleetSourceInvalid(f"row {rowno}: name {name[:40]!r} is not a usable VM name", path=str(path))
        vm = rows.get(name.lower())
        if vm is not None and (not values["path"] or not vm.images):
            raise FleetSourceInvalid(f"row {rowno}: name {name!r} repeats row {vm.row} (a VM named on several rows "
                                     "must give one disk path on each)", path=str(path))
        image = _confined(values["path"], base, roots, rowno, path) if values["path"] else None
        if image is not None:
            if image in seen_images:
                raise FleetSourceInvalid(f"row {rowno}: {values['path']!r} is already the disk of row "
                                         f"{seen_images[image]}", path=str(path))
            seen_images[image] = rowno
        if vm is None:
            rows[name.lower()] = ManifestRow(rowno, name, [image] if image else [], values.get("owner") or None,
                                             values.get("environment") or None, values.get("wave") or None, [rowno])
        else:
            assert image is not None
            vm.images.append(image)
            vm.rows.append(rowno)
            vm.owner = vm.owner or values.get("owner") or None
            vm.environment = vm.environment or values.get("environment") or None
            vm.wave = vm.wave or values.get("wave") or None
    return list(rows.values())


def _confined(raw: str, base: str, roots: list[str], rowno: int, manifest: Path) -> str:
    if "\0" in raw or len(raw) > 4096:
        raise FleetSourceInvalid(f"row {rowno}: path is not a usable file name", path=str(manifest))
    lexical = os.path.normpath(os.path.join(base, raw))
    where = ", ".join(roots)
    if not any(_inside(lexical, r) for r in roots):
        raise FleetSourceOutside(f"row {rowno}: path {raw!r} is outside the allowed folders ({where}); "
                                 "add --allow-dir to allow another folder", path=str(manifest))
    real = os.path.realpath(lexical)
    if not any(_inside(real, r) for r in roots):
        raise FleetSourceOutside(f"row {rowno}: path {raw!r} leads through a symbolic link outside the allowed "
                                 f"folders ({where})", path=str(manifest))
    try:
        st = os.stat(real)
    except OSError:
        raise FleetSourceInvalid(f"row {rowno}: {raw!r} does not exist", path=str(manifest)) from None
    if not stat.S_ISREG(st.st_mode) or classify(real, scanning=False) is None:
        raise FleetSourceInvalid(f"row {rowno}: {raw!r} is not a disk image or OVA", path=str(manifest))
    return real


def image_stem(path: str) -> str:
    """The member name a found image gets: its file name without the extension, with any control
    character (an escape sequence in a datastore's file name) as "_": names reach terminals."""
    return _no_controls(Path(path).stem or Path(path).name)


def _no_controls(text: str) -> str:
    return "".join("_" if unicodedata.category(ch) == "Cc" else ch for ch in text)


@dataclass
class Sources:
    """Everything read from the sources of one add, validated, before the store is touched."""

    paths: list[str]
    images: list[FoundImage]
    manifest: Path | None
    rows: list[ManifestRow]
    rvtools: Path | None
    sized: list[tuple[int, RVToolsSizing]]
    result: AddResult


def read_sources(paths: list[str], *, manifest: Path | None = None, rvtools: Path | None = None,
                 allow_dirs: list[Path] | None = None) -> Sources:
    """Read and validate every source (raises before anything is written)."""
    result = AddResult()
    rows = read_manifest(manifest, allow_dirs or []) if manifest else []
    sized = read_rvtools(rvtools) if rvtools else []
    images = scan(paths, result) if paths else []
    return Sources(paths, images, manifest, rows, rvtools, sized, result)


def add_sources(store: FleetStore, paths: list[str] | Sources, *, manifest: Path | None = None,
                rvtools: Path | None = None, allow_dirs: list[Path] | None = None) -> AddResult:
    """Merge sources into the store in one transaction. Names: the manifest's, else the image's
    stem; RVTools rows match those names case-insensitively, and rows that match nothing become
    members in state ``no-image`` (sized, not inspected)."""
    src = paths if isinstance(paths, Sources) else read_sources(paths, manifest=manifest, rvtools=rvtools,
                                                                allow_dirs=allow_dirs)
    result = src.result
    with store.transaction():
        _merge(store, result, src.rows, src.images, src.sized, src.manifest, src.rvtools, src.paths)
    result.added = sorted(set(result.added))
    result.updated = sorted(set(result.updated) - set(result.added))
    return result


def _merge(store: FleetStore, result: AddResult, rows: list[ManifestRow], images: list[FoundImage],
           sized: list[tuple[int, RVToolsSizing]], manifest: Path | None, rvtools: Path | None,
           paths: list[str]) -> None:
    existing = {m.name.lower(): m for m in store.members()}
    by_image = {d: m for m in existing.values() for d in ([m.image] if m.image else []) + m.disks}
    changed: dict[str, FleetMember] = {}
    deletes: list[str] = []

    def put(m: FleetMember, *, new: bool) -> None:
        changed[m.name.lower()] = m
        (result.added if new else result.updated).append(m.name)

    def current(name: str) -> FleetMember | None:
        return changed.get(name.lower()) or existing.get(name.lower())

    for r in rows:
        m = current(r.name)
        for disk in r.images:  # found by scanning before, as a VM of its own: the manifest says whose it is
            if disk in by_image and by_image[disk].name.lower() != r.name.lower():
                old = by_image.pop(disk)
                if old.name.lower() in changed or old.name.lower() in existing:
                    deletes.append(old.name)
                    existing.pop(old.name.lower(), None)
                    changed.pop(old.name.lower(), None)
                if disk == r.image and m is None:
                    m = old.model_copy(update={"name": r.name})
        if m is None:
            m = FleetMember(name=r.name, state="pending" if r.image else "no-image")
            new = True
        else:
            new = False
        refs = m.sources
        for rowno in r.rows:
            refs = _with(refs, SourceRef(kind="manifest", path=str(manifest), row=rowno))
        update: dict[str, object] = {"owner": r.owner or m.owner, "environment": r.environment or m.environment,
                                     "wave_hint": r.wave or m.wave_hint, "sources": refs}
        if r.image and (r.image != m.image or r.images[1:] != m.disks):
            update.update(image=r.image, disks=r.images[1:], fingerprint=None, state="pending", error=None)
        m = m.model_copy(update=update)
        for disk in r.images:
            by_image[disk] = m
        put(m, new=new)

    for img in images:
        ref = SourceRef(kind="image", path=img.path)
        if img.path in by_image:
            m = by_image[img.path]
            if ref not in m.sources:
                put(m.model_copy(update={"sources": _with(m.sources, ref)}), new=False)
            continue
        stem = image_stem(img.path)
        m = current(stem)
        if m is not None and m.image is None:  # a row from RVTools or the manifest waiting for its disk
            m = m.model_copy(update={"image": img.path, "state": "pending", "sources": _with(m.sources, ref)})
            put(m, new=False)
        else:
            name = _unique(stem, img, lambda n: current(n) is not None)
            m = FleetMember(name=name, image=img.path, sources=[ref])
            put(m, new=True)
        by_image[img.path] = m

    for rowno, sizing in sized:
        ref = SourceRef(kind="rvtools", path=str(rvtools), row=rowno)
        m = current(sizing.vm)
        if m is None:
            put(FleetMember(name=sizing.vm, state="no-image", sizing=sizing, sources=[ref]), new=True)
        else:
            put(m.model_copy(update={"sizing": _merge_sizing(m.sizing, sizing), "sources": _with(m.sources, ref)}),
                new=False)

    for kind, src in (("manifest", manifest), ("rvtools", rvtools)):
        if src is not None:
            store.add_source(kind, str(Path(src).resolve()))
    for p in paths:
        store.add_source("image", p if _GLOB_CHARS & set(p) else str(Path(p).resolve()))
    store.replace_members(list(changed.values()), deletes=deletes)


def _with(refs: list[SourceRef], ref: SourceRef) -> list[SourceRef]:
    return refs if ref in refs else [*refs, ref]


def _merge_sizing(old: RVToolsSizing | None, new: RVToolsSizing) -> RVToolsSizing:
    """A later export updates what it reports; a cell it leaves empty (a powered-off VM has no IP
    address in RVTools) keeps what an earlier export said."""
    return new if old is None else old.model_copy(
        update={k: v for k, v in new.model_dump().items() if v is not None and v != []})


def _unique(stem: str, img: FoundImage, taken: object) -> str:
    """The stem, or the stem with the format, then the parent folder, then a counter."""
    assert callable(taken)
    for candidate in (stem, f"{stem}-{img.format}", f"{_no_controls(Path(img.path).parent.name)}-{stem}"):
        if candidate and not taken(candidate):
            return candidate
    n = 2
    while taken(f"{stem}-{n}"):
        n += 1
    return f"{stem}-{n}"
