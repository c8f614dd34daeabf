"""Which package owns a guest file, from the guest's own package database file lists.

The package closure (``migrate.closure``) asks "who ships /usr/lib/apache2/modules/libphp8.2.so?"
and only the guest can answer: its dpkg ``info/*.list`` files (plus ``NAME:ARCH.list`` for multiarch
packages, and ``diversions``), or apk's ``installed`` database (``F:`` directory / ``R:`` file
lines). rpm keeps its file lists in header blobs of a sqlite database (``BASENAMES``/``DIRNAMES``/
``DIRINDEXES`` tags); a BerkeleyDB/ndb rpm database cannot be read without librpm and is reported
as "not derivable" rather than guessed.

The image is hostile: the number of list files, each file's size and the total bytes read are
budgeted, and going over a budget stops indexing with a note (the closure then says its answer may
be incomplete) instead of exhausting memory or time.

Paths are indexed in their /usr-merged spelling when the guest is /usr-merged (``/bin`` a link to
``usr/bin``...), because Debian 12 packages still list ``/bin/bash`` or ``/lib/systemd/system/x``
while the service names ``/usr/bin/bash``.
"""

from __future__ import annotations

import posixpath
import sqlite3
import struct
from dataclasses import dataclass, field

from migrate.errors import GuestPathError
from migrate.rootfs import RootFS

DPKG_INFO = "/var/lib/dpkg/info"
DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_DIVERSIONS = "/var/lib/dpkg/diversions"
APK_DB = "/lib/apk/db/installed"
RPM_SQLITE = ("/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite")
RPM_LEGACY = ("/var/lib/rpm/Packages", "/var/lib/rpm/Packages.db", "/usr/lib/sysimage/rpm/Packages.db")

# budgets against a hostile image: a real Debian server has 300-2000 list files totalling a few MiB
MAX_LIST_FILES = 20_000
MAX_LIST_BYTES = 64 * 1024 * 1024  # one list file
MAX_TOTAL_BYTES = 256 * 1024 * 1024  # all lists together
MAX_STATUS_BYTES = 256 * 1024 * 1024
MAX_PATHS = 3_000_000

USR_MERGED = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


@dataclass
class PackageMeta:
    name: str
    version: str = ""
    arch: str | None = None
    essential: bool = False  # Essential: yes, or Priority: required (always in a Debian base image)


@dataclass
class PackageDB:
    """path -> owning packages, for one guest. ``complete`` is False when a budget cut indexing
    short or a database could not be read: an unowned answer is then not proof of "no package"."""

    manager: str  # dpkg | apk | rpm
    source: str  # the guest path of the database, for evidence
    owners_by_path: dict[str, list[str]] = field(default_factory=dict)
    meta: dict[str, PackageMeta] = field(default_factory=dict)
    diverted: dict[str, tuple[str, str]] = field(default_factory=dict)  # diverted-to path -> (original, by)
    diverts: dict[str, str] = field(default_factory=dict)  # original path -> diverting package
    merged: dict[str, str] = field(default_factory=dict)  # /bin -> /usr/bin when the guest is /usr-merged
    complete: bool = True
    notes: list[str] = field(default_factory=list)
    lists_read: int = 0
    bytes_read: int = 0

    def canonical(self, path: str) -> str:
        """``path`` spelled as the /usr-merged guest sees it (lexically: /bin/x -> /usr/bin/x)."""
        for alias, target in self.merged.items():
            if path == alias or path.startswith(alias + "/"):
                return target + path[len(alias):]
        return path

    def add(self, path: str, package: str) -> None:
        key = self.canonical(posixpath.normpath(path))
        owners = self.owners_by_path.setdefault(key, [])
        if package not in owners:
            owners.append(package)

    def owners(self, path: str) -> list[str]:
        """The packages that ship ``path`` (canonical spelling), diversions applied: the file at a
        diverted-to path is the original owner's, the file at a diverted path the diverter's."""
        key = self.canonical(path)
        if key in self.diverted:
            original, by = self.diverted[key]
            return [p for p in self.owners_by_path.get(self.canonical(original), []) if p != by]
        owners = self.owners_by_path.get(key, [])
        by = self.diverts.get(key)
        if by and by in owners:
            return [by]
        return list(owners)


def _merged_aliases(rootfs: RootFS) -> dict[str, str]:
    out = {}
    for alias in USR_MERGED:
        if rootfs.is_symlink(alias):
            try:
                target = rootfs.resolve(alias)
            except GuestPathError:
                continue
            if target == "/usr" + alias:
                out[alias] = target
    return out


