"""OVA exports: a tar of an OVF descriptor, the disks and a manifest.

The manifest digests are checked while the disks are copied out (one pass over the bytes); the
OVF gives the VM's name, vCPUs, memory and the order of its disks. An OVA is untrusted input
(docs/security.md): sizes are checked against the OVF and the free space before anything is
written, and each disk is unpacked into its own folder under a name we choose.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import posixpath
import re
import shutil
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from defusedxml import ElementTree

from migrate.errors import (
    CorruptImage,
    ManifestIncomplete,
    ManifestMismatch,
    MissingExtent,
    ResourceBudgetExceeded,
)
from migrate.model.base import Evidence
from migrate.model.inventory import DiskSizing, VMSizing
from migrate.numbers import small_int

OVF_NS = "http://schemas.dmtf.org/ovf/envelope/1"
RASD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
_UNIT_RE = re.compile(r"byte\s*\*\s*2\s*\^\s*(\d+)", re.I)
MAX_MEMBERS = 4096
MAX_OVF_NUMBER = (1 << 63) - 1  # a size in bytes, a count: anything past it is no disk or VM of ours
MAX_EXTENDED_HEADER = 1 << 20  # a pax header or GNU long name: an OVA's names are short
CONTAINER_SLACK = 64 << 20
FREE_MARGIN = 64 << 20  # left free on the unpack filesystem
_MF_RE = re.compile(r"^(SHA1|SHA256|SHA512)\((.+)\)\s*=\s*([0-9a-fA-F]+)\s*$")


@dataclass
class OvaContents:
    ova: Path
    descriptor: str
    disks: list[Path]  # extracted disk files, in the VM's disk order
    sizing: VMSizing
    verified: list[str] = field(default_factory=list)  # members whose digest matched the manifest


class _BoundedTarInfo(tarfile.TarInfo):
    """A tar header whose extended header (pax, GNU long name/link) is refused above
    MAX_EXTENDED_HEADER: tarfile reads such a header whole into memory, so a 4 KB sparse file
    declaring a 16 GiB pax header made merely probing it for an OVA allocate 16 GiB."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        if self.type in _EXTENDED_TYPES and self.size > MAX_EXTENDED_HEADER:
            raise ResourceBudgetExceeded(f"tar extended header of {self.size} bytes (at most "
                                         f"{MAX_EXTENDED_HEADER})", path=str(getattr(tarfile_, "name", "") or ""))
        return super()._proc_member(tarfile_)  # type: ignore[misc]


_EXTENDED_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                   tarfile.GNUTYPE_LONGLINK)


def _open_tar(path: Path) -> tarfile.TarFile:
    return tarfile.open(path, mode="r:", tarinfo=_BoundedTarInfo)


# what tarfile raises for a header it cannot read: its own errors, and ValueError/OverflowError from
# the numbers in a header (a pax record length of 5000 digits, a member size past any seek)
_UNREADABLE_TAR = (tarfile.TarError, EOFError, ValueError, OverflowError)


def _members(tar: tarfile.TarFile, source: Path) -> dict[str, tarfile.TarInfo]:
    """The tar's members by name, at most MAX_MEMBERS of them (each header costs memory)."""
    out: dict[str, tarfile.TarInfo] = {}
    for count, member in enumerate(tar, 1):
        if count > MAX_MEMBERS:
            raise ResourceBudgetExceeded(f"OVA has more than {MAX_MEMBERS} members", path=str(source))
        out[member.name] = member
    return out


