"""Bench results: one document per `migrate bench` run, raw 1 s samples and parsed sysbench output
kept next to the summary so every figure can be recomputed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from migrate.model.base import Document, Model

ArmName = Literal["R", "A", "B", "C"]

ARM_LABELS: dict[str, str] = {
    "R": "bare processes (reference)",
    "A": "N VMs, one workload each",
    "B": "N containers",
    "C": "one VM running N containers",
}


class IntervalReport(Model):
    """One ``--report-interval`` line of sysbench."""

    t: float
    threads: int | None = None
    eps: float | None = None  # events/s; memory test: derived from MiB/s and block size when possible
    lat_ms: float | None = None
    lat_pct: int | None = None
    mib_per_s: float | None = None
    qps: float | None = None  # OLTP: queries/s, with the read/write/other split
    qps_rwo: list[float] | None = None
    err_per_s: float | None = None
    reconn_per_s: float | None = None


class SysbenchResult(Model):
    """Parsed sysbench output (1.0.x "General statistics" or 1.1+/master "Throughput" report)."""

    version: str | None = None
    report_format: Literal["1.0", "1.1"] = "1.0"
    test: str | None = None  # cpu, memory, threads, fileio, oltp
    threads: int | None = None
    intervals: list[IntervalReport] = Field(default_factory=list)
    events_per_second: float | None = None
    total_time_s: float | None = None
    total_events: int | None = None
    latency_ms: dict[str, float] = Field(default_factory=dict)  # min, avg, max, p95 (or pNN), sum
    fairness_events_avg: float | None = None
    fairness_events_stddev: float | None = None
    fairness_time_avg: float | None = None
    fairness_time_stddev: float | None = None
    mib_per_s: float | None = None
    transactions_per_s: float | None = None
    queries_per_s: float | None = None  # OLTP "SQL statistics"
    queries: dict[str, int] = Field(default_factory=dict)  # read, write, other, total
    ignored_errors: int | None = None
    ignored_errors_per_s: float | None = None
    reconnects: int | None = None
    options: dict[str, str] = Field(default_factory=dict)


class InstanceRun(Model):
    index: int
    start_latency_s: float | None = None
    result: SysbenchResult | None = None
    raw_output: str = ""
    error: str | None = None


class InstanceSample(Model):
    index: int
    cpu_s: float | None = None  # cumulative CPU seconds (QEMU process, cgroup, or process)
    mem_kib: float | None = None  # PSS (processes) or cgroup memory usage


class HostSample(Model):
    """One 1 s sample taken on the host during an arm run; ``t`` is seconds since the arm started."""

    t: float
    phase: Literal["prepare", "idle", "load", "end"]
    cpu_busy_jiffies: int
    cpu_total_jiffies: int
    psi_some_us: int | None = None
    mem_available_kib: int
    ksm_pages_sharing: int | None = None
    instances: list[InstanceSample] = Field(default_factory=list)
    overhead_kib: float | None = None  # shim PSS (containers)


class Footprint(Model):
    """Idle memory cost of an arm: host view (MemAvailable delta) and per component."""

    host_used_delta_kib: float
    components_kib: dict[str, float] = Field(default_factory=dict)
    per_instance_kib: float
    basis: str


class ArmRun(Model):
    arm: ArmName
    workload: str
    round: int
    n: int
    accel: str | None = None
    label: str
    ok: bool = True
    error: str | None = None
    busy_cores_before: float | None = None
    go_t: float | None = None
    end_t: float | None = None
    instances: list[InstanceRun] = Field(default_factory=list)
    samples: list[HostSample] = Field(default_factory=list)
    footprint: Footprint | None = None
    window_s: list[int] = Field(default_factory=list)
    per_second_total: list[float] = Field(default_factory=list)
    host_cpu_s: float | None = None
    own_cpu_s: float | None = None
    foreign_cpu_cores: float | None = None
    storage_per_instance_bytes: int | None = None
    storage_basis: str = ""


class Interval(Model):
    value: float
    low: float
    high: float


class ArmSummary(Model):
    arm: ArmName
    workload: str
    label: str
    accel: str | None = None
    n: int
    throughput_eps: Interval | None = None  # mean over the used seconds, bootstrap 95 % CI
    median_eps: float | None = None
    efficiency: Interval | None = None  # T / T_R
    work_per_cpu_s: float | None = None
    jain: float | None = None
    min_max: float | None = None
    p95_latency_ms: list[float] = Field(default_factory=list)
    fixed_mem_per_instance_mib: float | None = None
    fixed_mem_basis: str = ""
    loaded_mem_per_instance_mib: float | None = None
    storage_per_instance_mib: float | None = None
    storage_basis: str = ""
    start_latency_s: float | None = None
    seconds_used: int = 0
    runs_ok: int = 0
    runs_failed: int = 0


class Gain(Model):
    name: str  # "B vs A", "C vs A"
    workload: str
    value: Interval
    verdict: str  # "gain", "loss", "no difference"


class BenchContext(Model):
    date: str
    hostname: str
    cpu_model: str
    cores: int
    mem_total_kib: int
    kernel: str
    accel: str
    accel_probe: str
    qemu: str | None = None
    docker: str | None = None
    cgroup: str
    sysbench: str
    sysbench_options: dict[str, str] = Field(default_factory=dict)
    artifact: dict[str, str | int] = Field(default_factory=dict)
    idle_check: dict[str, float | str | bool] = Field(default_factory=dict)


class BenchSettings(Model):
    profile: str
    n: int
    duration_s: int
    warmup_s: int
    workloads: list[str]
    arms: list[ArmName]
    rounds: int
    memory_mib: int
    order: list[str] = Field(default_factory=list)


class OltpRun(Model):
    """One sysbench ``oltp_read_write`` run against one PostgreSQL arm."""

    arm: str  # vm-way, published-port, stack-network
    round: int
    ok: bool = True
    error: str | None = None
    started: str | None = None
    command: str = ""
    raw_output: str = ""
    result: SysbenchResult | None = None
    window_s: list[float] = Field(default_factory=list)  # interval seconds used (after warm-up)


class OltpArmSummary(Model):
    arm: str
    label: str
    tps: Interval | None = None  # mean of the used 1 s reports, bootstrap 95 % CI
    qps: Interval | None = None
    p95_latency_ms: float | None = None  # median of the per-second p95
    p95_latency_final_ms: list[float] = Field(default_factory=list)  # sysbench's own, one per run
    errors_per_s: float | None = None  # ignored errors (deadlocks, serialization) per second
    reconnects_per_s: float | None = None
    seconds_used: int = 0
    runs_ok: int = 0
    runs_failed: int = 0


class OltpRatio(Model):
    name: str  # "published-port / vm-way"
    metric: str  # tps, qps
    value: Interval
    verdict: str


class OltpBench(Model):
    """`migrate bench --workload oltp --stack DIR`: sysbench OLTP against the migrated PostgreSQL,
    through the published port and from the stack's network, and the same database "the VM way"
    (the VM's data directory and configuration under a bare host process of the same version)."""

    stack_dir: str
    project: str
    service: str
    engine: str = "postgresql"
    server_versions: dict[str, str] = Field(default_factory=dict)  # arm -> "postgres (PostgreSQL) 15.x"
    data_source: str = ""
    vm_way_basis: str = ""
    threads: int
    duration_s: int
    warmup_s: int
    rounds: int
    tables: int
    table_size: int
    database: str = "migrate_bench"
    sysbench_options: str = ""
    arms: list[str] = Field(default_factory=list)
    order: list[str] = Field(default_factory=list)
    runs: list[OltpRun] = Field(default_factory=list)
    summary: list[OltpArmSummary] = Field(default_factory=list)
    ratios: list[OltpRatio] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def arm_summary(self, arm: str) -> OltpArmSummary | None:
        return next((s for s in self.summary if s.arm == arm), None)


class BenchResults(Document):
    KIND = "bench-results"
    SCHEMA_VERSION = 1

    context: BenchContext
    settings: BenchSettings
    runs: list[ArmRun] = Field(default_factory=list)
    summary: list[ArmSummary] = Field(default_factory=list)
    gains: list[Gain] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    oltp: OltpBench | None = None  # optional: absent in results written before the OLTP mode

    def canonical(self) -> BenchResults:
        data = self.model_copy(deep=True)
        data.summary.sort(key=lambda s: (s.workload, "RBAC".index(s.arm)))
        data.gains.sort(key=lambda g: (g.workload, g.name))
        return data

    def arm_summary(self, arm: str, workload: str = "cpu") -> ArmSummary | None:
        return next((s for s in self.summary if s.arm == arm and s.workload == workload), None)
