"""Moving a guest's persistent data into Docker volumes.

``export_data`` reads every persistent path of the inventory out of the guest through RootFS (never
the host filesystem) and writes one tar archive per volume with numeric owners, modes, symlinks as
symlinks, fifos and mtimes, plus a manifest with a sha256 per file. Sockets and device nodes cannot
be carried in a volume meaningfully (RootFS does not expose device numbers, a socket is recreated
by its server) so they are listed in the manifest as skipped, never dropped silently.

``import_data`` creates the stack's named volumes (``<project>_<volume>``, the name Compose and
``docker stack deploy`` give them) before the first start, seeds each from its archive in a
short-lived container of the local base image (``tar --numeric-owner -xp``), and then re-reads the
volume from another container and compares every entry with the manifest. A PostgreSQL data
directory therefore arrives owned by the postgres uid with mode 0700, as the server requires.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from migrate.docker_engine import Engine
from migrate.errors import (  # noqa: F401 - raised here, defined with the others
    DataVerificationFailed,
    GuestPathError,
    InvalidDocument,
    MigrateError,
    NoSpace,
    OutputError,
    UsageError,
    VolumeNotEmpty,
)
from migrate.fsutil import ConfinedDir, check_relpath, free_bytes, require_space
from migrate.image.keys import KeyStore
from migrate.model.data import (
    DataImportReport,
    DataManifest,
    FileEntry,
    Mismatch,
    NotImported,
    SkippedEntry,
    VolumeArchive,
    VolumeImport,
)
from migrate.model.inventory import Inventory, PersistentPath
from migrate.rootfs import MAX_EXTENTS, FileStat, RootFS

Progress = Callable[[str], None]
MANIFEST = "manifest.json"
CHUNK = 1 << 20
KIND_LETTER = {"f": "file", "d": "dir", "l": "symlink", "p": "fifo", "s": "socket", "c": "char", "b": "block"}


def _noop(_m: str) -> None:
    pass


# --------------------------------------------------------------------------------------------------
# naming


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


@dataclass
class VolumeTarget:
    volume: str
    service: str | None
    planned: bool
    naming: str


def volume_names(inv: Inventory) -> dict[str, VolumeTarget]:
    """Guest path -> stack volume. The plan decides (``migrate.plan``: ``<container>-data`` ...);
    paths the plan gives no volume keep the ``<service>-<slug of the path>`` convention."""
    out: dict[str, VolumeTarget] = {}
    try:
        from migrate.plan import make_plan

        plan = make_plan(inv)
        for v in plan.volumes:
            out[v.path] = VolumeTarget(v.name, v.service, True, "plan: " + v.reason)
    except Exception as exc:  # noqa: BLE001 - the convention below still names every volume
        planning_error = f"{type(exc).__name__}: {exc}"
    else:
        planning_error = None
    for pp in inv.persistent_paths:
        if pp.path in out:
            continue
        owner = _slug((pp.service or "stack").split("@")[0])
        name = f"{owner}-{_slug(posixpath.basename(pp.path) or 'root')}"
        why = "no volume in the plan for this path" if planning_error is None else f"planning failed ({planning_error})"
        out[pp.path] = VolumeTarget(name, pp.service, False, f"convention <service>-<slug>: {why}")
    return out


# --------------------------------------------------------------------------------------------------
# export


class _GuestReader:
    """A file-like view of one guest file for tarfile, hashing as it reads, in bounded chunks.

    With ``extents`` (a sparse file) it yields the GNU sparse 1.0 member body instead: the map
    (count, then offset/length pairs, padded to 512 bytes) followed by the data regions only, while
    the hash still covers the whole logical content (holes hashed as zeros)."""

    def __init__(self, rootfs: RootFS, path: str, size: int,
                 extents: list[tuple[int, int]] | None = None) -> None:
        # RootFS.read_bytes reads a file whole; volumes hold database segments of up to 1 GiB: stream
        self._file = rootfs.open(path, follow_final=False)
        self._size = size
        self.hash = hashlib.sha256()
        self._parts: list[tuple[str, int, int]] = []  # ("map", 0, len) | ("data", offset, len)
        self._map = b""
        if extents is None:
            self._parts = [("data", 0, size)]
        else:
            regions = [(o, n) for o, n in extents if n > 0]
            if not regions or regions[-1][0] + regions[-1][1] < size:
                regions.append((size, 0))  # GNU tar's marker for a file that ends in a hole
            text = f"{len(regions)}\n" + "".join(f"{o}\n{n}\n" for o, n in regions)
            raw = text.encode()
            self._map = raw + b"\0" * (-len(raw) % tarfile.BLOCKSIZE)
            self._parts = [("map", 0, len(self._map))] + [("data", o, n) for o, n in regions if n]
        self.stored = sum(n for _, _, n in self._parts)
        self._logical = 0  # bytes of the logical file hashed so far
        self._part = 0
        self._pos = 0  # within the current part

    def _hash_zeros(self, upto: int) -> None:
        while self._logical < upto:
            n = min(CHUNK, upto - self._logical)
            self.hash.update(_ZEROS[:n])
            self._logical += n

    def read(self, n: int = -1) -> bytes:
        """Exactly ``n`` bytes (tarfile insists) unless the member ends first; at most CHUNK."""
        want = self.stored if n is None or n < 0 else n
        want = min(want, CHUNK)
        pieces: list[bytes] = []
        got = 0
        while got < want:
            piece = self._read_part(want - got)
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
        return b"".join(pieces)

    def _read_part(self, n: int) -> bytes:
        while self._part < len(self._parts) and self._pos >= self._parts[self._part][2]:
            self._part, self._pos = self._part + 1, 0
        if self._part >= len(self._parts):
            self._hash_zeros(self._size)
            return b""
        kind, offset, length = self._parts[self._part]
        want = min(n, length - self._pos)
        if kind == "map":
            data = self._map[self._pos:self._pos + want]
        else:
            at = offset + self._pos
            self._hash_zeros(at)
            data = self._file.pread(at, want)
            if len(data) != want:
                raise GuestPathError(f"short read at offset {at}: {len(data)} of {want} bytes", path=self._file.path)
            self.hash.update(data)
            self._logical = at + want
        self._pos += want
        if self._part == len(self._parts) - 1 and self._pos >= length:
            self._hash_zeros(self._size)
        return data


_ZEROS = bytes(CHUNK)
SPARSE_MIN_HOLES = 1 << 20  # a file with less than this in holes is archived as it is
MAX_HOLE_BYTES = 2 << 30  # holes hashed as zeros (and read back as zeros when verifying) per export


def _tarinfo(name: str, st: FileStat) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode = st.mode
    ti.uid, ti.gid = st.uid, st.gid
    ti.uname = ti.gname = ""
    ti.mtime = int(st.mtime or 0)
    return ti


@dataclass
class _FilePlan:
    extents: list[tuple[int, int]] | None  # None: archived densely
    stored: int  # bytes the archive member will hold
    skip: str | None = None  # why it is left out (listed in the manifest)


@dataclass
class _VolumePlan:
    pp: PersistentPath
    target: VolumeTarget
    top: str
    st_top: FileStat
    items: list[tuple[str, FileStat]]
    files: dict[str, _FilePlan]
    excluded: list[str]
    bad_names: list[SkippedEntry]

    @property
    def stored(self) -> int:
        return sum(f.stored for f in self.files.values() if f.skip is None)


SCAN_MIN = 8 << 20  # files at least this big whose reader cannot tell their holes are scanned for zeros


class _ExportBudget:
    """What is left of the export's hole budget, and of the bytes it may read just to find zero
    blocks (no more than the free space: a file that would not fit anyway is not scanned)."""

    def __init__(self, limit: int = MAX_HOLE_BYTES, scan: int = 0) -> None:
        self.left = limit
        self.scan_left = scan


def zero_scan(rootfs: RootFS, path: str, size: int) -> list[tuple[int, int]] | None:
    """The data extents of a file whose reader cannot tell them (XFS, libguestfs), found by reading
    it in CHUNK blocks: an all-zero block is a hole. None when the map would be too fragmented."""
    f = rootfs.open(path, follow_final=False)
    out: list[tuple[int, int]] = []
    pos = 0
    while pos < size:
        n = min(CHUNK, size - pos)
        block = f.pread(pos, n)
        if len(block) != n:
            raise GuestPathError(f"short read at offset {pos}: {len(block)} of {n} bytes", path=path)
        if block != _ZEROS[:n]:
            if out and out[-1][0] + out[-1][1] == pos:
                out[-1] = (out[-1][0], out[-1][1] + n)
            else:
                out.append((pos, n))
                if len(out) > MAX_EXTENTS:
                    return None
        pos += n
    return out


def plan_volume(rootfs: RootFS, pp: PersistentPath, target: VolumeTarget, exclude: list[str],
                holes: _ExportBudget) -> _VolumePlan:
    """What one volume's archive will hold, decided before a byte is written: the entries, which
    files are sparse (and where their data is), and which are left out and why."""
    from migrate.planning.files import SYSTEM_DIRS

    top = rootfs.resolve(pp.path)
    if top in SYSTEM_DIRS:  # e.g. a web root spelled /var/www/../../etc: never archive the guest's /etc
        raise GuestPathError(f"resolves to {top}, a system directory: not exported whole", path=pp.path)
    st_top = rootfs.stat(pp.path)
    if st_top is None or st_top.kind != "dir":
        raise GuestPathError("persistent path is not a directory in the guest", path=pp.path)
    check_relpath(f"{target.volume}.tar")
    excluded = sorted(e for e in exclude if e != pp.path and e.startswith(pp.path.rstrip("/") + "/"))
    items: list[tuple[str, FileStat]] = [(top, st_top)]
    for path, st in rootfs.walk(top):
        if any(path == e or path.startswith(e + "/") for e in excluded):
            continue
        items.append((path, st))
    items.sort(key=lambda x: x[0])
    # names RootFS skipped while listing this tree (now or earlier, e.g. during inspection)
    inside = top.rstrip("/") + "/"
    bad = [SkippedEntry(path=pp.path.rstrip("/") + b.path[len(top.rstrip("/")):], kind="other",
                        reason=f"name {b.reason}: not archived, copy it by hand")
           for b in rootfs.bad_names
           if (b.directory == top or b.directory.startswith(inside))
           and not any(b.directory == e or b.directory.startswith(e + "/") for e in excluded)]
    files: dict[str, _FilePlan] = {}
    for path, st in items:
        if st.kind != "file":
            continue
        try:
            extents = rootfs.open(path, follow_final=False).data_extents()
            if extents is None and SCAN_MIN <= st.size <= holes.scan_left:
                holes.scan_left -= st.size
                extents = zero_scan(rootfs, path, st.size)
        except GuestPathError:
            extents = None
        data = sum(n for _, n in extents) if extents is not None else st.size
        hole_bytes = st.size - data
        if extents is None or hole_bytes < SPARSE_MIN_HOLES:
            files[path] = _FilePlan(None, st.size)
        elif hole_bytes > holes.left:
            files[path] = _FilePlan(None, 0, skip=(
                f"sparse file of {st.size} bytes holding {data} bytes of data: its holes are over the export's "
                f"budget of {MAX_HOLE_BYTES} bytes (hashing and verifying them reads them as zeros); recreate it "
                "in the volume (truncate -s, then copy the data) or copy it by hand"))
        else:
            holes.left -= hole_bytes
            files[path] = _FilePlan(extents, data + tarfile.BLOCKSIZE * (1 + (len(extents) * 40) // tarfile.BLOCKSIZE))
    return _VolumePlan(pp, target, top, st_top, items, files, excluded, bad)


def export_volume(rootfs: RootFS, plan: _VolumePlan, out: ConfinedDir,
                  progress: Progress = _noop) -> VolumeArchive:
    pp, target, top = plan.pp, plan.target, plan.top
    archive_name = f"{target.volume}.tar"
    entries: list[FileEntry] = []
    skipped: list[SkippedEntry] = list(plan.bad_names)
    total = 0
    with out.open_write(archive_name, 0o600) as fh, \
            tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, st in plan.items:
            rel = "." if path == top else "./" + posixpath.relpath(path, top)
            entry_rel = "." if rel == "." else rel[2:]
            guest = pp.path if path == top else posixpath.join(pp.path, entry_rel)
            ti = _tarinfo(rel, st)
            if st.kind == "dir":
                ti.type = tarfile.DIRTYPE
                tar.addfile(ti)
                entries.append(FileEntry(path=entry_rel, kind="dir", mode=st.mode, uid=st.uid, gid=st.gid,
                                         mtime=ti.mtime))
            elif st.kind == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = rootfs.readlink(path)
                tar.addfile(ti)
                entries.append(FileEntry(path=entry_rel, kind="symlink", mode=st.mode, uid=st.uid, gid=st.gid,
                                         mtime=ti.mtime, target=ti.linkname))
            elif st.kind == "fifo":
                ti.type = tarfile.FIFOTYPE
                tar.addfile(ti)
                entries.append(FileEntry(path=entry_rel, kind="fifo", mode=st.mode, uid=st.uid, gid=st.gid,
                                         mtime=ti.mtime))
            elif st.kind == "file":
                fp = plan.files[path]
                if fp.skip is not None:
                    skipped.append(SkippedEntry(path=guest, kind="file", reason=fp.skip))
                    continue
                ti.type = tarfile.REGTYPE
                try:
                    reader = _GuestReader(rootfs, path, st.size, fp.extents)
                    if fp.extents is not None:
                        # GNU sparse 1.0 in PAX: GNU tar (the seeding container) recreates the holes
                        head, base = posixpath.split(rel)
                        ti.name = posixpath.join(head, "GNUSparseFile.0", base)
                        ti.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                                          "GNU.sparse.name": rel, "GNU.sparse.realsize": str(st.size)}
                    ti.size = reader.stored
                    tar.addfile(ti, reader)  # type: ignore[arg-type]
                except (GuestPathError, OSError) as exc:
                    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                        raise NoSpace("no space left while writing the archive",
                                      path=str(out.root / archive_name)) from exc
                    raise GuestPathError(f"cannot read for the {target.volume} archive: {exc}", path=guest) from exc
                total += st.size
                entries.append(FileEntry(path=entry_rel, kind="file", mode=st.mode, uid=st.uid, gid=st.gid,
                                         size=st.size, mtime=ti.mtime, sha256=reader.hash.hexdigest()))
            else:
                why = {"socket": "a socket is created by the server that listens on it; nothing to copy",
                       "char": "device node: a volume must not carry devices (and RootFS has no device numbers)",
                       "block": "device node: a volume must not carry devices (and RootFS has no device numbers)",
                       }.get(st.kind, "not a file type a volume can hold")
                skipped.append(SkippedEntry(path=guest, kind=st.kind, reason=why))
    progress(f"{target.volume}: {sum(e.kind == 'file' for e in entries)} files, {total} bytes from {pp.path}")
    digest = hashlib.sha256()
    archive_path = out.root / archive_name
    with open(archive_path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return VolumeArchive(
        volume=target.volume, service=target.service, guest_service=pp.service, guest_path=pp.path, kind=pp.kind,
        planned=target.planned, naming=target.naming, archive=archive_name, archive_sha256=digest.hexdigest(),
        archive_bytes=archive_path.stat().st_size, files=sum(e.kind == "file" for e in entries),
        bytes=total, entries=entries, skipped=skipped, excluded=plan.excluded,
    )


def _replace_dir(tmp: Path, final: Path) -> None:
    """Move a finished ``tmp`` into place as ``final``; an older ``final`` is removed only after."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.rename(final, old)
    os.rename(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_from_rootfs(rootfs: RootFS, inv: Inventory, out: Path, *, images: list[str] | None = None,
                       progress: Progress = _noop) -> DataManifest:
    """The export proper, on an open guest: writes ``out`` whole or not at all.

    Every archive is planned first (entries, sparse files, what is left out), the free space beside
    ``out`` is checked against what the archives will hold (NoSpace, exit 36, before a byte is
    written), and the archives are written through ConfinedDir (no link followed, O_EXCL)."""
    if not inv.persistent_paths:
        progress("the inventory lists no persistent paths: the manifest is empty")
    names = volume_names(inv)
    seen: dict[str, str] = {}
    for path, t in names.items():
        if t.volume in seen and seen[t.volume] != path:
            raise UsageError(f"two persistent paths map to volume {t.volume!r}: {seen[t.volume]} and {path}")
        seen[t.volume] = path
    out = Path(out)
    all_paths = [pp.path for pp in inv.persistent_paths]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        free = free_bytes(out.parent)
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror}", path=str(out)) from exc
    holes = _ExportBudget(scan=free)
    plans: list[_VolumePlan] = []
    not_exported: list[SkippedEntry] = []
    for pp in sorted(inv.persistent_paths, key=lambda p: p.path):
        try:
            plans.append(plan_volume(rootfs, pp, names[pp.path], all_paths, holes))
        except GuestPathError as exc:  # one path that is no directory in the guest; the others export
            lst = rootfs.lstat(pp.path)
            not_exported.append(SkippedEntry(path=pp.path, kind=lst.kind if lst else "missing",
                                             reason=f"{exc.message}: nothing to archive for {names[pp.path].volume}"))
            progress(f"not exported: {pp.path} ({exc.message})")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        require_space(out.parent, sum(p.stored for p in plans) + 1024 * sum(len(p.items) for p in plans),
                      what="the data export")
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror}", path=str(out)) from exc
    try:
        with ConfinedDir(tmp) as confined:
            volumes = []
            for plan in plans:
                progress(f"exporting {plan.pp.path}")
                volumes.append(export_volume(rootfs, plan, confined, progress))
            manifest = DataManifest(source_vm=inv.name, images=images or [i.path for i in inv.images],
                                    volumes=volumes, not_exported=not_exported)
            confined.write_bytes(MANIFEST, manifest.to_json().encode(), 0o600)
        os.chmod(tmp, 0o700)  # the archives hold database files: keep them to their owner
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def export_data(images: list[Path], out: Path, *, inventory: Inventory | None = None, backend: str = "auto",
                progress: Progress = _noop, keys: KeyStore | None = None) -> DataManifest:
    """``migrate data export``: inspect (unless an inventory is given), open the guest, export.
    ``keys`` open encrypted (LUKS) volumes; they are never written to the manifest or the archives."""
    from migrate.inspect import inventory_of, open_vm

    with open_vm(images, backend, keys=keys) as vm:
        if inventory is None:
            progress("inspecting the image to find its persistent paths")
            inventory = inventory_of(vm)
        return export_from_rootfs(vm.guest.rootfs, inventory, out, images=[str(p) for p in images],
                                  progress=progress)


