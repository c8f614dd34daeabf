"""A readable summary of a BenchResults document (plain text: the CLI colours it, docs quote it)."""

from __future__ import annotations

from migrate.model.bench import BenchResults, Interval


def _iv(iv: Interval | None, fmt: str = "{:.3f}", pct: bool = False) -> str:
    if iv is None:
        return "—"
    f = (lambda v: f"{v * 100:+.1f} %") if pct else fmt.format
    return f"{f(iv.value)} [{f(iv.low)}, {f(iv.high)}]"


def _num(v: float | None, fmt: str = "{:.1f}") -> str:
    return "—" if v is None else fmt.format(v)


def summary_rows(res: BenchResults) -> list[dict[str, str]]:
    rows = []
    for s in res.canonical().summary:
        rows.append({
            "workload": s.workload, "arm": s.arm, "label": s.label, "n": str(s.n),
            "events/s (95% CI)": _iv(s.throughput_eps, "{:.0f}"),
            "efficiency vs R (95% CI)": _iv(s.efficiency),
            "work per host CPU-s": _num(s.work_per_cpu_s, "{:.0f}"),
            "Jain": _num(s.jain, "{:.3f}"), "min/max": _num(s.min_max, "{:.3f}"),
            "fixed MiB/inst": _num(s.fixed_mem_per_instance_mib),
            "loaded MiB/inst": _num(s.loaded_mem_per_instance_mib),
            "storage MiB/inst": _num(s.storage_per_instance_mib),
            "start s": _num(s.start_latency_s, "{:.2f}"),
            "seconds used": str(s.seconds_used), "runs ok/failed": f"{s.runs_ok}/{s.runs_failed}",
        })
    return rows


def format_summary(res: BenchResults) -> str:
    c = res.context
    out = [f"migrate bench — {c.date} on {c.hostname}: {c.cpu_model}, {c.cores} cores, kernel {c.kernel}, "
           f"cgroup {c.cgroup}",
           f"accelerator for VM arms: {c.accel}{' (emulated)' if c.accel == 'tcg' else ''} — {c.accel_probe}",
           f"{c.sysbench}; profile {res.settings.profile}: N={res.settings.n}, {res.settings.duration_s}s, "
           f"warm-up {res.settings.warmup_s}s, rounds {res.settings.rounds} ({'; '.join(res.settings.order)})",
           f"idle pre-check: {c.idle_check}", ""]
    for r in summary_rows(res):
        out.append(f"[{r['workload']}] {r['arm']} {r['label']}")
        for k, v in r.items():
            if k not in ("workload", "arm", "label"):
                out.append(f"    {k:<26} {v}")
    if res.gains:
        out.append("")
        out.append("utilization gain (work per host, Σ events/s):")
        for g in res.gains:
            out.append(f"    [{g.workload}] {g.name}: {_iv(g.value, pct=True)} → {g.verdict}")
    for s in res.summary:
        if s.fixed_mem_basis:
            out.append(f"fixed memory basis ({s.arm}): {s.fixed_mem_basis}")
        if s.storage_basis:
            out.append(f"storage basis ({s.arm}): {s.storage_basis}")
    if res.oltp is not None:
        from migrate.bench.oltp import format_oltp

        out += ["", format_oltp(res.oltp)]
    if res.warnings:
        out.append("")
        out += [f"WARNING: {w}" for w in res.warnings]
    return "\n".join(out) + "\n"
