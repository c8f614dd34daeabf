"""Software bills of materials (CycloneDX JSON) for a VM and for each image generated from it.

Built with cyclonedx-python-lib (the OWASP reference library) rather than by hand, so the output
follows the schema of the spec version chosen (``SPEC``, the newest the library writes) and can be
checked with its validator. SPDX is not produced: the library writes CycloneDX only, and a second
library and data model for SPDX would be a second code path to keep right.

- VM (``inventory_bom``): the installed packages from the guest's package database, each with its
  package URL (``pkg:deb/debian/nginx@1.22.1-9?arch=amd64&distro=debian-12``, ``pkg:rpm/rocky/...``,
  ``pkg:apk/alpine/...``, ``pkg:alpm/arch/...``) and the guest path it was read from.
- Image (``container_bom``): the base image, the packages the image installs (the plan's pins, with
  the reason each is there) and the files it copies from the guest, each with its SHA-256 when the
  build context is at hand (files as they are in the build context: secrets already replaced by
  placeholders, so a hash never stands for a secret).

Deterministic: the serial number is a UUIDv5 of the document's content, and the timestamp is
``SOURCE_DATE_EPOCH`` when set (else the time of writing), so the same input gives the same file
for golden tests and diffs. Nothing from the guest but names, versions, paths and hashes is written:
no environment, no config contents, no secret values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
import uuid
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

from migrate import __version__
from migrate.errors import InvalidDocument
from migrate.model.inventory import Inventory
from migrate.model.plan import Container, Plan

SPEC = SchemaVersion.V1_7  # the newest spec version cyclonedx-python-lib writes and validates
SERIAL_NAMESPACE = uuid.UUID("6f1d1f3c-2b54-5d0e-9a3c-6d6967726174")  # fixed: serials derive from content
MAX_FILES_PER_IMAGE = 20_000  # files listed one by one; beyond that a tree is summarised (count, no list)
MAX_HASH_BYTES = 2 * 1024**3
PROP = "migrate"


def _distro_qualifier(distro: str, version: str | None) -> str | None:
    return f"{distro}-{version}" if distro and distro != "unknown" and version else None


def package_url(manager: str, name: str, version: str, *, arch: str | None, distro: str,
                distro_version: str | None) -> PackageURL:
    """The package URL of an OS package, per the purl spec's deb, rpm, apk and alpm types."""
    quals: dict[str, str] = {}
    if arch:
        quals["arch"] = arch
    dq = _distro_qualifier(distro, distro_version)
    if manager in ("dpkg", "apt"):
        if dq:
            quals["distro"] = dq
        return PackageURL(type="deb", namespace=distro or "debian", name=name, version=version, qualifiers=quals)
    if manager in ("rpm", "dnf", "zypper"):
        epoch, sep, rest = version.partition(":")
        if sep and epoch.isdigit():
            quals["epoch"], version = epoch, rest
        if dq:
            quals["distro"] = dq
        return PackageURL(type="rpm", namespace=distro, name=name, version=version, qualifiers=quals)
    if manager == "apk":
        if dq:
            quals["distro"] = dq
        return PackageURL(type="apk", namespace=distro or "alpine", name=name, version=version, qualifiers=quals)
    if manager == "pacman":
        if dq:
            quals["distro"] = dq
        return PackageURL(type="alpm", namespace=distro or "arch", name=name, version=version, qualifiers=quals)
    return PackageURL(type="generic", name=name, version=version, qualifiers=quals)