# --------------------------------------------------------------------------------------------------
# import


VERIFY_SCRIPT = r"""
set -e
cd /data
find . -printf '%y\t%m\t%U\t%G\t%s\t%T@\t%l\t%p\0'
printf '\0--sha256--\0'
find . -type f -print0 | xargs -0 -r sha256sum -z
"""


def _load_manifest(export_dir: Path) -> DataManifest:
    """The export's manifest; every archive it names must be a plain file name in the export folder
    (a manifest from elsewhere must not make the import read ``../../etc/shadow`` into a volume)."""
    manifest = DataManifest.load(export_dir / MANIFEST)
    for v in manifest.volumes:
        if v.archive in ("", ".", "..") or "/" in v.archive or "\0" in v.archive \
                or not v.archive.endswith(".tar") or not (export_dir / v.archive).is_file() \
                or (export_dir / v.archive).is_symlink():
            raise InvalidDocument(f"volume {v.volume}: archive {v.archive!r} is not a plain .tar file of the export "
                                  "folder", path=str(export_dir / MANIFEST))
    return manifest


def read_volume(engine: Engine, image: str, docker_volume: str) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Every entry of a volume as seen from inside a container: (path -> attributes, path -> sha256)."""
    res = engine.run(image, ["sh", "-c", VERIFY_SCRIPT], mounts={docker_volume: "/data"},
                     read_only_mounts=[docker_volume], labels={"com.migrate.role": "data-verify"})
    if res.exit_code != 0:
        raise DataVerificationFailed(f"cannot read volume {docker_volume}: "
                                     f"{res.stderr.decode(errors='replace')[-2000:]}")
    listing, _, sums = res.stdout.partition(b"\0--sha256--\0")
    attrs: dict[str, dict[str, str]] = {}
    for rec in listing.split(b"\0"):
        if not rec:
            continue
        f = rec.decode("utf-8", "surrogateescape").split("\t", 7)
        path = f[7]
        rel = "." if path == "." else path[2:]
        attrs[rel] = {"kind": KIND_LETTER.get(f[0], f[0]), "mode": f[1], "uid": f[2], "gid": f[3], "size": f[4],
                      "mtime": f[5], "target": f[6]}
    hashes: dict[str, str] = {}
    for rec in sums.split(b"\0"):
        if not rec:
            continue
        digest, _, path = rec.decode("utf-8", "surrogateescape").partition("  ")
        hashes[path[2:] if path.startswith("./") else path] = digest
    return attrs, hashes


def compare_volume(archive: VolumeArchive, attrs: dict[str, dict[str, str]], hashes: dict[str, str]) -> list[Mismatch]:
    out: list[Mismatch] = []
    expected = {e.path: e for e in archive.entries}
    for path, e in expected.items():
        a = attrs.get(path)
        if a is None:
            out.append(Mismatch(path=path, field="missing", expected=e.kind))
            continue
        checks = [("kind", e.kind, a["kind"]), ("mode", f"{e.mode:o}", a["mode"]),
                  ("uid", str(e.uid), a["uid"]), ("gid", str(e.gid), a["gid"])]
        if e.kind != "symlink":
            checks.append(("mtime", str(e.mtime), a["mtime"].split(".")[0]))
        if e.kind == "file":
            checks += [("size", str(e.size), a["size"]), ("sha256", e.sha256 or "", hashes.get(path, ""))]
        if e.kind == "symlink":
            checks.append(("target", e.target or "", a["target"]))
        for field, exp, act in checks:
            if exp != act:
                out.append(Mismatch(path=path, field=field, expected=exp, actual=act))
    for path in sorted(set(attrs) - set(expected)):
        out.append(Mismatch(path=path, field="unexpected", actual=attrs[path]["kind"]))
    return out


def _volume_has_data(engine: Engine, image: str, docker_volume: str) -> bool:
    res = engine.run(image, ["sh", "-c", "find /data -mindepth 1 -maxdepth 1 | head -n 1"],
                     mounts={docker_volume: "/data"}, read_only_mounts=[docker_volume])
    return bool(res.stdout.strip())


def volume_labels(project: str, volume: str, mode: str, extra: dict[str, str]) -> dict[str, str]:
    """The labels Compose / ``docker stack deploy`` put on the volumes they create themselves, so
    that they adopt ours instead of warning that it was "not created by Docker Compose"."""
    labels = dict(extra)
    if mode == "swarm":
        labels["com.docker.stack.namespace"] = project
    else:
        labels["com.docker.compose.project"] = project
        labels["com.docker.compose.volume"] = volume
    labels["com.migrate.seeded-from"] = "migrate data import"
    return labels


def import_data(export_dir: Path, project: str, *, mode: str = "compose", stack_dir: Path | None = None,
                base_image: str = "debian:bookworm-slim", force: bool = False, engine: Engine | None = None,
                progress: Progress = _noop) -> DataImportReport:
    """Create and seed the stack's volumes from an export, then verify every entry."""
    from migrate.deploy import load_stack

    export_dir = Path(export_dir)
    manifest = _load_manifest(export_dir)
    report = DataImportReport(project=project, mode=mode, base_image=base_image)  # type: ignore[arg-type]
    if not manifest.volumes:
        progress("the export holds no volumes (the VM had no persistent data): nothing to seed")
        return report.canonical()
    engine = engine or Engine()
    if engine.image(base_image) is None:
        raise UsageError(f"base image {base_image} is not on this engine: run `migrate base-image {base_image}` "
                         "(or docker pull it)")
    stack = load_stack(stack_dir) if stack_dir is not None else None
    for archive in manifest.volumes:
        name = archive.volume
        extra_labels: dict[str, str] = {}
        if stack is not None:
            mapped = stack.volume_for_path(archive.guest_path)
            if mapped is None:
                report.not_imported.append(NotImported(
                    volume=archive.volume, guest_path=archive.guest_path,
                    reason="no service of the stack mounts a volume at this path"))
                continue
            name = mapped
            extra_labels = stack.volume_labels(name)
        docker_volume = f"{project}_{name}"
        t0 = time.monotonic()
        created = engine.volume(docker_volume) is None
        replaced = False
        if created:
            engine.create_volume(docker_volume, volume_labels(project, name, mode, extra_labels))
        elif _volume_has_data(engine, base_image, docker_volume):
            if not force:
                raise VolumeNotEmpty(f"volume {docker_volume} already holds data; seeding happens before the first "
                                     "start (use --force to replace its content)")
            replaced = True
        progress(f"seeding {docker_volume} from {archive.archive} ({archive.archive_bytes} bytes)")
        wipe = "find /data -mindepth 1 -delete && " if replaced else ""
        res = engine.run(
            base_image,
            ["sh", "-c", f"{wipe}tar --numeric-owner --same-owner -xpf /tmp/seed/{archive.archive} -C /data"],
            mounts={docker_volume: "/data"}, put_files={f"seed/{archive.archive}": export_dir / archive.archive},
            put_path="/tmp", labels={"com.migrate.role": "data-seed"},
        )
        if res.exit_code != 0:
            raise DataVerificationFailed(f"seeding {docker_volume} failed (exit {res.exit_code}): "
                                         f"{res.stderr.decode(errors='replace')[-2000:]}")
        progress(f"verifying {docker_volume}")
        attrs, hashes = read_volume(engine, base_image, docker_volume)
        mismatches = compare_volume(archive, attrs, hashes)
        report.volumes.append(VolumeImport(
            volume=name, docker_volume=docker_volume, archive=archive.archive, created=created, replaced=replaced,
            entries_checked=len(archive.entries), files_checked=archive.files, mismatches=mismatches,
            seconds=round(time.monotonic() - t0, 2)))
    return report.canonical()


