"""Hardening step: runtime restrictions a container gets only where the guest shows they cannot break it.

Docker's defaults keep 14 capabilities and let a process gain privileges through setuid executables.
The VM's service rarely needs that, but "rarely" is not evidence, so each restriction is decided from
what the guest shows about this service, the same way for every service (no server kind is named):

- ``no-new-privileges``: on, unless the service execs something that gains privileges: an argv or
  Exec*= word naming a guest executable with the setuid/setgid bit, or a copied file with those bits.
- ``cap_drop: [ALL]`` plus what it needed in the VM: the unit's ``CapabilityBoundingSet=`` and
  ``AmbientCapabilities=`` are direct evidence; a port below 1024 → NET_BIND_SERVICE; a process that
  starts as root (no User= in the unit) may switch to its own user and manage its workers' files and
  signals → SETUID, SETGID, CHOWN, DAC_OVERRIDE, FOWNER, KILL; an executable or loaded module that
  imports chroot() → SYS_CHROOT. An executable linked with libcap sets its own capabilities and fails
  when one it asks for is missing: then the capability set stays Docker's default, with that reason.
- ``read_only: true``: only where the VM already ran the service on a read-only system
  (``ProtectSystem=strict``), every path it could write there is a volume or can be a tmpfs (runtime,
  cache, log directories, /tmp), and no entrypoint writes a secret into a file of the image.

Why each is on or off lands in the plan (``containers[].hardening``); a user may flip any of them there.
"""

from __future__ import annotations

import posixpath
import re

from migrate.model.inventory import Service
from migrate.model.plan import Capability, Container, Hardening, Switch, Tmpfs
from migrate.planning.context import PlanContext, guest_path