def is_ova(path: Path) -> bool:
    """An uncompressed tar holding an .ovf (the OVF spec's OVA; a compressed tar is not one).

    A file that is no readable tar is not an OVA. A tar whose headers go beyond the budgets (an
    extended header over 1 MiB, more than MAX_MEMBERS members) raises ResourceBudgetExceeded naming
    ``path``: answering "not an OVA" turned that refusal into "unknown image format" (exit 11)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(2) == b"\x1f\x8b":
                return False
        with _open_tar(path) as tar:
            return any(name.lower().endswith(".ovf") for name in _members(tar, path))
    except ResourceBudgetExceeded as exc:
        exc.path = str(path)
        raise
    except (*_UNREADABLE_TAR, OSError):
        return False


def _units(text: str | None) -> int | None:
    """The multiplier of ``byte * 2^N``; None for an exponent past 2^70 (``2^99999999999`` was
    computed: a hang and gigabytes)."""
    if not text:
        return 1
    m = _UNIT_RE.search(text)
    if not m:
        return 1
    exponent = small_int(m.group(1), lo=0, hi=70)
    return None if exponent is None else 2**exponent


def _ovf_int(text: str | None, units: int | None = 1) -> int | None:
    """A count or size from the OVF, times ``units``: None unless it is ASCII digits up to 2^63
    (``isdigit`` admits ``²`` and int() refuses it, as it refuses 5000 digits)."""
    value = small_int(text, lo=0, hi=MAX_OVF_NUMBER)
    if value is None or units is None or value * units > MAX_OVF_NUMBER:
        return None
    return value * units


def parse_ovf(xml: bytes, *, source: str) -> tuple[VMSizing, list[str]]:
    """(sizing, disk file names in disk order) from an OVF descriptor."""
    try:
        root = ElementTree.fromstring(xml)
    except Exception as exc:  # defusedxml raises several classes for hostile or broken XML
        raise CorruptImage(f"OVF descriptor is not valid XML: {exc}", path=source) from exc
    o, r = f"{{{OVF_NS}}}", f"{{{RASD_NS}}}"
    files = {f.get(f"{o}id"): f.get(f"{o}href") for f in root.iter(f"{o}File")}
    disks: dict[str, tuple[str | None, int | None]] = {}
    for d in root.iter(f"{o}Disk"):
        capacity = _ovf_int(d.get(f"{o}capacity"), _units(d.get(f"{o}capacityAllocationUnits")))
        disks[d.get(f"{o}diskId") or ""] = (files.get(d.get(f"{o}fileRef")), capacity)
    system = next(root.iter(f"{o}VirtualSystem"), None)
    name = None
    if system is not None:
        name_el = system.find(f"{o}Name")
        name = (name_el.text if name_el is not None else None) or system.get(f"{o}id")
    vcpus = memory_mib = None
    ordered: list[str] = []
    for item in root.iter(f"{o}Item"):
        rtype = (item.findtext(f"{r}ResourceType") or "").strip()
        qty = (item.findtext(f"{r}VirtualQuantity") or "").strip()
        if rtype == "3" and (count := _ovf_int(qty)) is not None:
            vcpus = count
        elif rtype == "4" and (size := _ovf_int(qty, _units(item.findtext(f"{r}AllocationUnits")
                                                            or "byte * 2^20"))) is not None:
            memory_mib = size // 2**20
        elif rtype == "17":
            host = (item.findtext(f"{r}HostResource") or "").strip()
            disk_id = host.rsplit("/", 1)[-1]
            if disk_id in disks and disk_id not in ordered:
                ordered.append(disk_id)
    ordered += [d for d in disks if d not in ordered]
    names = [disks[d][0] for d in ordered if disks[d][0]]
    sizing = VMSizing(
        name=name, vcpus=vcpus, memory_mib=memory_mib, source=f"ovf:{posixpath.basename(source)}",
        disks=[DiskSizing(name=disks[d][0] or d, capacity_bytes=disks[d][1], format="vmdk") for d in ordered],
        evidence=Evidence(analyzer="ova", path=source),
    )
    return sizing, names  # type: ignore[return-value]


def _manifest(text: str) -> dict[str, tuple[str, str]]:
    out = {}
    for line in text.splitlines():
        m = _MF_RE.match(line.strip())
        if m:
            out[m.group(2).strip()] = (m.group(1).lower(), m.group(3).lower())
    return out


def _file_attrs(xml: bytes) -> dict[str, tuple[str | None, int | None]]:
    """{href: (ovf:compression, ovf:size)} of the OVF's File references."""
    o = f"{{{OVF_NS}}}"
    out: dict[str, tuple[str | None, int | None]] = {}
    for f in ElementTree.fromstring(xml).iter(f"{o}File"):
        size = f.get(f"{o}size")
        out[f.get(f"{o}href") or ""] = (f.get(f"{o}compression"), _ovf_int(size))
    return out


def _safe_name(name: str, index: int) -> str:
    base = posixpath.basename(name.replace("\\", "/"))
    if base in ("", ".", "..") or not base.isprintable() or len(base) > 200:
        return f"disk{index}.img"
    return base


def _limit(capacity: int | None) -> int | None:
    """The most bytes a disk file of ``capacity`` virtual bytes can hold: the data plus the
    metadata of any container format (well under 1/64 of the capacity) plus a constant."""
    return None if capacity is None else capacity + capacity // 64 + CONTAINER_SLACK


