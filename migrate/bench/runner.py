"""`migrate bench`: run the arms in interleaved rounds, sample the host at 1 Hz, summarise.

Protocol: ../shared/bench-protocol.md (R bare, A N VMs, B N containers, C one VM with N containers;
order R→B→A→C then C→A→B→R; warm-up seconds dropped; only seconds in which every instance reported).
"""

from __future__ import annotations

import contextlib
import signal
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from migrate.bench import host, stats
from migrate.bench.arms import BareDriver, ContainerDriver, Driver, VMDriver, probe_accel, remove_labelled
from migrate.bench.artifact import Artifact, ensure_artifact
from migrate.bench.sysbench import WORKLOADS, command, parse
from migrate.errors import BackendUnavailable, MigrateError, UsageError
from migrate.model.bench import (
    ARM_LABELS,
    ArmRun,
    ArmSummary,
    BenchContext,
    BenchResults,
    BenchSettings,
    Footprint,
    Gain,
    HostSample,
    InstanceRun,
    InstanceSample,
)

EventFn = Callable[[str, str], None]


class MachineBusy(UsageError):
    """The idle pre-check found the host busy; rerun on a quiet machine or accept it explicitly."""


@dataclass(frozen=True)
class Profile:
    n: int
    duration_s: int
    warmup_s: int
    workloads: tuple[str, ...]
    rounds: int
    memory_mib: int
    description: str


PROFILES: dict[str, Profile] = {
    "quick": Profile(4, 20, 2, ("cpu",), 2, 256, "≈4 min on 2 cores: cpu, N=4, 20 s, 2 interleaved rounds"),
    "standard": Profile(4, 30, 3, ("cpu", "memory", "threads"), 2, 256, "cpu+memory+threads, ≈15 min"),
    "extended": Profile(4, 30, 3, ("cpu", "memory", "threads", "oltp"), 2, 256,
                        "standard + OLTP against a migrated stack's PostgreSQL (--stack DIR), ≈17 min"),
    "tiny": Profile(1, 3, 0, ("cpu",), 1, 128, "smoke test: 1 instance, 3 s, 1 round"),
}
ARM_ORDER = ("R", "B", "A", "C")
IDLE_S = 2.0


def round_order(arms: list[str], rounds: int) -> list[list[str]]:
    base = [a for a in ARM_ORDER if a in arms]
    return [base if r % 2 == 0 else list(reversed(base)) for r in range(rounds)]


