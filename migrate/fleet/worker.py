"""One image, inspected in isolation: the task a Dask worker runs for each fleet member.

The worker process has migrate (analyzers, image readers, pydantic models) imported already; for
each image it *forks* a child, so the per-image cost is a fork, not a fresh interpreter and a
second of imports. The child is where the hostile input is handled:

- its address space is capped (``RLIMIT_AS`` = what the worker already had + ``memory_mib``), so a
  decompression bomb or a runaway table ends in MemoryError or a failed mmap in the child, not in the
  OOM killer picking a victim on the host;
- the worker kills its whole process group at the fleet's per-image timeout, whatever the child is
  stuck in (the image layer's own budget, MIGRATE_IMAGE_TIMEOUT, is set a little beyond it);
- it dies with the worker (PR_SET_PDEATHSIG), so a killed worker leaves no orphan behind;
- it writes the inventory itself, atomically (temporary file + rename) into the member's folder,
  through ConfinedDir (no link in the fleet directory can redirect the write), and sends back a small
  JSON result on a pipe: the facts the store keeps, or the error class and exit code that
  ``migrate inspect`` would have given.

So a broken or hostile image is one failed row, and the batch goes on.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import resource
import select
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from migrate.errors import MigrateError, ResourceBudgetExceeded, TimeBudgetExceeded
from migrate.image.keys import KeyStore

GRACE_SECONDS = 0.5  # after the image layer's own deadline, before the worker kills the child
WATCH_INTERVAL = 0.1  # how often the worker looks at the child's memory
MAX_RESULT_BYTES = 1 << 20
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class InspectTask:
    name: str
    image: str
    fleet_dir: str
    member_dir: str  # relative to fleet_dir: members/<slug>
    backend: str = "auto"
    timeout: float = 600.0
    memory_mib: int = 2048
    full_hash: bool = False
    disks: tuple[str, ...] = ()  # further disks of the VM, in order
    previous_fingerprint: str | None = None  # a stale member's: equal again → "unchanged", no inspection
    # the keys that may open this member's encrypted volumes (migrate.fleet.keys): in memory only, left out
    # of repr (a worker logs a failed task's repr) and of equality; the child gets them by fork
    keys: KeyStore | None = field(default=None, repr=False, compare=False)


@dataclass
class InspectResult:
    name: str
    ok: bool
    unchanged: bool = False
    fingerprint: str | None = None
    stat_key: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    inventory_path: str | None = None  # relative to the fleet directory
    error: dict[str, Any] | None = None  # error_class, exit_code, message
    seconds: float = 0.0
    peak_rss_kib: int = 0  # the child's peak RSS (pages shared with the worker included)
    peak_private_kib: int = 0  # the largest private memory the worker saw the child use (sampled)
    worker_pid: int = 0


def inspect_member(task: InspectTask) -> InspectResult:
    """Inspect one member's image in a forked, capped child and return what it found."""
    warm()
    if task.keys:
        no_core_dumps()
    start = time.monotonic()
    rfd, wfd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(rfd)
        _child(task, wfd, parent)
    os.close(wfd)
    peak = [0]
    data, stopped = _read_result(rfd, pid, task.timeout + min(GRACE_SECONDS, task.timeout / 10), task.memory_mib,
                                 peak)
    if stopped:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    _pid, status, usage = os.wait4(pid, 0)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # anything the child started (libguestfs's qemu) goes with it
    seconds = time.monotonic() - start
    rss = int(usage.ru_maxrss)
    if stopped == "time":
        return _failed(task, TimeBudgetExceeded(f"inspection ran past {task.timeout:g} s and was stopped",
                                                path=task.image), seconds, rss)
    if stopped == "memory":
        return _failed(task, ResourceBudgetExceeded(f"inspection used more than its memory cap of {task.memory_mib} "
                                                    "MiB and was stopped", path=task.image), seconds, rss)
    try:
        payload = json.loads(data) if data else None
    except json.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict):
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            why = ("killed (SIGKILL: most likely out of memory)" if sig == signal.SIGKILL
                   else f"died of signal {signal.Signals(sig).name}")
            return _failed(task, ResourceBudgetExceeded(f"the inspection process {why}", path=task.image), seconds, rss)
        return _failed(task, MigrateError(f"the inspection process exited with status {os.WEXITSTATUS(status)} "
                                          "and no result", path=task.image), seconds, rss)
    result = InspectResult(**payload)
    result.seconds, result.peak_rss_kib, result.worker_pid = seconds, rss, parent
    result.peak_private_kib = peak[0] // 1024
    return result