def open_ova(path: Path, workdir: Path, *, allow_unlisted_disks: bool = False) -> OvaContents:
    """Check and unpack an OVA's disks into ``workdir`` (disk i in its own folder ``workdir/i``, so
    two disks with one basename never collide and each chain is confined to its own folder).

    Before a byte is written: every disk member is a plain (not GNU-sparse) file, no larger than
    its OVF capacity allows, all of them fit in the free space, and the manifest (when there is
    one) covers each (else ManifestIncomplete, unless ``allow_unlisted_disks``). Zero runs are
    written as holes; a gzip-compressed member is inflated up to its capacity limit only."""
    try:
        tar = _open_tar(path)  # noqa: SIM115 - closed by the `with tar` below
        members = _members(tar, path)
    except _UNREADABLE_TAR as exc:
        raise CorruptImage(f"not a readable OVA (uncompressed tar): {exc}", path=str(path)) from exc
    with tar:
        ovf_names = [n for n in members if n.lower().endswith(".ovf")]
        if not ovf_names:
            raise CorruptImage("OVA has no .ovf descriptor", path=str(path))
        ovf_member = members[ovf_names[0]]
        descriptor = tar.extractfile(ovf_member).read(4 * 1024 * 1024)  # type: ignore[union-attr]
        sizing, disk_names = parse_ovf(descriptor, source=f"{path}!{ovf_member.name}")
        attrs = _file_attrs(descriptor)
        capacity = {d.name: d.capacity_bytes for d in sizing.disks}
        manifest: dict[str, tuple[str, str]] = {}
        mf_names = [n for n in members if n.lower().endswith(".mf")]
        if mf_names:
            manifest = _manifest(tar.extractfile(members[mf_names[0]]).read(1 << 20).decode(errors="replace"))  # type: ignore[union-attr]
            _check_digest(descriptor, ovf_member.name, manifest, path)
        verified = [ovf_member.name] if ovf_member.name in manifest else []
        plan: list[tuple[str, tarfile.TarInfo, int | None, bool]] = []
        total = 0
        for name in disk_names:
            member = members.get(name)
            if member is None or not member.isfile():
                raise MissingExtent(f"OVA names disk {name!r} but does not contain it", path=str(path))
            if member.issparse():
                raise ResourceBudgetExceeded(f"OVA member {name!r} is a GNU sparse file ({member.size} bytes "
                                             "expanded); OVA exporters never write those", path=str(path))
            if manifest and name not in manifest and not allow_unlisted_disks:
                raise ManifestIncomplete(f"the manifest {mf_names[0]!r} does not cover disk {name!r}",
                                         path=str(path))
            gz = (attrs.get(name, (None, None))[0] or "").lower() == "gzip"
            limit = _limit(capacity.get(name))
            if gz and limit is None:  # its tar size bounds what is stored, not what it inflates to
                raise ResourceBudgetExceeded(f"OVA member {name!r} is gzip-compressed and its OVF disk has no valid "
                                             "capacity: what it inflates to has no bound", path=str(path))
            if limit is not None and member.size > limit:
                raise ResourceBudgetExceeded(f"OVA member {name!r} holds {member.size} bytes, more than a disk of "
                                             f"{capacity.get(name)} bytes can", path=str(path))
            total += limit if gz and limit is not None else member.size
            plan.append((name, member, limit, gz))
        free = shutil.disk_usage(workdir).free
        if total + FREE_MARGIN > free:
            raise ResourceBudgetExceeded(f"unpacking the OVA's disks needs {total} bytes, {workdir} has {free} "
                                         "free", path=str(path))
        disks: list[Path] = []
        for index, (name, member, limit, gz) in enumerate(plan):
            folder = workdir / str(index)
            folder.mkdir()
            target = folder / _safe_name(name, index)
            digest = hashlib.new(manifest[name][0]) if name in manifest else None
            src = tar.extractfile(member)
            assert src is not None
            if gz:
                if digest is not None:  # the manifest digests the file as stored (compressed)
                    while chunk := src.read(1 << 20):
                        digest.update(chunk)
                    src = tar.extractfile(member)
                    assert src is not None
                assert limit is not None  # refused above
                written = _copy(gzip.GzipFile(fileobj=src), target, None, limit, name, path)
            else:
                written = _copy(src, target, digest, member.size, name, path)
                if written != member.size:
                    raise CorruptImage(f"OVA member {name!r} is truncated", path=str(path))
            if digest:
                if digest.hexdigest() != manifest[name][1]:
                    raise ManifestMismatch(f"{name!r}: {manifest[name][0].upper()} digest does not match the manifest",
                                           path=str(path))
                verified.append(name)
            disks.append(target)
    return OvaContents(ova=path, descriptor=ovf_member.name, disks=disks, sizing=sizing, verified=verified)


def _copy(src: IO[bytes], target: Path, digest: object, cap: int, name: str, path: Path) -> int:
    """Copy at most ``cap`` bytes (more is a budget error), runs of zeros as holes."""
    written = 0
    try:
        with open(target, "xb") as out:
            while chunk := src.read(1 << 20):
                written += len(chunk)
                if written > cap:
                    raise ResourceBudgetExceeded(f"OVA member {name!r} unpacks to more than {cap} bytes",
                                                 path=str(path))
                if digest is not None:
                    digest.update(chunk)  # type: ignore[attr-defined]
                if chunk.count(0) == len(chunk):
                    out.seek(len(chunk), os.SEEK_CUR)
                else:
                    out.write(chunk)
            out.truncate(written)
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise CorruptImage(f"OVA member {name!r} does not decompress: {exc}", path=str(path)) from None
    return written


def _check_digest(data: bytes, name: str, manifest: dict[str, tuple[str, str]], path: Path) -> None:
    if name in manifest:
        algo, expected = manifest[name]
        if hashlib.new(algo, data).hexdigest() != expected:
            raise ManifestMismatch(f"{name!r}: {algo.upper()} digest does not match the manifest", path=str(path))