def verify_volumes(export_dir: Path, project: str, *, stack_dir: Path | None = None,
                   base_image: str = "debian:bookworm-slim", engine: Engine | None = None) -> DataImportReport:
    """Re-read already seeded volumes and compare them with the manifest (no writes)."""
    from migrate.deploy import load_stack

    manifest = _load_manifest(Path(export_dir))
    engine = engine or Engine()
    stack = load_stack(stack_dir) if stack_dir is not None else None
    report = DataImportReport(project=project, mode="compose", base_image=base_image)
    for archive in manifest.volumes:
        name = stack.volume_for_path(archive.guest_path) if stack else archive.volume
        if name is None:
            continue
        docker_volume = f"{project}_{name}"
        if engine.volume(docker_volume) is None:
            report.volumes.append(VolumeImport(volume=name, docker_volume=docker_volume, archive=archive.archive,
                                               created=False, mismatches=[Mismatch(path=".", field="missing",
                                                                                   expected="volume")]))
            continue
        t0 = time.monotonic()
        attrs, hashes = read_volume(engine, base_image, docker_volume)
        report.volumes.append(VolumeImport(
            volume=name, docker_volume=docker_volume, archive=archive.archive, created=False,
            entries_checked=len(archive.entries), files_checked=archive.files,
            mismatches=compare_volume(archive, attrs, hashes), seconds=round(time.monotonic() - t0, 2)))
    return report.canonical()
