"""The fleet engine: inspect every member of a fleet once, in parallel, on Dask distributed.

The coordinator (this module, in the ``migrate fleet inspect`` process) owns the store; Dask workers
own the images. The coordinator claims members one at a time (atomically, under a lease, see
migrate.fleet.store), submits one task per claim, keeps a couple of tasks queued per worker, and
records each result in the store the moment it arrives, so a kill -9 at any point loses at most the
images in flight, which the next run claims again. Workers write each inventory file themselves
(atomically) and run every image in a forked, capped child (migrate.fleet.worker).

``LocalCluster`` (processes, one thread each) is the default; ``scheduler="tcp://host:8786"``
attaches to a cluster the user started elsewhere (dask-jobqueue, Kubernetes, SSH), whose workers
must see the image paths and the fleet directory at the same paths (shared storage).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from migrate.errors import MigrateError, ResourceBudgetExceeded, UsageError
from migrate.fleet.fingerprint import stat_changed
from migrate.fleet.keys import KEY_ERRORS, FleetKeys, check_scheduler
from migrate.fleet.store import DEFAULT_LEASE, MEMBERS_DIR, FleetStore, RunOwner, member_slug
from migrate.fleet.worker import InspectResult, InspectTask, inspect_member
from migrate.model.fleet import FleetMember, MemberError

QUEUED_PER_WORKER = 2
Progress = Callable[["Tick"], None]


@dataclass
class EngineOptions:
    workers: int | None = None  # LocalCluster size; default: the CPUs this process may use
    scheduler: str | None = None  # tcp://host:8786 of an existing Dask cluster
    backend: str = "auto"
    timeout: float = 600.0  # per image, seconds
    memory_mib: int = 2048  # per image: private memory of its process and what that starts
    full_hash: bool = False
    lease: float = DEFAULT_LEASE
    retry_failed: bool = False
    # keys for encrypted members (migrate.fleet.keys): memory only, each task gets its member's
    keys: FleetKeys | None = field(default=None, repr=False, compare=False)


@dataclass
class Tick:
    """One result as it arrives (for a progress bar)."""

    name: str
    outcome: str  # inspected | failed | unchanged | lost
    done: int
    total: int


@dataclass
class InspectSummary:
    inspected: int = 0
    failed: int = 0
    unchanged: int = 0
    stale: int = 0
    reclaimed: int = 0
    workers: int = 0
    seconds: float = 0.0
    startup_seconds: float = 0.0  # until the Dask client was ready (cluster start or attach)
    counts: dict[str, int] = field(default_factory=dict)
    results: list[InspectResult] = field(default_factory=list)
    worker_peak_rss_kib: dict[str, int] = field(default_factory=dict)  # each Dask worker process's peak


def _peak_rss_kib() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def refresh(store: FleetStore) -> int:
    """Send back to pending every finished member whose image files changed on disk (stat key);
    the worker then compares fingerprints and restores the old state when the content is the same."""
    stale = [name for name, key in store.stat_keys().items() if stat_changed(key)]
    return store.set_stale(stale) if stale else 0


@contextlib.contextmanager
def dask_client(opts: EngineOptions) -> Iterator[Any]:
    """A distributed Client: on a new LocalCluster, or attached to ``opts.scheduler``."""
    import dask
    from distributed import Client, LocalCluster

    if opts.scheduler:
        try:
            client = Client(opts.scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"cannot reach the Dask scheduler at {opts.scheduler}: {exc}") from exc
        try:
            yield client
        finally:
            client.close()
        return
    n = opts.workers or default_workers()
    with dask.config.set({"distributed.worker.daemon": True, "distributed.admin.tick.limit": "30s",
                          "distributed.scheduler.allowed-failures": 2,
                          "distributed.worker.memory.terminate": False,
                          # no stack-sampling thread in the workers: it costs CPU, and a thread that may hold
                          # a lock at the moment the worker forks an image's child is one too many
                          "distributed.worker.profile.enabled": False}):
        # no dashboard, and the scheduler's small HTTP server on a free port (not 8787: two runs at once)
        # of the loopback only: ":0" served its logs, call stacks and task names (the fleet's VM names)
        # to the whole network while a fleet ran
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               scheduler_port=0, silence_logs=logging.ERROR, memory_limit=0,
                               scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
        client = Client(cluster)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.close()
            with contextlib.suppress(Exception):
                cluster.close(timeout=10)


def _task(store: FleetStore, m: FleetMember, opts: EngineOptions) -> InspectTask:
    assert m.image is not None
    return InspectTask(name=m.name, image=m.image, fleet_dir=str(store.root.resolve()),
                       member_dir=f"{MEMBERS_DIR}/{member_slug(m.name)}", backend=opts.backend,
                       timeout=opts.timeout, memory_mib=opts.memory_mib, full_hash=opts.full_hash,
                       disks=tuple(m.disks),
                       previous_fingerprint=m.fingerprint if store.stale_from(m.name) else None,
                       keys=opts.keys.for_member(m.name) if opts.keys else None)


def check_keys(store: FleetStore, opts: EngineOptions) -> None:
    """Before anything is written: keys only over local or tls:// comms, scoped to members that exist."""
    if opts.keys:
        check_scheduler(opts.scheduler, opts.keys)
        opts.keys.check_members(m.name for m in store.members())


