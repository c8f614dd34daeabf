"""Sizing rules, overheads (measured by `migrate bench` or documented defaults) and the three scenarios."""

from __future__ import annotations

from datetime import UTC, datetime

from migrate.capacity.packing import pack
from migrate.errors import UsageError
from migrate.model.bench import BenchResults
from migrate.model.capacity import (
    CapacityReport,
    FleetVM,
    HostSpec,
    Overheads,
    Rule,
    Scenario,
    SensitivityCell,
    SizedItem,
)

RULES: dict[str, str] = {
    "like-for-like": "allocation as is: vCPUs and memory of the VM",
    "moderate": "p90 utilization + 15 % of the allocation (CPU and memory)",
    "aggressive": "p95 utilization, little slack (+5 % memory, none for CPU)",
}
SCENARIO_TITLES = {
    "vms-today": "VMs today (allocation, one VM per workload)",
    "containers-in-vms": "containers in VMs (one large VM per host)",
    "containers-bare-metal": "containers on bare metal",
}
MIN_CONTAINER_MIB = 32.0

# Documented defaults when no bench results are given (or when the VM arms were emulated).
DEFAULTS = Overheads(
    vm_fixed_mib=240.0,
    container_fixed_mib=12.6,
    container_cpu_efficiency=1.0,
    vm_cpu_efficiency=0.977,
    sources={
        "vm_fixed_mib": "default: idle QEMU PSS of a minimal guest measured on this project's machines, "
                        "230-250 MB (bench-protocol.md)",
        "container_fixed_mib": "default: ≈0.6 MB cgroup + ≈12 MB containerd shim per container (bench-protocol.md)",
        "container_cpu_efficiency": "default: Felter et al. 2014/ISPASS 2015, Docker ≈ native on Linpack",
        "vm_cpu_efficiency": "default: Felter et al. 2014/ISPASS 2015, tuned KVM Linpack 284.2 vs 290.8 GFLOPS",
    },
)


def overheads_from_bench(res: BenchResults | None, source: str | None = None) -> tuple[Overheads, list[str]]:
    """Measured values replace defaults where they are meaningful: container efficiency and fixed costs
    always; VM CPU efficiency only when the VM arms ran with KVM (TCG measures the emulator)."""
    o = DEFAULTS.model_copy(deep=True)
    notes: list[str] = []
    if res is None:
        notes.append("no bench results given: documented defaults used for every overhead")
        return o, notes
    if res.context.idle_check.get("busy") or any("busy machine" in w for w in res.warnings):
        notes.append("the bench ran on a busy machine (see its idle check and warnings): measured ratios are noisy")
    tag = f"measured: {source or 'bench results'} ({res.context.date}, {res.context.cpu_model})"
    b, a, r = res.arm_summary("B"), res.arm_summary("A"), res.arm_summary("R")
    if b and b.efficiency:
        o.container_cpu_efficiency = min(1.0, b.efficiency.value)
        o.sources["container_cpu_efficiency"] = f"{tag}, arm B / arm R (capped at 1.0)"
    if b and b.fixed_mem_per_instance_mib is not None:
        o.container_fixed_mib = max(0.0, b.fixed_mem_per_instance_mib)
        o.sources["container_fixed_mib"] = f"{tag}, arm B idle footprint per instance"
    if a and a.fixed_mem_per_instance_mib is not None:
        o.vm_fixed_mib = max(0.0, a.fixed_mem_per_instance_mib)
        o.sources["vm_fixed_mib"] = f"{tag}, arm A idle QEMU PSS per VM (accel={res.context.accel})"
    if a and a.efficiency and res.context.accel == "kvm":
        o.vm_cpu_efficiency = min(1.0, a.efficiency.value)
        o.sources["vm_cpu_efficiency"] = f"{tag}, arm A / arm R under KVM"
    elif a and a.efficiency:
        notes.append(f"bench VM arms ran with accel={res.context.accel} (emulated): their CPU efficiency "
                     f"({a.efficiency.value:.2f}) measures the emulator, so the VM CPU efficiency stays the default")
    del r
    return o, notes


def size(vm: FleetVM, rule: str) -> tuple[float, float, str]:
    """The workload's own demand (cores, MiB) under a rule; falls back to the allocation when the
    percentiles the rule needs are missing, and says so."""
    if rule == "like-for-like":
        return float(vm.vcpus), float(vm.memory_mib), "allocation"
    pc, pm = ("cpu_p90", "mem_p90") if rule == "moderate" else ("cpu_p95", "mem_p95")
    cpu_pct, mem_pct = getattr(vm, pc), getattr(vm, pm)
    slack_cpu, slack_mem = (0.15, 0.15) if rule == "moderate" else (0.0, 0.05)
    parts = []
    if cpu_pct is None:
        cpu, b1 = float(vm.vcpus), "CPU: allocation (no percentile)"
    else:
        cpu = min(float(vm.vcpus), vm.vcpus * (cpu_pct / 100 + slack_cpu))
        b1 = f"CPU {pc} {cpu_pct:.0f} %" + (f" + {slack_cpu:.0%}" if slack_cpu else "")
    if mem_pct is None:
        mem, b2 = float(vm.memory_mib), "memory: allocation (no percentile)"
    else:
        mem = min(float(vm.memory_mib), vm.memory_mib * (mem_pct / 100 + slack_mem))
        b2 = f"memory {pm} {mem_pct:.0f} % + {slack_mem:.0%}"
    parts = [b1, b2]
    return cpu, mem, "; ".join(parts)


