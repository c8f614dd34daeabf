"""The capacity report: self-contained HTML (tables + matplotlib plots as inline SVG), JSON and CSV.

Every figure carries its basis (sizing rule and percentile, headroom, accelerator of the bench, date)
in its caption, and published numbers stay in a separate literature box.
"""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path

from migrate.errors import OutputError
from migrate.fsutil import ConfinedDir
from migrate.model.bench import BenchResults
from migrate.model.capacity import CapacityReport

PLOTS = ("efficiency", "timeseries", "memory", "ecdf", "packing", "hosts")
TABLES = ("fleet-summary", "sizing", "placement", "calibration", "sensitivity")
COLORS = {"R": "#4c72b0", "A": "#dd8452", "B": "#55a868", "C": "#c44e52",
          "vms-today": "#dd8452", "containers-in-vms": "#c44e52", "containers-bare-metal": "#55a868"}

LITERATURE = [
    ("HPE + Docker reference configuration, 2017 (sysbench MySQL OLTP, VMware, Docker 1.12)",
     "8 VMs → 1 VM with 8 containers: +25 % utilization, −30 % storage, −7 % RAM; 8 VMs → 8 containers on bare "
     "metal: +47 % utilization (with tuning; without it, worse). Not re-checkable from the whitepaper."),
    ("Felter et al., IBM Research 2014 / ISPASS 2015",
     "Linpack native ≈ 290.8 GFLOPS, Docker the same, tuned KVM 284.2 (≈ −2 %); 4 KiB random IOPS on KVM about "
     "half of native; MySQL OLTP on KVM > 40 % overhead."),
    ("Percona 2016", "MySQL in Docker behind NAT 2,200 tps vs 7,100 bare; with host networking 7,100."),
    ("Firecracker specification / Kata", "≤ 5 MiB VMM overhead, ≤ 125 ms to guest init, > 95 % of bare metal CPU; "
     "Kata pods reserve 160 MiB and 0.25 CPU each."),
]


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "migrate", "font.size": 9})
    return plt


def plot_efficiency(bench: BenchResults | None, rep: CapacityReport) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3))
    if bench and any(s.efficiency for s in bench.summary):
        ss = [s for s in bench.canonical().summary if s.efficiency and s.workload == bench.settings.workloads[0]]
        xs = [f"{s.arm}\n{s.label.split('[')[0].strip()[:22]}" for s in ss]
        vals = [s.efficiency.value for s in ss]
        err = [[s.efficiency.value - s.efficiency.low for s in ss],
               [s.efficiency.high - s.efficiency.value for s in ss]]
        ax.bar(xs, vals, yerr=err, capsize=4, color=[COLORS[s.arm] for s in ss])
        for i, s in enumerate(ss):
            ax.text(i, vals[i] + 0.02, f"{vals[i]:.2f}" + (" (TCG)" if s.accel == "tcg" else ""), ha="center")
        ax.set_ylabel("throughput / bare (R)")
    else:
        o = rep.overheads
        ax.bar(["containers", "VMs"], [o.container_cpu_efficiency, o.vm_cpu_efficiency],
               color=[COLORS["B"], COLORS["A"]])
        ax.set_ylabel("CPU efficiency (defaults)")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_ylim(0, 1.25)
    return _svg(fig)


def plot_timeseries(bench: BenchResults | None) -> str | None:
    if not bench:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3))
    wl = bench.settings.workloads[0]
    seen = set()
    for run in bench.runs:
        if run.workload != wl or run.arm in seen or not run.ok:
            continue
        seen.add(run.arm)
        for inst in run.instances:
            if inst.result:
                ts = [r.t for r in inst.result.intervals if r.eps is not None]
                es = [r.eps for r in inst.result.intervals if r.eps is not None]
                ax.plot(ts, es, color=COLORS[run.arm], lw=1, alpha=0.8,
                        label=f"{run.arm}" if inst.index == 0 else None)
    ax.set_xlabel("second of the run")
    ax.set_ylabel("events/s per instance")
    ax.legend(title="arm", fontsize=7)
    return _svg(fig)