def _dpkg_status(rootfs: RootFS, db: PackageDB) -> None:
    from migrate.analyzers.packages_dpkg import paragraphs

    try:
        text = rootfs.read_text(DPKG_STATUS, max_bytes=MAX_STATUS_BYTES)
    except GuestPathError as exc:
        db.notes.append(f"{DPKG_STATUS}: {exc.message}")
        db.complete = False
        return
    for para in paragraphs(text):
        name = para.get("Package")
        if not name or not para.get("Status", "").endswith(" installed"):
            continue
        db.meta[name] = PackageMeta(name=name, version=para.get("Version", ""), arch=para.get("Architecture"),
                                    essential=para.get("Essential") == "yes" or para.get("Priority") == "required")


def _dpkg(rootfs: RootFS) -> PackageDB:
    db = PackageDB(manager="dpkg", source=DPKG_INFO, merged=_merged_aliases(rootfs))
    _dpkg_status(rootfs, db)
    names = [p for p in rootfs.iterdir(DPKG_INFO) if p.endswith(".list")]
    if len(names) > MAX_LIST_FILES:
        db.notes.append(f"{DPKG_INFO}: {len(names)} list files, over the budget of {MAX_LIST_FILES}: "
                        "only the first were read")
        db.complete = False
        names = names[:MAX_LIST_FILES]
    paths = 0
    for listing in names:
        package = posixpath.basename(listing)[: -len(".list")].split(":", 1)[0]
        try:
            f = rootfs.open(listing, follow_final=False)
        except GuestPathError:
            db.notes.append(f"{listing}: not a regular file, skipped")
            db.complete = False
            continue
        if f.stat.size > MAX_LIST_BYTES or db.bytes_read + f.stat.size > MAX_TOTAL_BYTES:
            db.notes.append(f"{listing}: the package file lists exceed the read budget; indexing stopped there")
            db.complete = False
            break
        data = f.pread(0, f.stat.size)
        db.bytes_read += len(data)
        db.lists_read += 1
        for line in data.decode("utf-8", "surrogateescape").splitlines():
            if line.startswith("/") and line != "/.":
                db.add(line, package)
                paths += 1
        if paths > MAX_PATHS:
            db.notes.append(f"more than {MAX_PATHS} paths in the package file lists; indexing stopped")
            db.complete = False
            break
    try:
        lines = rootfs.read_text(DPKG_DIVERSIONS, max_bytes=MAX_LIST_BYTES).splitlines() \
            if rootfs.is_file(DPKG_DIVERSIONS) else []
    except GuestPathError:
        lines = []
    for i in range(0, len(lines) - 2, 3):
        original, to, by = lines[i], lines[i + 1], lines[i + 2]
        if original.startswith("/") and to.startswith("/"):
            db.diverted[db.canonical(to)] = (original, by)
            if by != ":":
                db.diverts[db.canonical(original)] = by
    return db


def _apk(rootfs: RootFS) -> PackageDB:
    db = PackageDB(manager="apk", source=APK_DB, merged=_merged_aliases(rootfs))
    try:
        text = rootfs.read_text(APK_DB, max_bytes=MAX_STATUS_BYTES)
    except GuestPathError as exc:
        db.notes.append(f"{APK_DB}: {exc.message}")
        db.complete = False
        return db
    db.bytes_read = len(text)
    package, directory = None, ""
    for line in text.splitlines():
        if not line.strip():
            package, directory = None, ""
            continue
        key, value = line[:2], line[2:]
        if key == "P:":
            package = value
            db.meta[value] = PackageMeta(name=value)
        elif key == "V:" and package:
            db.meta[package].version = value
        elif key == "A:" and package:
            db.meta[package].arch = value
        elif key == "F:":
            directory = "/" + value.strip("/")
        elif key == "R:" and package:
            db.add(posixpath.join(directory, value), package)
    return db


RPM_TAGS = {1000: "name", 1001: "version", 1002: "release", 1003: "epoch", 1116: "dirindexes",
            1117: "basenames", 1118: "dirnames"}