def no_core_dumps() -> None:
    """A process that holds keys writes no core file (the soft limit, which the kernel applies to a core
    file; the child inherits it): a crash would otherwise put them on disk."""
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))


_warm = False


def warm() -> None:
    """Import what every inspection needs once per worker process, before the first fork, so each
    child starts with it loaded (the point of forking)."""
    global _warm
    if _warm:
        return
    import migrate.fleet.fingerprint  # noqa: F401
    import migrate.fsutil  # noqa: F401
    import migrate.image.native  # noqa: F401
    import migrate.image.ova  # noqa: F401
    import migrate.inspect  # noqa: F401
    from migrate.analyzers import builtin_analyzers

    builtin_analyzers()
    # what is loaded now lives as long as the worker: keep the collector out of it, so a child does not
    # copy those pages just to walk them (fork shares them copy-on-write)
    gc.collect()
    gc.freeze()
    _warm = True


def _read_result(fd: int, pid: int, limit: float, memory_mib: int, peak: list[int]) -> tuple[bytes, str | None]:
    """Everything the child writes before it closes the pipe, and None; or what came so far and why
    the child must be stopped: "time" past the deadline, "memory" when its own memory (and its
    children's) went over the cap."""
    end = time.monotonic() + limit
    chunks: list[bytes] = []
    size = 0
    interval = 0.005  # look early (a bomb is fast), then every WATCH_INTERVAL
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return b"".join(chunks), "time"
            ready, _, _ = select.select([fd], [], [], min(left, interval))
            interval = min(interval * 2, WATCH_INTERVAL)
            if not ready:
                used = private_memory(pid)
                peak[0] = max(peak[0], used)
                if memory_mib > 0 and used > memory_mib << 20:
                    return b"".join(chunks), "memory"
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks), None
            size += len(chunk)
            if size <= MAX_RESULT_BYTES:
                chunks.append(chunk)
    finally:
        os.close(fd)


def private_memory(pid: int) -> int:
    """Bytes of memory the child (and anything it started) owns privately: what it added to the
    forked worker, not the pages it still shares with it (which RSS would count)."""
    total = 0
    for p in [pid, *_descendants(pid)]:
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith(("Private_Clean:", "Private_Dirty:")):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def _descendants(pid: int) -> list[int]:
    """Children, grandchildren … of ``pid`` from /proc/PID/task/TID/children (no scan of /proc)."""
    out: list[int] = []
    todo = [pid]
    while todo and len(out) < 256:
        p = todo.pop()
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as fh:
                    kids = [int(x) for x in fh.read().split()]
            except (OSError, ValueError):
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


def _failed(task: InspectTask, exc: MigrateError, seconds: float, rss: int) -> InspectResult:
    return InspectResult(task.name, False, error=error_dict(exc), seconds=seconds, peak_rss_kib=rss,
                         worker_pid=os.getpid())


def error_dict(exc: BaseException) -> dict[str, Any]:
    """Error class and the exit code ``migrate inspect`` gives for it (migrate.cli.main's mapping)."""
    if isinstance(exc, MigrateError):
        return {"error_class": type(exc).__name__, "exit_code": exc.exit_code, "message": str(exc)[:2000]}
    if isinstance(exc, MemoryError):
        return {"error_class": "ResourceBudgetExceeded", "exit_code": ResourceBudgetExceeded.exit_code,
                "message": "the inspection ran out of its memory cap"}
    # what `migrate inspect` calls an internal error (exit 1); the message is the exception's type only,
    # so nothing read from the guest can end up in the store
    return {"error_class": "InternalError", "exit_code": 1, "message": f"internal error: {type(exc).__name__}"}