# capabilities Docker knows (CAP_ prefix dropped), for validating what a unit lists
LINUX_CAPS = frozenset({"AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF",
    "CHECKPOINT_RESTORE", "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK",
    "IPC_OWNER", "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN",
    "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID",
    "SYSLOG", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE",
    "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "WAKE_ALARM"})
ROOT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID")
MAX_SCAN_BYTES = 64 * 1024 * 1024  # executables and modules read to look for imported symbols
MAX_UNIT_BYTES = 256 * 1024
PATH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
ALWAYS_TMPFS = ("/tmp", "/var/tmp")


def harden(ctx: PlanContext, s: Service, c: Container) -> None:
    """Fill ``c.hardening`` from the evidence in the guest (never fails: no evidence = Docker's default)."""
    unit = _unit_settings(ctx, s)
    h = Hardening()
    h.no_new_privileges = _no_new_privileges(ctx, s, c)
    drop, caps = _capabilities(ctx, s, c, unit)
    h.cap_drop_all, h.cap_add = drop, caps
    h.read_only, h.tmpfs = _read_only(ctx, s, c, unit)
    c.hardening = h


# --- no-new-privileges -----------------------------------------------------------------------------

def _words(s: Service, c: Container) -> list[str]:
    words = list(c.command.argv) + list(s.exec_start)
    for cmd in [*s.exec_start_pre, *s.exec_start_post]:
        words += cmd.argv
    return [w for w in words if w and not w.startswith("-")]


def _resolve(ctx: PlanContext, word: str) -> str | None:
    """The guest path a command word runs: absolute as written, else looked up in the usual PATH."""
    if ctx.reader is None:
        return None
    word = word.split()[0] if word.split() else word
    candidates = [guest_path(word)] if word.startswith("/") else \
        [posixpath.join(d, word) for d in PATH_DIRS] if "/" not in word and re.fullmatch(r"[\w.+-]+", word) else []
    for path in candidates:
        try:
            if ctx.reader.exists(path) and not ctx.reader.is_dir(path):
                return path
        except Exception:  # noqa: BLE001 - a hostile name is simply not evidence
            continue
    return None


def _mode(ctx: PlanContext, path: str) -> int | None:
    stat = getattr(ctx.reader, "stat", None)
    if stat is None:
        return None
    try:
        st = stat(path)
    except Exception:  # noqa: BLE001
        return None
    return st.mode if st is not None else None


def _no_new_privileges(ctx: PlanContext, s: Service, c: Container) -> Switch:
    for f in c.files:
        if f.mode is not None and f.mode & 0o6000:
            return Switch(enabled=False, reason=f"{f.source} is copied with the setuid/setgid bit ({f.mode:04o}): "
                                                "no-new-privileges would stop it from working")
    if ctx.reader is None:
        return Switch(enabled=False, reason="planned without the guest's files: the executables the service runs "
                                            "could not be checked for setuid bits")
    for w in _words(s, c):
        path = _resolve(ctx, w)
        mode = _mode(ctx, path) if path else None
        if mode is not None and mode & 0o6000:
            return Switch(enabled=False, reason=f"the service runs {path}, setuid/setgid ({mode:04o}) in the VM: "
                                                "it gains privileges that no-new-privileges would refuse")
    return Switch(enabled=True, reason="none of the commands the service runs is setuid/setgid in the VM and no "
                                       "copied file is: it never gains privileges through exec, so "
                                       "no-new-privileges cannot break it")


# --- capabilities ----------------------------------------------------------------------------------

def _scan(ctx: PlanContext, path: str | None) -> bytes | None:
    if ctx.reader is None or not path:
        return None
    try:
        return ctx.reader.read_bytes(path, max_bytes=MAX_SCAN_BYTES)
    except Exception:  # noqa: BLE001 - unreadable or too large: no evidence
        return None


def _cap_names(values: list[str]) -> tuple[set[str], bool]:
    """Capabilities a unit lists; ``inverted`` when it says ``~``. An empty assignment is systemd's
    empty set (``CapabilityBoundingSet=`` alone: no capability at all) and resets what came before."""
    caps: set[str] = set()
    inverted = False
    for v in values:
        v = v.strip()
        if not v:
            caps, inverted = set(), False
            continue
        if v.startswith("~"):
            inverted, v = True, v[1:]
        caps |= {w.upper().removeprefix("CAP_") for w in v.split()}
    return caps & LINUX_CAPS, inverted


def _capabilities(ctx: PlanContext, s: Service, c: Container,
                  unit: dict[str, list[str]]) -> tuple[Switch, list[Capability]]:
    root = c.user.uid == 0
    exe = s.executable or (c.command.argv[0] if c.command.argv else None)
    exe_path = _resolve(ctx, exe) if exe else None
    exe_bytes = _scan(ctx, exe_path) if root else None
    if root and exe_bytes is not None and b"libcap.so" in exe_bytes:
        return Switch(enabled=False, reason=f"{exe_path} is linked with libcap: it sets its own capabilities and "
                                            "stops when one it asks for is missing, so Docker's default set stays"), []
    if root and exe_bytes is None:
        where = "could not be read" if ctx.reader is not None else "was not available (planned without the guest)"
        return Switch(enabled=False, reason=f"runs as root and its executable ({exe or 'unknown'}) {where} to check "
                                            "how it uses privileges: Docker's default set stays"), []
    grants: dict[str, str] = {}
    bounding, inverted = _cap_names(unit.get("CapabilityBoundingSet", []))
    bounded = bool(unit.get("CapabilityBoundingSet")) and not inverted  # the VM's exact set (maybe empty)
    ambient, _ = _cap_names(unit.get("AmbientCapabilities", []))
    for cap in sorted(ambient):
        grants[cap] = f"AmbientCapabilities= in {s.unit_path} gives it {cap} in the VM"
    if bounded:
        for cap in sorted(bounding):
            grants.setdefault(cap, f"CapabilityBoundingSet= in {s.unit_path} allows it {cap} in the VM")
    low = sorted({p.port for p in c.ports if p.port < 1024} | {f.listen for f in c.forwarders if f.listen < 1024})
    if low:
        grants.setdefault("NET_BIND_SERVICE", f"binds port {', '.join(map(str, low))} (below 1024) as in the VM")
    if root and not bounded:
        for cap in ROOT_CAPS:
            grants.setdefault(cap, "starts as root (no User= in the unit): it may switch to its own user (SETUID, "
                                   "SETGID), signal its workers (KILL) and own or write their files (CHOWN, FOWNER, "
                                   "DAC_OVERRIDE)")
        scanned = [(exe_path, exe_bytes)] + [(m.path, _scan(ctx, m.path)) for m in s.modules if m.path]
        for path, data in scanned:
            if data is not None and b"\0chroot\0" in data:
                grants.setdefault("SYS_CHROOT", f"{path} imports chroot(): it may confine itself as configured")
    caps = [Capability(name=k, reason=v) for k, v in sorted(grants.items())]
    if root:
        why = ("starts as root; Docker's default set is cut to what such a process uses (listed in cap_add with "
               "their evidence): no raw sockets, device nodes, audit writes or file capabilities")
    else:
        why = (f"runs as uid {c.user.uid}, not root: a non-root process has no use for the default capabilities "
               "(they would only matter through setuid or file-capability executables)")
    if bounded:
        allowed = ", ".join(sorted(bounding)) or "none"
        why = f"CapabilityBoundingSet= in {s.unit_path} is the set the VM allowed ({allowed}); the rest is dropped"
    return Switch(enabled=True, reason=why), caps


# --- read-only root --------------------------------------------------------------------------------

def _read_only(ctx: PlanContext, s: Service, c: Container,
               unit: dict[str, list[str]]) -> tuple[Switch, list[Tmpfs]]:
    protect = (unit.get("ProtectSystem") or [""])[-1].strip().lower()
    if protect != "strict":
        return Switch(enabled=False, reason="where the service writes is not known (its unit does not set "
                                            "ProtectSystem=strict in the VM): the root filesystem stays writable"), []
    if c.secrets:
        return Switch(enabled=False, reason="the entrypoint may write a secret into a file of the image at start-up "
                                            "(the service has secrets): the root filesystem stays writable"), []
    if c.forwarders:
        return Switch(enabled=False, reason="the entrypoint starts localhost forwarders: root stays writable"), []
    volumes = [v.target.rstrip("/") or "/" for v in c.volumes]

    def in_volume(p: str) -> bool:
        return any(p == v or p.startswith(v + "/") for v in volumes)

    writable: list[tuple[str, str]] = []  # path, what made it writable
    for value in unit.get("ReadWritePaths", []) + unit.get("ReadWriteDirectories", []):
        for w in value.split():
            writable.append((guest_path(w.lstrip("-+")), f"ReadWritePaths= in {s.unit_path}"))
    for d in s.directories:
        writable.append((guest_path(d.path), f"{d.kind.capitalize()}Directory= in {d.evidence.path}"))
    for d in c.runtime_dirs:
        writable.append((guest_path(d.path), "a runtime directory of the service"))
    tmpfs: dict[str, str] = {p: "scratch space every process may use" for p in ALWAYS_TMPFS}
    for path, why in writable:
        if in_volume(path):
            continue
        holds = [v for v in volumes if v.startswith(path.rstrip("/") + "/")]
        if holds:
            return Switch(enabled=False, reason=f"{path} ({why}) is writable in the VM and holds the volume "
                                                f"{holds[0]}: a tmpfs there would hide what the image has under it; "
                                                "the root filesystem stays writable"), []
        kind = next((d.kind for d in s.directories if guest_path(d.path) == path), None)
        if kind in ("state", "configuration"):
            return Switch(enabled=False, reason=f"{path} ({why}) holds {kind} but is no volume: the root "
                                                "filesystem stays writable"), []
        ephemeral = kind in ("runtime", "cache", "logs") or any(guest_path(d.path) == path for d in c.runtime_dirs)
        if not ephemeral and _has_content(ctx, c, path):
            return Switch(enabled=False, reason=f"{path} ({why}) is writable in the VM and has files there: a tmpfs "
                                                "would hide them; the root filesystem stays writable"), []
        tmpfs.setdefault(path, f"{why}: writable in the VM, not persistent data → tmpfs")
    mounts = [Tmpfs(path=p, reason=why) for p, why in sorted(tmpfs.items())]
    return Switch(enabled=True, reason=f"ProtectSystem=strict in {s.unit_path}: the VM already ran it on a "
                                       "read-only system; what it may write is a volume or a tmpfs"), mounts


def _has_content(ctx: PlanContext, c: Container, path: str) -> bool:
    """Files the image would have under ``path``: copied from the guest, or present in the guest (a
    package put them there). Unknown (no guest) counts as content."""
    if any(f.dest == path or f.dest.startswith(path.rstrip("/") + "/") for f in c.files):
        return True
    if ctx.reader is None:
        return True
    iterdir = getattr(ctx.reader, "iterdir", None)
    if iterdir is None:
        return True
    try:
        return bool(iterdir(path))
    except Exception:  # noqa: BLE001
        return True


# --- the unit, read again for the settings the inventory does not carry ----------------------------

def _unit_settings(ctx: PlanContext, s: Service) -> dict[str, list[str]]:
    """[Service] values of the unit and its drop-ins for the keys above, in file order."""
    keys = {"CapabilityBoundingSet", "AmbientCapabilities", "ProtectSystem", "ReadWritePaths",
            "ReadWriteDirectories"}
    out: dict[str, list[str]] = {}
    if ctx.reader is None or s.manager != "systemd" or not s.unit_path:
        return out
    paths = [s.unit_path] + sorted({e.path for e in s.evidence if e.path and e.path.endswith(".conf")
                                    and ".service.d/" in e.path})
    for path in paths:
        try:
            text = ctx.reader.read_bytes(path, max_bytes=MAX_UNIT_BYTES).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - evidence missing, not an error
            continue
        section = ""
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
            elif section == "Service" and "=" in line and not line.startswith(("#", ";")):
                key, _, value = line.partition("=")
                if key.strip() in keys:
                    out.setdefault(key.strip(), []).append(value.strip())
    return out