def plot_memory(bench: BenchResults | None, rep: CapacityReport) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3))
    if bench and any(s.fixed_mem_per_instance_mib is not None for s in bench.summary):
        ss = [s for s in bench.canonical().summary if s.workload == bench.settings.workloads[0]
              and s.fixed_mem_per_instance_mib is not None]
        fixed = [max(0.0, s.fixed_mem_per_instance_mib) for s in ss]
        load = [max(0.0, (s.loaded_mem_per_instance_mib or 0) - f) for s, f in zip(ss, fixed, strict=True)]
        xs = [s.arm for s in ss]
        ax.bar(xs, fixed, color="#8172b3", label="fixed (idle instance)")
        ax.bar(xs, load, bottom=fixed, color="#ccb974", label="added under load")
    else:
        o = rep.overheads
        ax.bar(["VM", "container"], [o.vm_fixed_mib, o.container_fixed_mib], color="#8172b3", label="fixed (defaults)")
    ax.set_ylabel("MiB per instance")
    ax.legend(fontsize=7)
    return _svg(fig)


def plot_ecdf(rep: CapacityReport) -> str:
    plt = _plt()
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    pairs = [("CPU (cores)", [v.vcpus for v in rep.fleet], [v.vcpus * (v.cpu_p90 or 100) / 100 for v in rep.fleet]),
             ("memory (GiB)", [v.memory_mib / 1024 for v in rep.fleet],
              [v.memory_mib * (v.mem_p90 or 100) / 100 / 1024 for v in rep.fleet])]
    for ax, (title, alloc, used) in zip(axes, pairs, strict=True):
        for data, lab, col in ((alloc, "allocated", "#dd8452"), (used, "used (p90)", "#55a868")):
            x = np.sort(np.asarray(data, dtype=float))
            ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", label=lab, color=col)
        ax.set_xlabel(title)
        ax.set_ylabel("fraction of VMs")
        ax.legend(fontsize=7)
    return _svg(fig)


def plot_packing(rep: CapacityReport) -> str:
    plt = _plt()
    fig, axes = plt.subplots(len(rep.scenarios), 1, figsize=(8, 2.1 * len(rep.scenarios)), squeeze=False)
    for ax, s in zip(axes[:, 0], rep.scenarios, strict=True):
        idx = [h.host for h in s.hosts]
        total_cpu = rep.host.cores
        total_mem = rep.host.memory_gib * 1024
        w = 0.4
        ax.bar([i - w / 2 for i in idx], [h.cpu / total_cpu * 100 for h in s.hosts], w, label="CPU", color="#4c72b0")
        ax.bar([i + w / 2 for i in idx], [h.memory_mib / total_mem * 100 for h in s.hosts], w, label="memory",
               color="#8172b3")
        ax.axhline((1 - rep.host.headroom) * 100, color="grey", ls="--", lw=0.8)
        ax.set_ylim(0, 105)
        ax.set_ylabel("% of host")
        ax.set_title(f"{s.title}: {s.hosts_needed} hosts + {rep.host.reserve} reserve", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("host")
    fig.tight_layout()
    return _svg(fig)


def plot_hosts(rep: CapacityReport) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3))
    for sc in ("vms-today", "containers-in-vms", "containers-bare-metal"):
        for rule, ls in (("like-for-like", ":"), ("moderate", "-"), ("aggressive", "--")):
            cells = sorted((c for c in rep.sensitivity if c.scenario == sc and c.rule == rule),
                           key=lambda c: c.headroom)
            if sc == "vms-today" and rule != "like-for-like":
                continue
            ax.plot([c.headroom * 100 for c in cells], [c.hosts_total for c in cells], ls=ls, marker="o", ms=3,
                    color=COLORS[sc], label=f"{sc} ({rule})" if sc != "vms-today" else sc)
    ax.set_xlabel("headroom (%)")
    ax.set_ylabel(f"hosts incl. N+{rep.host.reserve}")
    ax.legend(fontsize=6)
    return _svg(fig)