def requeue_for_keys(store: FleetStore, opts: EngineOptions) -> int:
    """Members that failed for want of a key (no key, or none that opened them) are inspected again when
    keys that may open them are given; their fingerprint is unchanged, so nothing else would redo them.
    Keys are never stored: a run without keys leaves such a member failed."""
    if not opts.keys:
        return 0
    names = [m.name for m in store.members(state="failed")
             if m.error is not None and m.error.error_class in KEY_ERRORS and opts.keys.for_member(m.name)]
    return store.requeue_failed(names) if names else 0


def record(store: FleetStore, owner: RunOwner, member: FleetMember, r: InspectResult) -> str:
    """Write one result into the store; returns the outcome ("lost" when the claim was taken over)."""
    if r.unchanged:
        return "unchanged" if store.mark_unchanged(member.name, owner, stat_key=r.stat_key) else "lost"
    if r.ok:
        done = member.model_copy(update={**r.facts, "fingerprint": r.fingerprint, "inventory_path": r.inventory_path})
        ok = store.mark_done(done, owner, stat_key=r.stat_key, seconds=r.seconds, peak_rss_kib=r.peak_rss_kib)
        return "inspected" if ok else "lost"
    err = r.error or {"error_class": "MigrateError", "exit_code": 1, "message": "no result"}
    failed = member.model_copy(update={"fingerprint": r.fingerprint})
    ok = store.mark_failed(failed, owner, MemberError(**err, stage="inspect"), stat_key=r.stat_key,
                           seconds=r.seconds, peak_rss_kib=r.peak_rss_kib)
    return "failed" if ok else "lost"


def run_inspect(store: FleetStore, opts: EngineOptions, *, progress: Progress | None = None) -> InspectSummary:
    """Inspect every member that needs it (see the module docstring)."""
    from distributed import wait

    check_keys(store, opts)
    start = time.monotonic()
    summary = InspectSummary()
    owner = RunOwner.current()
    store.register_run(owner, "inspect")  # before any write: refused (FleetInUse) while a plan/convert runs
    try:
        summary.reclaimed = store.reap_dead()
        if opts.retry_failed:
            store.requeue("failed")
        requeue_for_keys(store, opts)
        summary.stale = refresh(store)
        total = store.claimable()
    except BaseException:
        store.end_run(owner)
        raise
    if total == 0:  # nothing to do: no cluster to start
        store.end_run(owner)
        summary.seconds = time.monotonic() - start
        summary.counts = store.counts()
        return summary
    try:
        with dask_client(opts) as client:
            summary.startup_seconds = time.monotonic() - start
            workers = len(client.scheduler_info().get("workers", {})) or (opts.workers or 1)
            summary.workers = workers
            in_flight: dict[Any, FleetMember] = {}
            exhausted = last_look = False
            last_beat = time.monotonic()
            done = 0
            while True:
                while not exhausted and len(in_flight) < workers * QUEUED_PER_WORKER:
                    m = store.claim_next(owner, opts.lease)
                    if m is None:
                        exhausted = True
                        break
                    last_look = False
                    fut = client.submit(inspect_member, _task(store, m, opts), pure=False,
                                        key=f"inspect-{member_slug(m.name)}-{owner.token}-{time.time_ns()}")
                    in_flight[fut] = m
                if not in_flight:
                    if last_look:
                        break
                    # before leaving: claims a dead run left, or whose lease lapsed, while we worked
                    last_look, exhausted = True, False
                    summary.reclaimed += store.reap_dead()
                    continue
                finished = wait(list(in_flight), timeout=max(1.0, opts.lease / 4), return_when="FIRST_COMPLETED").done
                if time.monotonic() - last_beat > opts.lease / 4:
                    store.heartbeat(owner, opts.lease)
                    reaped = store.reap_dead()  # a run that died meanwhile: its claims are ours to take
                    summary.reclaimed += reaped
                    exhausted = exhausted and not reaped
                    last_beat = time.monotonic()
                for fut in finished:
                    m = in_flight.pop(fut)
                    r = _result(fut, m)
                    outcome = record(store, owner, m, r)
                    if outcome in ("inspected", "failed", "unchanged"):
                        setattr(summary, outcome, getattr(summary, outcome) + 1)
                        summary.results.append(r)
                    done += 1
                    if progress:
                        progress(Tick(m.name, outcome, done, max(total, done)))
            with contextlib.suppress(Exception):
                summary.worker_peak_rss_kib = dict(client.run(_peak_rss_kib))
    finally:
        store.end_run(owner)
    store.checkpoint()
    summary.seconds = time.monotonic() - start
    summary.counts = store.counts()
    return summary


def _result(fut: Any, m: FleetMember) -> InspectResult:
    """The task's result; a task whose worker died on it every time it was tried is this member's
    failure (the image takes a worker down), never the batch's."""
    try:
        r = fut.result()
    except MigrateError:
        raise
    except Exception as exc:  # noqa: BLE001 - KilledWorker and the like
        from distributed.scheduler import KilledWorker

        if isinstance(exc, KilledWorker):
            err = ResourceBudgetExceeded("the Dask worker died every time it inspected this image", path=m.image)
            return InspectResult(m.name, False, error={"error_class": type(err).__name__,
                                                       "exit_code": err.exit_code, "message": str(err)})
        raise
    assert isinstance(r, InspectResult)
    return r