def rpm_header(blob: bytes, tags: dict[int, str], *, errors: str = "surrogateescape") -> dict[str, object]:
    """The ``tags`` of one rpm header blob as rpm's database stores it (no lead, no magic): STRING and
    I18NSTRING as str, STRING_ARRAY as a list of str, INT32 as a tuple of int. Sizes are checked before
    every slice (the blob comes from the guest); tags with impossible offsets or counts are left out.
    Shared by the rpm package analyzer and the package closure's file lists."""
    if len(blob) < 8:
        raise ValueError("header too short")
    il, dl = struct.unpack(">ii", blob[:8])
    if il < 0 or dl < 0 or 8 + il * 16 + dl > len(blob):
        raise ValueError("header sizes out of range")
    store = blob[8 + il * 16: 8 + il * 16 + dl]
    out: dict[str, object] = {}
    for i in range(il):
        tag, typ, off, count = struct.unpack(">iiii", blob[8 + i * 16: 24 + i * 16])
        key = tags.get(tag)
        if key is None or off < 0 or off >= len(store) or count < 0 or count > len(store):
            continue
        if typ in (6, 9):  # STRING, I18NSTRING
            end = store.find(b"\0", off)
            out[key] = store[off: end if end >= 0 else len(store)].decode("utf-8", errors)
        elif typ == 8:  # STRING_ARRAY
            items, pos = [], off
            for _ in range(count):
                end = store.find(b"\0", pos)
                if end < 0:
                    break
                items.append(store[pos:end].decode("utf-8", errors))
                pos = end + 1
            out[key] = items
        elif typ == 4 and off + 4 * count <= len(store):  # INT32
            out[key] = struct.unpack(f">{count}i", store[off: off + 4 * count])
    return out


def rpm_header_files(blob: bytes) -> dict[str, object]:
    """name/version/release/epoch and the file list (dirnames[dirindexes[i]] + basenames[i]) of one
    rpm header blob as the sqlite database stores it."""
    out = rpm_header(blob, RPM_TAGS)
    for key, value in out.items():
        if isinstance(value, tuple):  # INT32: dirindexes is the array, the others (epoch) one number
            out[key] = list(value) if key == "dirindexes" else value[0] if value else 0
    return out


def _rpm(rootfs: RootFS, path: str) -> PackageDB:
    db = PackageDB(manager="rpm", source=path, merged=_merged_aliases(rootfs))
    try:
        data = rootfs.read_bytes(path, max_bytes=MAX_TOTAL_BYTES * 4)
    except GuestPathError as exc:
        db.notes.append(f"{path}: {exc.message}")
        db.complete = False
        return db
    db.bytes_read = len(data)
    if data[:16] == b"SQLite format 3\0" and data[18:20] == b"\x02\x02":
        # rpm keeps its database in WAL mode, which an in-memory copy cannot open: mark it as a
        # rollback-journal database (bytes 18-19 of the header) so sqlite reads the same pages
        data = data[:18] + b"\x01\x01" + data[20:]
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(data)
        rows = conn.execute("SELECT blob FROM Packages").fetchall()
    except sqlite3.DatabaseError as exc:
        db.notes.append(f"{path}: not a readable rpm sqlite database ({exc})")
        db.complete = False
        return db
    finally:
        conn.close()
    paths = 0
    for (blob,) in rows:
        try:
            h = rpm_header_files(bytes(blob))
        except (ValueError, struct.error):
            db.complete = False
            continue
        name = str(h.get("name") or "")
        if not name or name == "gpg-pubkey":
            continue
        version = f"{h.get('version', '')}-{h.get('release', '')}".rstrip("-")
        if "epoch" in h:
            version = f"{h['epoch']}:{version}"
        db.meta[name] = PackageMeta(name=name, version=version)
        dirs, bases, idx = h.get("dirnames") or [], h.get("basenames") or [], h.get("dirindexes") or []
        for base, i in zip(bases, idx, strict=False):  # type: ignore[call-overload]
            if isinstance(i, int) and 0 <= i < len(dirs):  # type: ignore[arg-type]
                db.add(dirs[i] + base, name)  # type: ignore[index,operator]
                paths += 1
        if paths > MAX_PATHS:
            db.notes.append(f"more than {MAX_PATHS} paths in the rpm database; indexing stopped")
            db.complete = False
            break
    return db


def load_package_db(rootfs: RootFS) -> PackageDB | None:
    """The guest's package file index, or None when the guest has no package database (or only one
    that cannot be read here: then a PackageDB with ``complete=False`` and the reason in ``notes``)."""
    if rootfs.is_dir(DPKG_INFO):
        return _dpkg(rootfs)
    if rootfs.is_file(APK_DB):
        return _apk(rootfs)
    path = next((p for p in RPM_SQLITE if rootfs.is_file(p)), None)
    if path is not None:
        return _rpm(rootfs, path)
    legacy = next((p for p in RPM_LEGACY if rootfs.is_file(p)), None)
    if legacy is not None:
        return PackageDB(manager="rpm", source=legacy, complete=False,
                         notes=[f"{legacy}: a BerkeleyDB/ndb rpm database, whose file lists cannot be read without "
                                "librpm: package ownership is not derivable here"])
    return None
