"""Command step: the container's main process, always in the foreground as PID 1.

The VM's command is the systemd analyzer's expanded argv (Environment=, EnvironmentFile=,
specifiers). A command that daemonises (Type=forking, or one the service's kind knows backgrounds
itself) is replaced by the kind's foreground form; when no foreground form is known the plan carries
a blocker, because such a container exits as soon as it starts."""

from __future__ import annotations

import re
import struct

from migrate.kinds import Kind, KindContext
from migrate.model.inventory import Service
from migrate.model.plan import Blocker, Command
from migrate.planning.context import PlanContext, guest_path

SYSTEM_BIN = ("/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/lib")


def command_for(s: Service, kind: Kind, kctx: KindContext) -> tuple[Command, list[Blocker]]:
    blockers: list[Blocker] = []
    workdir = guest_path(s.working_directory) if s.working_directory else None
    if not s.exec_start:
        blockers.append(Blocker(kind="no-command", severity="blocker", evidence=s.unit_path,
                                detail="no command found for the service (no ExecStart or script): the container "
                                       "has nothing to run; set command.argv"))
        return Command(argv=["/bin/false"], workdir=workdir, stop_signal=kind.stop_signal,
                       reason="no command in the VM's unit or script (see the no-command blocker)"), blockers
    argv = [s.exec_start[0].lstrip("-@+!:"), *s.exec_start[1:]]
    daemonises = s.unit_type == "forking" or kind.daemonises(argv)
    fg = kind.foreground(argv, kctx)
    if fg is not None:
        argv, reason = fg.argv, fg.reason
    else:
        reason = f"ExecStart of {s.unit_path or s.name}"
        if daemonises:
            why = "Type=forking" if s.unit_type == "forking" else f"{' '.join(argv)} backgrounds itself"
            blockers.append(Blocker(kind="no-foreground", severity="blocker", evidence=s.unit_path,
                                    detail=f"{why}: the command daemonises and no foreground form is known for it "
                                           f"(server kind {kind.name!r}); as PID 1 the container would exit at "
                                           "once. Give command.argv its foreground flag, or add a kind module"))
            reason += "; daemonises in the VM (see the no-foreground blocker)"
        elif s.manager in ("sysv", "openrc"):
            blockers.append(Blocker(kind="may-daemonise", severity="warning", evidence=s.unit_path,
                                    detail=f"started by the init script {s.unit_path or s.name}: daemons started "
                                           "that way usually fork into the background, and as PID 1 the container "
                                           "would then exit; check that the command stays in the foreground"))
    argv, rebound = rebind_loopback(s, argv, kctx)
    if rebound:
        reason += "; " + rebound
    return Command(argv=argv, workdir=workdir, stop_signal=kind.stop_signal, reason=reason), blockers


LOOPBACK_LITERAL = r"(?:127\.0\.0\.1|localhost|\[::1\])"


def loopback_arg(argv: list[str], port: int) -> int | None:
    """Index of the argument that binds ``port`` to loopback on the command line (``127.0.0.1:8000``,
    ``--bind=localhost:8000``), or None."""
    for i, a in enumerate(argv):
        if re.search(rf"(?:^|=){LOOPBACK_LITERAL}:{port}$", a):
            return i
    return None


def rebind_loopback(s: Service, argv: list[str], kctx: KindContext) -> tuple[list[str], str]:
    """A loopback bind given on the command line (the port's evidence) becomes 0.0.0.0: in the VM its
    clients were on the same host, in the stack they come over the container network; the port stays
    unpublished because it was loopback-only."""
    out = list(argv)
    changed = []
    for p in kctx.inventory.ports:
        if p.service != s.name or p.proto != "tcp" or not p.port:
            continue
        i = loopback_arg(out, p.port)
        if i is not None:
            new = re.sub(rf"{LOOPBACK_LITERAL}:{p.port}$", f"0.0.0.0:{p.port}", out[i])
            changed.append(f"{out[i]} -> {new}")
            out[i] = new
    if not changed:
        return argv, ""
    return out, ("listens on all addresses in the container (" + ", ".join(changed) + "): its clients come over "
                 "the container network; the port is not published, as it was loopback-only in the VM")


def static_binary(ctx: PlanContext, s: Service, kind: Kind) -> str | None:
    """The executable's path when it is a statically linked ELF file no package owns (needs a reader)."""
    if ctx.reader is None or not s.exec_start or kind.packages or s.interpreter:
        return None
    path = s.exec_start[0].lstrip("-@+!:")
    if not path.startswith("/") or path.startswith(SYSTEM_BIN):
        return None  # the distribution's own programs come from packages
    try:
        head = ctx.reader.read_bytes(path, max_bytes=256 * 1024 * 1024)
    except Exception:  # noqa: BLE001 - unreadable: not something we can put on scratch
        return None
    return path if is_static_elf(head) else None


def is_static_elf(data: bytes) -> bool:
    """An ELF executable without a PT_INTERP program header: it needs no dynamic loader or libraries."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return False
    end = "<" if data[5] == 1 else ">"
    if data[4] == 2:
        e_type, = struct.unpack_from(end + "H", data, 16)
        phoff, = struct.unpack_from(end + "Q", data, 32)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 54)
    else:
        e_type, = struct.unpack_from(end + "H", data, 16)
        phoff, = struct.unpack_from(end + "I", data, 28)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 42)
    if e_type not in (2, 3) or phnum == 0:  # EXEC or DYN (static-pie)
        return False
    types = []
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 4 > len(data):
            return False
        types.append(struct.unpack_from(end + "I", data, off)[0])
    PT_INTERP, PT_DYNAMIC = 3, 2  # noqa: N806
    return PT_INTERP not in types and (e_type == 2 or PT_DYNAMIC in types)