def _child(task: InspectTask, wfd: int, parent: int) -> None:
    code = 0
    try:
        os.setpgid(0, 0)
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _cap_memory(task.memory_mib)
        # the worker stops the child at the fleet's limit; the image layer's own budget must not cut in
        # first (some readers treat a budget error while probing as "not this filesystem")
        os.environ["MIGRATE_IMAGE_TIMEOUT"] = f"{task.timeout + 5:g}"
        try:
            result = _run(task)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes this member's row
            result = InspectResult(task.name, False, error=error_dict(exc))
        payload = json.dumps(asdict(result)).encode()
        view = memoryview(payload)
        while view:
            n = os.write(wfd, view)
            view = view[n:]
    except BaseException:  # noqa: BLE001 - the parent reports a child without a result
        code = 70
    finally:
        os._exit(code)


def _cap_memory(mib: int) -> None:
    if mib <= 0:
        return
    base = 0
    with contextlib.suppress(OSError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                base = int(line.split()[1]) * 1024
    limit = base + 2 * (mib << 20)  # a backstop: the worker stops the child at ``mib`` of private memory
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _run(task: InspectTask) -> InspectResult:
    from migrate.errors import ImageNotFound
    from migrate.fleet.fingerprint import file_digest, fingerprint, stat_key
    from migrate.fsutil import ConfinedDir
    from migrate.inspect import inspect_images

    image = task.image
    for disk in (image, *task.disks):
        if not os.path.exists(disk):
            gone = ImageNotFound("no such file (the source vanished after it was added)", path=disk)
            return InspectResult(task.name, False, stat_key=stat_key([image, *task.disks]), error=error_dict(gone))
    try:
        fp = fingerprint(image, full=task.full_hash, disks=task.disks)
        fp_value, key = fp.value, fp.stat_key
    except MigrateError:  # a chain that cannot be walked: fingerprint the files alone, fail below
        files = [os.path.realpath(d) for d in (image, *task.disks)]
        fp_value = "file:" + "+".join(file_digest(f, full=task.full_hash)[:40] for f in files)
        key = stat_key(files)
    if task.previous_fingerprint and fp_value == task.previous_fingerprint:
        return InspectResult(task.name, True, unchanged=True, fingerprint=fp_value, stat_key=key)
    try:
        inventory = inspect_images([Path(image), *map(Path, task.disks)], task.backend, keys=task.keys)
    except BaseException as exc:
        return InspectResult(task.name, False, fingerprint=fp_value, stat_key=key, error=error_dict(exc))
    rel = f"{task.member_dir}/inventory.json"
    with ConfinedDir(task.fleet_dir) as out:
        tmp = f"{task.member_dir}/.inventory.json.{os.getpid()}.tmp"
        out.write_bytes(tmp, inventory.to_json().encode())
        os.replace(os.path.join(task.fleet_dir, tmp), os.path.join(task.fleet_dir, rel))
    return InspectResult(task.name, True, fingerprint=fp_value, stat_key=key, facts=member_facts(inventory),
                         inventory_path=rel)


def member_facts(inventory: Any) -> dict[str, Any]:
    """The inventory facts a FleetMember keeps (for the fleet graph and report): the names the guest
    calls itself (its hostname and the /etc/hosts entries for it), the addresses of those entries and
    the static addresses its network configuration gives its interfaces (loopback, link-local,
    multicast and unspecified addresses are no other VM's way to reach it), each with where it was read."""
    import ipaddress

    net = inventory.network
    hostname = (net.hostname or "").strip()
    short = hostname.split(".")[0].lower()
    names: list[str] = [hostname] if hostname else []
    evidence: dict[str, str] = {}

    def reachable(address: str) -> str | None:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return None
        if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
            return None
        return str(ip)

    for entry in net.hosts:
        mine = [n for n in entry.names if short and n.split(".")[0].lower() == short]
        if not mine:
            continue
        names.extend(n for n in mine if n not in names)
        ip = reachable(entry.address)
        if ip is not None:
            evidence.setdefault(ip, "/etc/hosts")
    for a in getattr(net, "addresses", []):
        ip = reachable(a.address) if a.address else None
        if ip is not None:
            evidence.setdefault(ip, f"{a.evidence.path} {a.evidence.detail}".strip())
    kinds = sorted({s.role for s in inventory.services if s.role and not s.vm_only})
    return {"os_family": inventory.os.family, "distro": inventory.os.distro, "os_version": inventory.os.version,
            "hostnames": names, "addresses": sorted(evidence), "address_evidence": dict(sorted(evidence.items())),
            "kinds": kinds}
