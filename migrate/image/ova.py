"""OVA exports: a tar of an OVF descriptor, the disks and a manifest.

The manifest digests are checked while the disks are copied out (one pass over the bytes); the
OVF gives the VM's name, vCPUs, memory and the order of its disks.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import ElementTree

from migrate.errors import CorruptImage, ManifestMismatch, MissingExtent
from migrate.model.base import Evidence
from migrate.model.inventory import DiskSizing, VMSizing

OVF_NS = "http://schemas.dmtf.org/ovf/envelope/1"
RASD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
_UNIT_RE = re.compile(r"byte\s*\*\s*2\s*\^\s*(\d+)", re.I)
_MF_RE = re.compile(r"^(SHA1|SHA256|SHA512)\((.+)\)\s*=\s*([0-9a-fA-F]+)\s*$")


@dataclass
class OvaContents:
    ova: Path
    descriptor: str
    disks: list[Path]  # extracted disk files, in the VM's disk order
    sizing: VMSizing
    verified: list[str] = field(default_factory=list)  # members whose digest matched the manifest


def is_ova(path: Path) -> bool:
    if not tarfile.is_tarfile(path):
        return False
    try:
        with tarfile.open(path) as tar:
            return any(m.name.lower().endswith(".ovf") for m in tar.getmembers())
    except tarfile.TarError:
        return False


def _units(text: str | None) -> int:
    if not text:
        return 1
    m = _UNIT_RE.search(text)
    return 2 ** int(m.group(1)) if m else 1


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
        cap = d.get(f"{o}capacity")
        capacity = int(cap) * _units(d.get(f"{o}capacityAllocationUnits")) if cap and cap.isdigit() else None
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
        if rtype == "3" and qty.isdigit():
            vcpus = int(qty)
        elif rtype == "4" and qty.isdigit():
            memory_mib = int(qty) * _units(item.findtext(f"{r}AllocationUnits") or "byte * 2^20") // 2**20
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


def open_ova(path: Path, workdir: Path) -> OvaContents:
    """Check and unpack an OVA's disks into ``workdir``."""
    try:
        tar = tarfile.open(path)  # noqa: SIM115 - closed by the `with tar` below
        members = {m.name: m for m in tar.getmembers()}
    except (tarfile.TarError, EOFError) as exc:
        raise CorruptImage(f"not a readable OVA (tar): {exc}", path=str(path)) from exc
    with tar:
        ovf_names = [n for n in members if n.lower().endswith(".ovf")]
        if not ovf_names:
            raise CorruptImage("OVA has no .ovf descriptor", path=str(path))
        ovf_member = members[ovf_names[0]]
        descriptor = tar.extractfile(ovf_member).read(4 * 1024 * 1024)  # type: ignore[union-attr]
        sizing, disk_names = parse_ovf(descriptor, source=f"{path}!{ovf_member.name}")
        manifest: dict[str, tuple[str, str]] = {}
        mf_names = [n for n in members if n.lower().endswith(".mf")]
        if mf_names:
            manifest = _manifest(tar.extractfile(members[mf_names[0]]).read(1 << 20).decode(errors="replace"))  # type: ignore[union-attr]
            _check_digest(descriptor, ovf_member.name, manifest, path)
        verified = [ovf_member.name] if ovf_member.name in manifest else []
        disks: list[Path] = []
        for name in disk_names:
            member = members.get(name)
            if member is None or not member.isfile():
                raise MissingExtent(f"OVA names disk {name!r} but does not contain it", path=str(path))
            target = workdir / posixpath.basename(name)
            digest = hashlib.new(manifest[name][0]) if name in manifest else None
            src = tar.extractfile(member)
            assert src is not None
            with open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
                    if digest:
                        digest.update(chunk)
            if target.stat().st_size != member.size:
                raise CorruptImage(f"OVA member {name} is truncated", path=str(path))
            if digest:
                if digest.hexdigest() != manifest[name][1]:
                    raise ManifestMismatch(f"{name}: {manifest[name][0].upper()} digest does not match the manifest",
                                           path=str(path))
                verified.append(name)
            disks.append(target)
    return OvaContents(ova=path, descriptor=ovf_member.name, disks=disks, sizing=sizing, verified=verified)


def _check_digest(data: bytes, name: str, manifest: dict[str, tuple[str, str]], path: Path) -> None:
    if name in manifest:
        algo, expected = manifest[name]
        if hashlib.new(algo, data).hexdigest() != expected:
            raise ManifestMismatch(f"{name}: {algo.upper()} digest does not match the manifest", path=str(path))