def _table(tid: str, head: list[str], rows: list[list[object]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table id="{tid}" data-table="{tid}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def summary_rows(rep: CapacityReport) -> list[list[object]]:
    today = rep.scenario("vms-today").hosts_total
    rows = []
    for s in rep.scenarios:
        ratio = today / s.hosts_total if s.hosts_total else 0
        cpu = sum(i.cpu for i in s.items)
        mem = sum(i.memory_mib for i in s.items) / 1024
        rows.append([s.name, s.title, s.hosts_needed, s.hosts_total, f"{today} → {s.hosts_total}", f"{ratio:.2f}",
                     f"{(1 - s.hosts_total / today) * 100:.0f} %" if today else "—", f"{cpu:.1f}", f"{mem:.1f}"])
    return rows


SUMMARY_HEAD = ["scenario", "title", "hosts needed", "hosts with reserve", "before → after", "consolidation ratio",
                "host savings", "CPU demand (cores)", "memory demand (GiB)"]


def render_html(rep: CapacityReport, bench: BenchResults | None = None) -> str:
    o = rep.overheads
    basis = (f"sizing rule {rep.rule} ({rep.rule_text}); host {rep.host.cores:g} cores / {rep.host.memory_gib:g} GiB; "
             f"headroom {rep.host.headroom:.0%}; N+{rep.host.reserve}; "
             f"bench accel {rep.bench_accel or 'n/a (defaults)'}{' (emulated)' if rep.bench_accel == 'tcg' else ''}; "
             f"generated {rep.generated}")
    bench_basis = (f"bench {rep.bench_source}: {bench.context.date}, {bench.context.cpu_model}, {bench.context.cores} "
                   f"cores, N={bench.settings.n}, {bench.settings.duration_s}s, accel={bench.context.accel}"
                   f"{' (emulated)' if bench.context.accel == 'tcg' else ''}; bars: mean of 1 s totals, "
                   "whiskers: bootstrap 95 %") if bench else "no bench results: documented defaults"
    figs = {
        "efficiency": ("Efficiency per arm (throughput relative to bare processes)", plot_efficiency(bench, rep),
                       bench_basis),
        "timeseries": ("Per-instance events/s, first round of each arm", plot_timeseries(bench), bench_basis),
        "memory": ("Memory per instance, stacked by component", plot_memory(bench, rep), bench_basis),
        "ecdf": ("Fleet ECDF: allocated vs used (p90)", plot_ecdf(rep),
                 f"fleet {rep.fleet_source}, {len(rep.fleet)} VMs; used = allocation × p90 (allocation when missing); "
                 f"generated {rep.generated}"),
        "packing": ("Per-host packing (fill of each host)", plot_packing(rep), basis + "; dashed line: headroom limit"),
        "hosts": ("Hosts needed vs headroom", plot_hosts(rep), basis.replace(f"headroom {rep.host.headroom:.0%}; ", "")
                  + "; dotted like-for-like, solid moderate, dashed aggressive"),
    }
    parts = []
    for pid, (title, svg, b) in figs.items():
        content = svg if svg else '<p class="missing">no bench results: nothing to plot</p>'
        parts.append(f'<figure data-plot="{pid}" id="plot-{pid}"><h3>{html.escape(title)}</h3>{content}'
                     f"<figcaption>Basis: {html.escape(b)}</figcaption></figure>")
    sizing_rows = []
    cont = {i.name: i for i in rep.scenario("containers-bare-metal").items}
    for v in rep.canonical().fleet:
        c = cont[v.name]
        sizing_rows.append([v.name, v.vcpus, v.memory_mib, f"{v.disk_gib:g}",
                            v.cpu_p90 if v.cpu_p90 is not None else "—",
                            v.mem_p90 if v.mem_p90 is not None else "—", f"{c.cpu:.2f}", f"{c.memory_mib:.0f}",
                            v.group or "", c.basis])
    place_rows = []
    for s in rep.scenarios:
        for h in s.hosts:
            place_rows.append([s.name, h.host, len(h.items), f"{h.cpu:.2f} / {s.capacity_cpu:.2f}",
                               f"{h.memory_mib / 1024:.1f} / {s.capacity_memory_mib / 1024:.1f}", ", ".join(h.items)])
    calib_rows = [[k, f"{getattr(o, k):.3f}", o.sources.get(k, "")] for k in
                  ("container_cpu_efficiency", "vm_cpu_efficiency", "container_fixed_mib", "vm_fixed_mib")]
    if bench:
        from migrate.bench.summary import summary_rows as bench_rows

        for r in bench_rows(bench):
            calib_rows.append([f"bench {r['workload']} arm {r['arm']}: {r['label']}",
                               r["efficiency vs R (95% CI)"],
                               f"events/s {r['events/s (95% CI)']}; fixed {r['fixed MiB/inst']} MiB; "
                               f"start {r['start s']} s; Jain {r['Jain']}; storage {r['storage MiB/inst']} MiB"])
    headrooms = sorted({c.headroom for c in rep.sensitivity})
    sens_rows = []
    for rule in ("like-for-like", "moderate", "aggressive"):
        for sc in ("vms-today", "containers-in-vms", "containers-bare-metal"):
            cells = {c.headroom: c.hosts_total for c in rep.sensitivity if c.rule == rule and c.scenario == sc}
            sens_rows.append([rule, sc, *[cells.get(h, "—") for h in headrooms]])
    lit = "".join(f"<li><b>{html.escape(a)}</b>: {html.escape(b)}</li>" for a, b in LITERATURE)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in rep.notes)
    css = ("body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0;"
           "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}figure{margin:1.5em 0}"
           "figcaption{font-size:11px;color:#444}"
           ".literature{border:2px dashed #999;padding:0.5em 1em;background:#f7f7f7}"
           "svg{max-width:100%;height:auto}")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>migrate capacity report</title><style>{css}</style></head>
<body>
<h1>Capacity report</h1>
<p>Basis: {html.escape(basis)}. Fleet: {html.escape(rep.fleet_source)} ({len(rep.fleet)} VMs).</p>
<ul class="notes">{notes}</ul>
<h2>Fleet summary</h2>
{_table("fleet-summary", SUMMARY_HEAD, summary_rows(rep))}
<h2>Plots</h2>
{''.join(parts)}
<h2>Per-workload sizing (containers, {html.escape(rep.rule)})</h2>
{_table("sizing", ["name", "vCPUs", "memory MiB", "disk GiB", "cpu p90 %", "mem p90 %", "container cores",
                   "container MiB", "group", "basis"], sizing_rows)}
<h2>Per-host placement</h2>
{_table("placement", ["scenario", "host", "workloads", "cores used / usable", "GiB used / usable",
                      "placed"], place_rows)}
<h2>Benchmark calibration</h2>
{_table("calibration", ["parameter", "value", "source"], calib_rows)}
<h2>Sensitivity (hosts incl. N+{rep.host.reserve}; percentile rule × headroom)</h2>
{_table("sensitivity", ["rule", "scenario", *[f"headroom {h:.0%}" for h in headrooms]], sens_rows)}
<div class="literature" id="literature">
<h2>Literature (published numbers, not our measurements)</h2><ul>{lit}</ul></div>
</body></html>
"""


def write_outputs(rep: CapacityReport, outdir: Path, bench: BenchResults | None = None) -> dict[str, Path]:
    """capacity.html, capacity.json, capacity-summary.csv and capacity-workloads.csv in ``outdir``."""
    names = {"html": "capacity.html", "json": "capacity.json", "summary_csv": "capacity-summary.csv",
             "workloads_csv": "capacity-workloads.csv"}
    summary = io.StringIO(newline="")
    w = csv.writer(summary)
    w.writerow(SUMMARY_HEAD)
    w.writerows(summary_rows(rep))
    workloads = io.StringIO(newline="")
    w = csv.writer(workloads)
    w.writerow(["scenario", "name", "host", "cores", "memory_mib", "group", "basis"])
    for s in rep.scenarios:
        where = {n: h.host for h in s.hosts for n in h.items}
        for i in sorted(s.items, key=lambda i: i.name):
            w.writerow([s.name, i.name, where.get(i.name, "unplaced"), i.cpu, i.memory_mib, i.group or "", i.basis])
    texts = {"html": render_html(rep, bench), "json": rep.to_json(), "summary_csv": summary.getvalue(),
             "workloads_csv": workloads.getvalue()}
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write report: {exc.strerror}", path=str(outdir)) from exc
    # the report names VMs from inventories: written like every output, never through a link (issue 8)
    with ConfinedDir(outdir) as out:
        for key, name in names.items():
            out.write_bytes(name, texts[key].encode())
    return {key: outdir / name for key, name in names.items()}
