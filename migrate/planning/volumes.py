"""Volumes step: each persistent data path of the service becomes a named volume (web roots are
content shipped in the image, see files.web_roots)."""

from __future__ import annotations

import posixpath

from migrate.model.inventory import Service
from migrate.model.plan import Blocker, Volume, VolumeMount
from migrate.planning.context import PlanContext, slug

SHIPPED_KINDS = ("webroot",)  # persistent paths whose content goes into the image instead


def volumes_for(ctx: PlanContext, name: str, s: Service,
                all_volumes: list[Volume]) -> tuple[list[VolumeMount], list[Blocker]]:
    vols: list[VolumeMount] = []
    blockers: list[Blocker] = []
    # `mounted` only means something when a backend mounted the guest's filesystems (not for trees)
    unmounted = [m for m in ctx.inv.mounts if not m.mounted and m.mountpoint != "/"] if ctx.inv.filesystems else []
    for pp in sorted(ctx.inv.persistent_paths, key=lambda p: p.path):
        if pp.service != s.name or pp.kind in SHIPPED_KINDS:
            continue
        base = "data" if pp.kind in ("database", "data", "uploads") or posixpath.basename(pp.path) == name \
            else slug(posixpath.basename(pp.path))
        vname = f"{name}-{base}"
        if any(v.name == vname for v in all_volumes):
            vname = f"{name}-{slug(posixpath.basename(pp.path))}"
        all_volumes.append(Volume(name=vname, service=name, path=pp.path, labels=ctx.stack_labels(),
                                  reason=f"{pp.reason} ({pp.evidence.path}) -> named volume {vname}"))
        vols.append(VolumeMount(volume=vname, target=pp.path, uid=pp.uid, gid=pp.gid, mode=pp.mode,
                                reason=f"persistent {pp.kind}: {pp.reason}; the image creates the mount point "
                                       f"owned {pp.uid}:{pp.gid} so a new volume starts with that owner"))
        for m in unmounted:
            if pp.path == m.mountpoint or pp.path.startswith(m.mountpoint.rstrip("/") + "/"):
                blockers.append(Blocker(kind="unmounted-data", severity="blocker", evidence=m.evidence.path,
                                        detail=f"{pp.path} is on {m.spec} ({m.mountpoint}), which was not "
                                               "mounted when the VM was read: its data was not inspected"))
    return vols, blockers
