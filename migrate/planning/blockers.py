"""Blockers about the service itself: devices it opens, running as root, and an executable that
nothing in the image would provide (predicted here, so a stack that cannot start says so in its plan)."""

from __future__ import annotations

from migrate.kinds import Kind
from migrate.model.inventory import Service
from migrate.model.plan import Blocker, FileCopy


def service_blockers(s: Service, kind: Kind, uid: int, argv: list[str], found: set[str],
                     files: list[FileCopy]) -> list[Blocker]:
    """Devices, root, and an executable nothing in the image provides (the stack could not start)."""
    out: list[Blocker] = []
    for arg in s.exec_start:
        if arg.startswith("/dev/") and arg not in ("/dev/null", "/dev/stdout", "/dev/stderr"):
            out.append(Blocker(kind="hardware", severity="blocker", evidence=s.unit_path,
                               detail=f"uses the device {arg}: pass it with `devices:` on the right host"))
    if uid == 0 and not kind.drops_privileges:
        out.append(Blocker(kind="runs-as-root", severity="warning", evidence=s.unit_path,
                           detail="runs as root; consider a dedicated user"))
    exe = s.exec_start[0].lstrip("-@+!:") if s.exec_start else ""
    copied = any(exe == f.source or exe.startswith(f.source.rstrip("/") + "/") for f in files)
    if exe and not found and not copied:
        out.append(Blocker(kind="no-package", severity="blocker", evidence=s.unit_path,
                           detail=f"no installed package of the VM was found to provide {exe} and it is not "
                                  "copied into the image: the container could not start; add its package to "
                                  "packages.items"))
    return out