def _timestamp(environ: Mapping[str, str] | None) -> dt.datetime:
    from migrate.oci import created
    return dt.datetime.strptime(created(environ), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def _tools() -> ToolRepository:
    return ToolRepository(components=[Component(type=ComponentType.APPLICATION, name="migrate",
                                                version=__version__)])


def _finish(bom: Bom, root: Component, environ: Mapping[str, str] | None) -> str:
    """Serialise with a content-derived serial number: the JSON without serial and timestamp is hashed,
    then both are set and the document written again."""
    bom.register_dependency(root, list(bom.components))
    bom.metadata.timestamp = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    bom.serial_number = SERIAL_NAMESPACE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library warns about incomplete dependency graphs of leaves
        probe = make_outputter(bom, OutputFormat.JSON, SPEC).output_as_string()
        bom.serial_number = uuid.uuid5(SERIAL_NAMESPACE, hashlib.sha256(probe.encode()).hexdigest())
        bom.metadata.timestamp = _timestamp(environ)
        text = make_outputter(bom, OutputFormat.JSON, SPEC).output_as_string(indent=2)
    return text + "\n"


# --- the VM ---------------------------------------------------------------------------------------

def inventory_bom(inv: Inventory, *, environ: Mapping[str, str] | None = None) -> str:
    """CycloneDX JSON of the packages installed in the VM."""
    inv = inv.canonical()
    os_ = inv.os
    root = Component(type=ComponentType.OPERATING_SYSTEM, name=inv.name, bom_ref=f"vm:{inv.name}",
                     version=os_.version, description=os_.pretty_name or os_.distro,
                     properties=[Property(name=f"{PROP}:distro", value=os_.distro),
                                 Property(name=f"{PROP}:family", value=os_.family)]
                     + [Property(name=f"{PROP}:disk-image", value=Path(i.path).name) for i in inv.images])
    bom = Bom(metadata=BomMetaData(component=root, tools=_tools()))
    seen: set[str] = set()
    for p in inv.packages:
        if p.state not in ("installed", ""):
            continue
        purl = package_url(p.manager, p.name, p.version, arch=p.arch, distro=os_.distro.lower(),
                           distro_version=os_.version)
        ref = purl.to_string()
        if ref in seen:
            continue
        seen.add(ref)
        props = [Property(name=f"{PROP}:evidence", value=p.evidence.path or p.evidence.analyzer),
                 Property(name=f"{PROP}:package-manager", value=p.manager)]
        if p.source:
            props.append(Property(name=f"{PROP}:source-package", value=p.source))
        bom.components.add(Component(type=ComponentType.LIBRARY, name=p.name, version=p.version, purl=purl,
                                     bom_ref=ref, properties=props))
    return _finish(bom, root, environ)


# --- the images -----------------------------------------------------------------------------------

def _walk_context(rootfs: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Files under a build context's rootfs/ (guest paths), never following a link out of it."""
    if not rootfs.is_dir() or rootfs.is_symlink():
        return
    for dirpath, dirnames, filenames in os.walk(rootfs, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            st = os.lstat(path)
            yield "/" + path.relative_to(rootfs).as_posix(), path, st


def _sha256(path: Path, size: int) -> str | None:
    if size > MAX_HASH_BYTES:
        return None
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    h = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _file_components(plan: Plan, c: Container, context: Path | None, prefix: str = "") -> list[Component]:
    sources = sorted(((f.dest.rstrip("/") or "/", f) for f in c.files), key=lambda x: -len(x[0]))

    def origin(path: str) -> str | None:
        for dest, f in sources:
            if path == dest or path.startswith(dest + "/"):
                return f.source + path[len(dest):]
        return None

    out: list[Component] = []
    listed: set[str] = set()
    if context is not None:
        for n, (path, host, st) in enumerate(_walk_context(context / "rootfs")):
            if path == "/.keep":
                continue
            if n >= MAX_FILES_PER_IMAGE:
                break
            props = [Property(name=f"{PROP}:mode", value=f"{stat.S_IMODE(st.st_mode):04o}")]
            src = origin(path)
            if src:
                props.append(Property(name=f"{PROP}:guest-source", value=src))
            hashes = []
            if stat.S_ISLNK(st.st_mode):
                props.append(Property(name=f"{PROP}:symlink-to", value=os.readlink(host)))
            elif stat.S_ISREG(st.st_mode):
                digest = _sha256(host, st.st_size)
                if digest:
                    hashes.append(HashType(alg=HashAlgorithm.SHA_256, content=digest))
            else:
                continue
            listed.add(path)
            out.append(Component(type=ComponentType.FILE, name=path, bom_ref=f"{prefix}file:{path}",
                                 hashes=hashes, properties=props))
    for f in c.files:  # what the plan copies but the context does not hold (no guest given, or too many files)
        if any(p == f.dest or p.startswith(f.dest.rstrip("/") + "/") for p in listed):
            continue
        out.append(Component(type=ComponentType.FILE, name=f.dest, bom_ref=f"{prefix}file:{f.dest}",
                             description=f"{f.kind} copied from the VM (not hashed: not in the build context)",
                             properties=[Property(name=f"{PROP}:guest-source", value=f.source)]))
    return out


# what lists a built image's package database: name, version, arch per line. Only dpkg for now: no rpm
# or apk image can be built on this project's machines (no mirror for them), so a parser for their
# output could not be tested; for those families the SBOM lists the plan's pins (documented)
QUERIES = {
    "apt": ["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${Architecture}\n"],
}
MAX_QUERY_BYTES = 16 * 1024 * 1024


def installed_in_image(engine: object, image: str, manager: str) -> list[tuple[str, str, str | None]]:
    """Every package a *built* image holds (the pins and what the distribution's resolver added), read
    by running its own package manager's query in a throw-away container (no network, entrypoint
    bypassed so no secret is needed). [] for an image without a package database (FROM scratch)."""
    from migrate.errors import DockerError

    argv = QUERIES.get(manager)
    if argv is None:
        return []
    api = engine.api  # type: ignore[attr-defined]
    try:
        cid = api.create_container(image, command=argv[1:], entrypoint=[argv[0]], user="0:0",
                                   network_disabled=True)["Id"]
    except Exception as exc:  # noqa: BLE001
        raise DockerError(f"cannot start a container from {image} to list its packages: {exc}") from exc
    try:
        try:
            api.start(cid)
        except Exception:  # noqa: BLE001 - no such executable: no package database in this image
            return []
        status = api.wait(cid, timeout=300)
        out = api.logs(cid, stdout=True, stderr=False)[:MAX_QUERY_BYTES].decode("utf-8", "replace")
    finally:
        api.remove_container(cid, force=True)
    if int(status.get("StatusCode", 1)) != 0:
        return []
    rows = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0] and parts[1]:
            rows.append((parts[0], parts[1], parts[2] if len(parts) > 2 and parts[2] else None))
    return rows


def _image_parts(plan: Plan, c: Container, context: Path | None, prefix: str = "",
                 installed: list[tuple[str, str, str | None]] | None = None) -> tuple[Component, list[Component]]:
    """The image as a component and what it holds: base image, pinned packages, files from the guest.
    ``prefix`` keeps bom-refs unique when several images share one document. ``installed``: every
    package of the built image (``installed_in_image``), listed with the pins marked."""
    repo, _, tag = c.image.rpartition(":") if ":" in c.image.rsplit("/", 1)[-1] else (c.image, "", "")
    root = Component(type=ComponentType.CONTAINER, name=repo, version=tag or None, bom_ref=f"image:{c.image}",
                     description=c.labels.get("org.opencontainers.image.description"),
                     properties=[Property(name=f"{PROP}:source-vm", value=plan.source_vm),
                                 Property(name=f"{PROP}:source-service", value=c.source_service),
                                 Property(name=f"{PROP}:service", value=c.name)])
    parts: list[Component] = []
    base_name = c.base.image if c.base.runtime != "scratch" else "scratch"
    parts.append(Component(type=ComponentType.CONTAINER, name=base_name, bom_ref=f"{prefix}base:{base_name}",
                           description="base image (ARG BASE_IMAGE; build-time override possible)",
                           properties=[Property(name=f"{PROP}:reason", value=c.base.reason)]))
    distro = plan.os.distro.lower()
    pins = {p.name: p for p in c.packages.items}
    rows = installed if installed is not None else [(p.name, p.version, None) for p in c.packages.items]
    seen: set[str] = set()
    for name, version, arch in rows:
        purl = package_url(c.base.package_manager, name, version, arch=arch, distro=distro,
                           distro_version=plan.os.version)
        ref = prefix + purl.to_string()
        if ref in seen:
            continue
        seen.add(ref)
        pin = pins.get(name)
        if pin is not None:
            props = [Property(name=f"{PROP}:install-spec", value=pin.spec)]
            if pin.reason:
                props.append(Property(name=f"{PROP}:reason", value=pin.reason))
        else:
            props = [Property(name=f"{PROP}:installed-by", value="the base image or the package manager's "
                                                                   "dependency resolution")]
        parts.append(Component(type=ComponentType.LIBRARY, name=name, version=version, purl=purl, bom_ref=ref,
                               properties=props))
    parts += _file_components(plan, c, context, prefix)
    return root, parts


def container_bom(plan: Plan, c: Container, *, context: Path | None = None,
                  environ: Mapping[str, str] | None = None,
                  installed: list[tuple[str, str, str | None]] | None = None) -> str:
    """CycloneDX JSON of one generated image: base image, pinned packages, files from the guest.
    ``context``: the service's build context in the stack directory (files are hashed from it);
    ``installed``: the built image's whole package list (else the plan's pins)."""
    root, parts = _image_parts(plan, c, context, installed=installed)
    bom = Bom(metadata=BomMetaData(component=root, tools=_tools()))
    for comp in parts:
        bom.components.add(comp)
    return _finish(bom, root, environ)


def _context(stack_dir: Path | None, c: Container) -> Path | None:
    if stack_dir is None:
        return None
    ctx = stack_dir / c.name
    return ctx if ctx.is_dir() and not ctx.is_symlink() else None


def stack_bom(plan: Plan, stack_dir: Path | None = None, *, environ: Mapping[str, str] | None = None,
              installed: Mapping[str, list[tuple[str, str, str | None]]] | None = None) -> str:
    """One document for the whole stack: each image a component holding its own parts
    (``installed``: container name -> the built image's package list)."""
    root = Component(type=ComponentType.APPLICATION, name=plan.name, bom_ref=f"stack:{plan.name}",
                     description=f"container stack migrated from the VM {plan.source_vm}",
                     properties=[Property(name=f"{PROP}:source-vm", value=plan.source_vm)])
    bom = Bom(metadata=BomMetaData(component=root, tools=_tools()))
    for c in plan.containers:
        image, parts = _image_parts(plan, c, _context(stack_dir, c), prefix=f"{c.name}/",
                                    installed=(installed or {}).get(c.name))
        image.components = parts
        bom.components.add(image)
    return _finish(bom, root, environ)


def plan_boms(plan: Plan, stack_dir: Path | None = None, *,
              environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """One SBOM per container of the plan (name -> JSON); files hashed from ``stack_dir``'s contexts."""
    return {c.name: container_bom(plan, c, context=_context(stack_dir, c), environ=environ)
            for c in plan.containers}


SBOM_DIR = "sbom"
VM_SBOM = "_vm.cdx.json"  # service names start with a letter or digit: no image's file can be called this


def write_stack_sboms(plan: Plan, stack_dir: Path, inventory: Inventory | None = None, *,
                      environ: Mapping[str, str] | None = None) -> list[Path]:
    """``STACK/sbom/<service>.cdx.json`` for every image (and ``_vm.cdx.json`` for the VM when its
    inventory is given), written through ConfinedDir: nothing lands outside the stack directory."""
    from migrate.fsutil import ConfinedDir

    docs = {f"{name}.cdx.json": text for name, text in plan_boms(plan, stack_dir, environ=environ).items()}
    if inventory is not None:
        docs[VM_SBOM] = inventory_bom(inventory, environ=environ)
    written = []
    with ConfinedDir(stack_dir) as out:
        for name, text in sorted(docs.items()):
            out.write_bytes(f"{SBOM_DIR}/{name}", text.encode())
            written.append(stack_dir / SBOM_DIR / name)
    return written


def validate(text: str) -> None:
    """Raise InvalidDocument when ``text`` is not valid CycloneDX JSON of ``SPEC`` (strict schema)."""
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SPEC).validate_str(text)
    if error is not None:
        raise InvalidDocument(f"not valid CycloneDX {SPEC.to_version()}: {error}", path="sbom")
    json.loads(text)