def scenario_items(fleet: list[FleetVM], rule: str, o: Overheads) -> dict[str, list[SizedItem]]:
    today, cont = [], []
    for vm in fleet:
        today.append(SizedItem(name=vm.name, cpu=float(vm.vcpus), memory_mib=float(vm.memory_mib), group=vm.group,
                               basis="allocation (a VM keeps its vCPUs and memory)"))
        cpu, mem, basis = size(vm, rule)
        cmem = max(MIN_CONTAINER_MIB, mem - o.vm_fixed_mib) + o.container_fixed_mib
        cont.append(SizedItem(name=vm.name, cpu=round(cpu / o.container_cpu_efficiency, 4), memory_mib=round(cmem, 1),
                              group=vm.group, basis=f"{rule}: {basis}; − {o.vm_fixed_mib:.0f} MiB guest/VMM, "
                              f"+ {o.container_fixed_mib:.1f} MiB per container"))
    return {"vms-today": today, "containers-in-vms": cont, "containers-bare-metal": cont}


def build_scenarios(fleet: list[FleetVM], rule: str, host: HostSpec, o: Overheads) -> list[Scenario]:
    items = scenario_items(fleet, rule, o)
    out = []
    for name, its in items.items():
        cpu_cap = host.cores * (1 - host.headroom)
        mem_cap = host.memory_gib * 1024 * (1 - host.headroom)
        basis = f"host {host.cores:g} cores / {host.memory_gib:g} GiB, headroom {host.headroom:.0%}, N+{host.reserve}"
        if name == "vms-today":
            basis += "; VMs at their allocation (vCPU:core 1:1, memory reserved)"
        elif name == "containers-in-vms":
            cpu_cap *= o.vm_cpu_efficiency
            mem_cap -= o.vm_fixed_mib
            basis += (f"; {rule}; one VM per host: capacity × VM CPU efficiency {o.vm_cpu_efficiency:.3f}, "
                      f"− {o.vm_fixed_mib:.0f} MiB per host VM")
        else:
            basis += f"; {rule}; container CPU efficiency {o.container_cpu_efficiency:.3f}"
        hosts, too_big = pack(its, cpu_cap, mem_cap)
        out.append(Scenario(name=name, title=SCENARIO_TITLES[name], items=its, hosts=hosts,
                            hosts_needed=len(hosts) + len(too_big),
                            hosts_total=len(hosts) + len(too_big) + host.reserve,
                            capacity_cpu=round(cpu_cap, 4), capacity_memory_mib=round(mem_cap, 1),
                            unplaceable=too_big, basis=basis))
    return out


def plan(fleet: list[FleetVM], *, rule: Rule = "moderate", cores: float = 32, memory_gib: float = 256,
         headroom: float = 0.2, reserve: int = 1, bench: BenchResults | None = None, bench_source: str | None = None,
         fleet_source: str = "", sensitivity_headrooms: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3)) -> CapacityReport:
    if rule not in RULES:
        raise UsageError(f"unknown sizing rule {rule!r} (choose from {', '.join(RULES)})")
    if not 0 <= headroom < 1 or cores <= 0 or memory_gib <= 0 or reserve < 0:
        raise UsageError("need 0 <= headroom < 1, cores > 0, memory > 0, reserve >= 0")
    o, notes = overheads_from_bench(bench, bench_source)
    host = HostSpec(cores=cores, memory_gib=memory_gib, headroom=headroom, reserve=reserve)
    scen = build_scenarios(fleet, rule, host, o)
    sens = []
    for r in RULES:
        for h in sorted(set(sensitivity_headrooms) | {headroom}):
            hs = host.model_copy(update={"headroom": h})
            for s in build_scenarios(fleet, r, hs, o):
                sens.append(SensitivityCell(rule=r, headroom=h, scenario=s.name, hosts_total=s.hosts_total))
    for s in scen:
        if s.unplaceable:
            notes.append(f"{s.name}: {len(s.unplaceable)} workload(s) larger than one host, counted as one host "
                         f"each: {', '.join(s.unplaceable[:5])}")
    if not any(v.cpu_p90 is not None for v in fleet) and rule != "like-for-like":
        notes.append("the fleet has no utilization percentiles: the rule falls back to the allocation")
    return CapacityReport(
        generated=datetime.now(UTC).isoformat(timespec="seconds"), rule=rule, rule_text=RULES[rule], host=host,
        overheads=o, fleet=fleet, fleet_source=fleet_source, bench_source=bench_source,
        bench_accel=bench.context.accel if bench else None, scenarios=scen, sensitivity=sens, notes=notes)
