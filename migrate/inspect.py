"""`migrate inspect`: disk images in, Inventory out."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from migrate.analysis import run_analyzers
from migrate.analyzers.base import Context, SecretVault
from migrate.errors import ImageError, ImageNotFound, UnsupportedLayout, UsageError
from migrate.image.backend import Backend, OpenedGuest
from migrate.image.keys import KeyStore
from migrate.image.mounting import resolve_spec
from migrate.model.base import Evidence
from migrate.model.inventory import DiskSizing, Inventory, Mount, OSInfo, Unknown, VMSizing

BackendName = Literal["auto", "native", "guestfs"]
BACKENDS = ("auto", "native", "guestfs")


def make_backend(name: str) -> Backend:
    if name == "native":
        from migrate.image.native import NativeBackend

        return NativeBackend()
    if name == "guestfs":
        from migrate.image.guestfs_backend import GuestfsBackend

        return GuestfsBackend()
    raise UsageError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


def open_guest(images: list[Path], backend: str = "auto", keys: KeyStore | None = None) -> OpenedGuest:
    """Open one VM's disks with the chosen backend; ``auto`` uses native and falls back to
    guestfs only when native reports a layout it cannot read (never for a bad image: md RAID
    levels other than 0/1/linear, LUKS2, btrfs), with the reason kept as a note. A directory
    is an extracted guest tree. ``keys`` open encrypted volumes (both backends)."""
    if any(p.is_dir() for p in images):
        from migrate.image.directory import DirectoryBackend

        return DirectoryBackend().open(images)
    if backend == "auto":
        try:
            return make_backend("native").open(images, keys)
        except UnsupportedLayout as exc:
            if getattr(exc, "no_fallback", False):  # e.g. a differencing VHD qemu would misread
                raise
            guest = make_backend("guestfs").open(images, keys)
            guest.notes.append(f"native backend: {exc}; used guestfs instead")
            return guest
    return make_backend(backend).open(images, keys)


def _check_inputs(paths: list[Path]) -> None:
    if not paths:
        raise UsageError("no image given")
    for p in paths:
        if not p.exists():
            raise ImageNotFound("no such file", path=str(p))
        if not (p.is_file() or p.is_dir()):
            raise ImageNotFound("neither a disk image nor a guest directory", path=str(p))


@dataclass
class OpenedVM:
    """One VM opened for reading: the guest, the paths the user gave, and the OVF sizing if any."""

    guest: OpenedGuest
    paths: list[Path]
    ovf_sizing: VMSizing | None = None


@contextmanager
def open_vm(paths: list[Path], backend: str = "auto", *,
            progress: Callable[[str], None] | None = None,
            allow_unlisted_disks: bool = False, keys: KeyStore | None = None) -> Iterator[OpenedVM]:
    """Open the disks of one VM (several images = several disks, in order; one OVA, whose manifest
    is checked and disks unpacked for as long as the VM is open; or a guest directory). SIGTERM
    while the VM is open cleans up like Ctrl-C (the OVA's unpack folder is removed)."""
    from migrate.image.budget import sigterm_as_interrupt
    from migrate.image.ova import is_ova, open_ova

    paths = [Path(p) for p in paths]
    _check_inputs(paths)
    with sigterm_as_interrupt(), tempfile.TemporaryDirectory(prefix="migrate-ova-") as tmp:
        sizing: VMSizing | None = None
        disks = paths
        if len(paths) == 1 and paths[0].is_file() and is_ova(paths[0]):
            if progress:
                progress("checking the OVA manifest and unpacking its disks")
            ova = open_ova(paths[0], Path(tmp), allow_unlisted_disks=allow_unlisted_disks)
            sizing, disks = ova.sizing, ova.disks
        if progress:
            progress(f"opening {len(disks)} disk(s) with the {backend} backend")
        try:
            guest = open_guest(disks, backend, keys)
        except ImageError as exc:
            if sizing is not None and exc.path and exc.path.startswith(tmp):
                exc.path = f"{paths[0]}!{Path(exc.path).name}"  # name the OVA, not our unpack folder
            raise
        with guest:
            yield OpenedVM(guest, paths, sizing)


def inventory_of(vm: OpenedVM, *, progress: Callable[[str], None] | None = None,
                 vault: SecretVault | None = None) -> Inventory:
    """Run the analyzers on an opened VM. ``vault`` receives the secret values found (in memory),
    for a caller that must hand them on (``convert --secrets-out``); the inventory itself only ever
    holds redactions."""
    guest, sizing = vm.guest, vm.ovf_sizing
    ctx = Context(rootfs=guest.rootfs, secrets=vault if vault is not None else SecretVault())
    result, ctx = run_analyzers(guest.rootfs, ctx, progress=(lambda n: progress(f"analyzer {n}"))
                                if progress else None)
    images = [img.model_copy() for img in guest.images]
    if sizing is not None:
        for img in images:
            img.path = f"{vm.paths[0]}!{Path(img.path).name}"
            img.format = f"ova/{img.format}"
    else:
        sizing = VMSizing(source="image", disks=[
            DiskSizing(name=Path(i.path).name, capacity_bytes=i.virtual_size, format=i.format)
            for i in images])
    merged = result.merged
    unknowns = list(merged.unknowns)
    for note in guest.notes:
        unknowns.append(Unknown(analyzer=f"backend:{guest.backend}", message=note))
    os_info = merged.os or OSInfo()
    unknowns.extend(unidentified_os(os_info))
    mounts = resolved_mounts(guest, merged.mounts)
    name = sizing.name or result.network.hostname or vm.paths[0].stem
    inventory = Inventory(
        name=name, backend=guest.backend, images=images, sizing=sizing,
        filesystems=guest.filesystems, os=os_info,
        network=result.network, packages=merged.packages, users=merged.users, groups=merged.groups,
        services=merged.services, ports=merged.ports, configs=merged.configs, secrets=merged.secrets,
        jobs=merged.jobs, mounts=mounts, persistent_paths=merged.persistent_paths,
        connections=merged.connections, unknowns=unknowns, analyzers=result.runs,
        windows=merged.windows, windows_programs=merged.windows_programs, iis_sites=merged.iis_sites,
        sqlserver_instances=merged.sqlserver_instances,
    )
    return inventory.canonical()


def unidentified_os(os_info: OSInfo) -> list[Unknown]:
    """Never pass silently: an OS whose distribution or family nobody identified is an unknown (so
    ``--strict`` fails on it), whatever the guest is; the analyzers keyed on a family skip it."""
    seen = ", ".join(sorted({e.path for e in os_info.evidence})) or "no os-release, lsb-release or release file"
    if not os_info.distro or os_info.distro == "unknown":
        what = "operating system not identified (distribution and family unknown"
    elif not os_info.family or os_info.family == "unknown":
        what = f"distribution {os_info.distro!r} belongs to no OS family the analyzers know (family unknown"
    else:
        return []
    return [Unknown(analyzer="inspect", path=None,
                    message=f"{what}; read: {seen}); the analyzers for a known family did not run")]


def resolved_mounts(guest: OpenedGuest, mounts: list[Mount]) -> list[Mount]:
    """Each fstab entry with the device it names (``resolved_device``), resolved by the one resolver
    every backend shares (migrate.image.mounting.resolve_spec) over the volumes the backend found;
    plus the mounts the backend made that fstab does not name (a separate /usr), with the reason."""
    out = []
    for m in mounts:
        vol = resolve_spec(m.spec, guest.volumes) if guest.volumes else None
        out.append(m.model_copy(update={"resolved_device": vol.device}) if vol is not None else m)
    for d in guest.derived_mounts:
        out.append(Mount(spec=d.device, mountpoint=d.mountpoint, fstype=d.fstype or "auto", resolved_device=d.device,
                         mounted=True, evidence=Evidence(analyzer=f"backend:{guest.backend}", path=d.mountpoint,
                                                         detail=d.reason)))
    return out


def inspect_images(paths: list[Path], backend: str = "auto", *,
                   progress: Callable[[str], None] | None = None, vault: SecretVault | None = None,
                   allow_unlisted_disks: bool = False, keys: KeyStore | None = None) -> Inventory:
    """Inspect the disks of one VM (see open_vm for what ``paths`` may be)."""
    with open_vm(paths, backend, progress=progress, allow_unlisted_disks=allow_unlisted_disks, keys=keys) as vm:
        return inventory_of(vm, progress=progress, vault=vault)