class Sampler:
    """A 1 Hz thread that reads host counters and the current targets; ``phase`` labels each sample."""

    def __init__(self, t0: float, on_event: EventFn | None = None) -> None:
        self.t0, self.on_event = t0, on_event
        self.samples: list[HostSample] = []
        self.targets = []
        self.phase = "prepare"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._last = host.cpu_jiffies()

    def start(self) -> None:
        self._thread.start()

    def sample(self) -> HostSample:
        busy, total = host.cpu_jiffies()
        inst, over = [], 0.0
        for t in self.targets:
            cpu, mem, o = t.sample()
            inst.append(InstanceSample(index=t.index, cpu_s=cpu, mem_kib=mem))
            over += o or 0.0
        s = HostSample(t=round(time.monotonic() - self.t0, 3), phase=self.phase, cpu_busy_jiffies=busy,
                       cpu_total_jiffies=total, psi_some_us=host.psi_cpu_some_us(),
                       mem_available_kib=host.meminfo()["MemAvailable"], ksm_pages_sharing=host.ksm_pages_sharing(),
                       instances=inst, overhead_kib=over or None)
        self.samples.append(s)
        if self.on_event:
            b0 = self._last[0]
            self.on_event("sample", f"{self.phase} t={s.t:.0f}s host busy {(busy - b0) / host.CLK_TCK:.2f} cores")
        self._last = (busy, total)
        return s

    def _run(self) -> None:
        nxt = time.monotonic()
        while not self._stop.is_set():
            self.sample()
            nxt += 1.0
            self._stop.wait(max(0.0, nxt - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)
        self.phase = "end"
        self.sample()


def _docker_client():
    try:
        import docker

        client = docker.from_env()
        client.ping()
        return client
    except Exception as exc:  # noqa: BLE001
        raise BackendUnavailable(f"Docker engine not reachable: {exc}") from exc


def _own_cpu_s(at_go: HostSample, samples: list[HostSample]) -> float:
    """CPU seconds of the arm's own instances during load: the last 1 Hz reading of each instance
    (processes and container cgroups vanish when they exit, so up to 1 s may be missed) minus its
    reading at go."""
    start = {i.index: i.cpu_s or 0.0 for i in at_go.instances}
    last: dict[int, float] = {}
    for s in samples:
        for i in s.instances:
            if i.cpu_s is not None:
                last[i.index] = max(last.get(i.index, 0.0), i.cpu_s)
    return sum(max(0.0, v - start.get(k, 0.0)) for k, v in last.items())


def run_arm(arm: str, workload: str, rnd: int, *, n: int, duration_s: int, memory_mib: int, artifact: Artifact,
            accel: str, client, run_id: str, on_event: EventFn | None = None) -> ArmRun:
    argv = command(workload, duration_s)
    label = ARM_LABELS[arm] + (f" [accel={accel}{' (emulated)' if accel == 'tcg' else ''}]" if arm in "AC" else "")
    run = ArmRun(arm=arm, workload=workload, round=rnd, n=n, accel=accel if arm in "AC" else None, label=label)
    run.busy_cores_before = round(host.busy_cores(1.0), 3)
    driver: Driver
    if arm == "R":
        driver = BareDriver(n, argv, memory_mib, run_id, artifact)
    elif arm == "B":
        driver = ContainerDriver(n, argv, memory_mib, run_id, artifact, client)
    else:
        driver = VMDriver(n, argv, memory_mib, run_id, artifact, accel, containers=(arm == "C"))
    t0 = time.monotonic()
    sampler = Sampler(t0, on_event)
    avail_before = host.meminfo()["MemAvailable"]
    sampler.start()
    boot_timeout = 30.0 if accel == "kvm" or arm in "RB" else 60.0 + 15.0 * n
    try:
        if on_event:
            on_event("phase", f"{workload} round {rnd + 1}: arm {arm} ({label}) preparing {n} instance(s)")
        driver.prepare(boot_timeout)
        targets = driver.targets()
        sampler.targets = targets
        sampler.phase = "idle"
        time.sleep(IDLE_S)
        idle = [s for s in sampler.samples if s.phase == "idle"] or [sampler.sample()]
        last = idle[-1]
        comp = sum(i.mem_kib or 0.0 for i in last.instances) + (last.overhead_kib or 0.0)
        run.footprint = Footprint(
            host_used_delta_kib=float(avail_before - last.mem_available_kib),
            components_kib={driver.component or "process PSS": comp},
            per_instance_kib=comp / n,
            basis=f"{driver.component or 'process PSS'} of the idle, booted instances / N, before load",
        )
        sampler.phase = "load"
        j0 = host.cpu_jiffies()[0]
        at_go = sampler.sample()
        run.go_t = round(time.monotonic() - t0, 3)
        if on_event:
            on_event("phase", f"{workload} round {rnd + 1}: arm {arm} running {duration_s}s")
        driver.go()
        outs = driver.wait(duration_s + 30.0 + (duration_s * 2 if arm in "AC" else 0))
        j1 = host.cpu_jiffies()[0]
        run.end_t = round(time.monotonic() - t0, 3)
        run.host_cpu_s = (j1 - j0) / host.CLK_TCK
        run.own_cpu_s = _own_cpu_s(at_go, sampler.samples)
        elapsed = run.end_t - run.go_t
        run.foreign_cpu_cores = round(max(0.0, run.host_cpu_s - run.own_cpu_s) / elapsed, 3) if elapsed else None
        size, basis = driver.storage()
        run.storage_per_instance_bytes, run.storage_basis = size, basis
        for o in outs:
            res = parse(o.output) if o.output else None
            err = o.error
            if err is None and (res is None or not res.intervals):
                err = "no sysbench report in output"
            run.instances.append(InstanceRun(index=o.index, start_latency_s=o.start_latency_s, result=res,
                                             raw_output=o.output, error=err))
        bad = [i.index for i in run.instances if i.error]
        if bad or len(run.instances) != n:
            run.ok = False
            run.error = f"instances {bad} failed: {run.instances[bad[0]].error}" if bad else "instance missing"
    except MigrateError as exc:
        run.ok, run.error = False, str(exc) + (f"\n{exc.output}" if getattr(exc, "output", "") else "")
    except Exception as exc:  # noqa: BLE001 - one arm failing never aborts the run
        run.ok, run.error = False, f"{type(exc).__name__}: {exc}"
    finally:
        sampler.stop()
        run.samples = sampler.samples
        driver.cleanup()
    return run


def window(run: ArmRun, warmup_s: int) -> tuple[list[int], list[float]]:
    """Seconds (after warm-up) in which every instance reported, and the per-second total eps."""
    series = []
    for inst in run.instances:
        if not inst.result:
            return [], []
        series.append({int(round(r.t)): r.eps for r in inst.result.intervals if r.eps is not None})
    if not series:
        return [], []
    common = sorted(set.intersection(*(set(s) for s in series)))
    secs = [k for k in common if k > warmup_s]
    return secs, [sum(s[k] for s in series) for k in secs]


def summarise(results: BenchResults) -> None:
    st = results.settings
    results.summary, results.gains = [], []
    for wl in st.workloads:
        pooled: dict[str, list[float]] = {}
        for arm in st.arms:
            runs = [r for r in results.runs if r.arm == arm and r.workload == wl]
            ok = [r for r in runs if r.ok and r.per_second_total]
            vals = [v for r in ok for v in r.per_second_total]
            pooled[arm] = vals
            s = ArmSummary(arm=arm, workload=wl, label=runs[0].label if runs else ARM_LABELS[arm],
                           accel=runs[0].accel if runs else None, n=st.n, runs_ok=len(ok),
                           runs_failed=len(runs) - len(ok), seconds_used=len(vals))
            if len(vals) >= 2:
                s.throughput_eps = stats.mean_ci(vals)
                s.median_eps = float(statistics.median(vals))
            ev = sum(sum((i.result.total_events or 0) for i in r.instances if i.result) for r in ok)
            cpu = sum(r.host_cpu_s or 0 for r in ok)
            s.work_per_cpu_s = ev / cpu if cpu else None
            jains, mins = [], []
            for r in ok:
                per = []
                for inst in r.instances:
                    e = {int(round(x.t)): x.eps for x in inst.result.intervals if x.eps is not None}
                    per.append(statistics.fmean(e[k] for k in r.window_s))
                jains.append(stats.jain(per))
                mins.append(min(per) / max(per) if max(per) else None)
                s.p95_latency_ms += [i.result.latency_ms.get("p95") for i in r.instances
                                     if i.result and i.result.latency_ms.get("p95") is not None]
            jains = [j for j in jains if j is not None]
            mins = [m for m in mins if m is not None]
            s.jain = statistics.fmean(jains) if jains else None
            s.min_max = statistics.fmean(mins) if mins else None
            fps = [r.footprint.per_instance_kib for r in runs if r.footprint]
            if fps:
                s.fixed_mem_per_instance_mib = statistics.fmean(fps) / 1024
                s.fixed_mem_basis = runs[0].footprint.basis if runs[0].footprint else ""
            loaded = []
            for r in ok:
                for smp in r.samples:
                    if smp.phase == "load" and smp.instances:
                        loaded.append((sum(i.mem_kib or 0 for i in smp.instances) + (smp.overhead_kib or 0)) / r.n)
            s.loaded_mem_per_instance_mib = max(loaded) / 1024 if loaded else None
            sto = [r for r in runs if r.storage_per_instance_bytes is not None]
            if sto:
                s.storage_per_instance_mib = sto[0].storage_per_instance_bytes / 2**20
                s.storage_basis = sto[0].storage_basis
            lat = [i.start_latency_s for r in runs for i in r.instances if i.start_latency_s is not None]
            s.start_latency_s = statistics.median(lat) if lat else None
            results.summary.append(s)
        ref = pooled.get("R", [])
        if len(ref) >= 2:
            ref_mean = statistics.fmean(ref)
            for s in results.summary:
                if s.workload == wl and len(pooled.get(s.arm, [])) >= 2:
                    s.efficiency = stats.ratio_ci(pooled[s.arm], ref)
            r_sum = next((s for s in results.summary if s.workload == wl and s.arm == "R"), None)
            for s in results.summary:
                if s.workload == wl and r_sum and s.fixed_mem_per_instance_mib is not None and s.arm != "R" \
                        and r_sum.fixed_mem_per_instance_mib is not None:
                    s.fixed_mem_per_instance_mib -= r_sum.fixed_mem_per_instance_mib
                    s.fixed_mem_basis += "; minus the bare-process reference"
            del ref_mean
        for new in ("B", "C"):
            if len(pooled.get(new, [])) >= 2 and len(pooled.get("A", [])) >= 2:
                iv = stats.gain_ci(pooled[new], pooled["A"])
                results.gains.append(Gain(name=f"{new} vs A", workload=wl, value=iv, verdict=stats.verdict(iv)))
        if len(pooled.get("B", [])) >= 2 and len(ref) >= 2:
            iv = stats.gain_ci(pooled["B"], ref)
            results.gains.append(Gain(name="B vs R", workload=wl, value=iv, verdict=stats.verdict(iv)))


def _tool_version(argv: list[str]) -> str | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.splitlines()[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return None


def idle_check(seconds: float = 3.0) -> dict[str, float | str | bool]:
    cores = host.busy_cores(seconds)
    psi = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        psi = float(Path("/proc/pressure/cpu").read_text().split()[1].split("=")[1])
    return {"busy_cores": round(cores, 3), "psi_some_avg10": psi if psi is not None else "n/a",
            "seconds": seconds}


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM behaves like Ctrl-C so the same finally blocks clean up every VM and container."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_bench(settings: BenchSettings, *, accel: str = "auto", idle_policy: str = "refuse",
              idle_threshold: float = 0.25, on_event: EventFn | None = None) -> BenchResults:
    """Run every workload × round × arm; returns the results document (the caller writes it)."""
    for w in settings.workloads:
        if w not in WORKLOADS:
            raise UsageError(f"unknown workload {w!r} (choose from {', '.join(WORKLOADS)})")
    if settings.n < 1 or settings.duration_s <= settings.warmup_s + 1:
        raise UsageError("need n >= 1 and duration > warm-up + 1 s")
    warnings: list[str] = []
    check: dict = {"policy": idle_policy, "threshold_cores": idle_threshold}
    if idle_policy != "skip":
        check.update(idle_check())
        busy = check["busy_cores"] > idle_threshold
        check["busy"] = busy
        if busy:
            msg = (f"machine busy before the run: {check['busy_cores']:.2f} cores in use "
                   f"(threshold {idle_threshold}); results will be noisy")
            if idle_policy == "refuse":
                raise MachineBusy(msg + " — rerun when idle or pass --allow-busy")
            warnings.append(msg)
    client = _docker_client() if ("B" in settings.arms) else None
    if on_event:
        on_event("phase", "building/reusing the artifact (rootfs → image + initramfs)")
    artifact = ensure_artifact(client)
    probe = "not probed (no VM arm)"
    if any(a in settings.arms for a in "AC"):
        if accel == "auto":
            accel, probe = probe_accel(artifact)
        else:
            probe = f"forced by --accel {accel}"
    if accel == "tcg" and any(a in settings.arms for a in "AC"):
        warnings.append("VM arms ran under TCG: accel=tcg (emulated); they measure the emulator, "
                        "not virtualization overhead")
    mem = host.meminfo()
    docker_v = None
    if client is not None:
        with contextlib.suppress(Exception):
            docker_v = client.version().get("Version")
    ctx = BenchContext(
        date=datetime.now(UTC).isoformat(timespec="seconds"), hostname=host.hostname(), cpu_model=host.cpu_model(),
        cores=len(__import__("os").sched_getaffinity(0)), mem_total_kib=mem["MemTotal"],
        kernel=__import__("platform").release(), accel=accel, accel_probe=probe,
        qemu=_tool_version(["qemu-system-x86_64", "--version"]), docker=docker_v, cgroup=host.cgroup_version(),
        sysbench=_tool_version([str(artifact.rootfs / "usr/lib64/ld-linux-x86-64.so.2"), "--library-path",
                                str(artifact.rootfs / "usr/lib/x86_64-linux-gnu"),
                                str(artifact.rootfs / "usr/bin/sysbench"), "--version"]) or "unknown",
        sysbench_options={w: " ".join(command(w, settings.duration_s)) for w in settings.workloads},
        artifact={"key": artifact.key, "image": artifact.image_tag, "kernel": str(artifact.kernel),
                  "initramfs_bytes": artifact.initramfs_bytes, "kernel_bytes": artifact.kernel_bytes},
        idle_check=check,
    )
    orders = round_order(list(settings.arms), settings.rounds)
    settings.order = ["→".join(o) for o in orders]
    results = BenchResults(context=ctx, settings=settings, warnings=warnings)
    warnings = results.warnings  # pydantic copied the list: keep appending to the document's
    run_id = uuid.uuid4().hex[:8]
    try:
        with _terminate_as_interrupt():
            for wl in settings.workloads:
                for rnd, order in enumerate(orders):
                    for arm in order:
                        run = run_arm(arm, wl, rnd, n=settings.n, duration_s=settings.duration_s,
                                      memory_mib=settings.memory_mib, artifact=artifact, accel=accel,
                                      client=client, run_id=run_id, on_event=on_event)
                        run.window_s, run.per_second_total = window(run, settings.warmup_s)
                        if run.ok and not run.window_s:
                            run.ok, run.error = False, "no second in which every instance reported"
                        if not run.ok:
                            warnings.append(f"{wl} round {rnd + 1} arm {arm} failed: {(run.error or '')[:300]}")
                        if run.foreign_cpu_cores and run.foreign_cpu_cores > 0.25:
                            warnings.append(f"{wl} round {rnd + 1} arm {arm}: {run.foreign_cpu_cores:.2f} cores "
                                            "used by other processes during load (busy machine)")
                        results.runs.append(run)
                        if on_event:
                            on_event("done", f"arm {arm} {'ok' if run.ok else 'FAILED'}")
    finally:
        if client is not None:
            remove_labelled(client, run_id)
    summarise(results)
    return results
