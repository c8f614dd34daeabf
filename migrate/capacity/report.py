"""The capacity report a consultant hands to a client: HTML (and PDF via headless Chromium), JSON, CSV.

It opens with an executive summary (hosts today → after, the consolidation ratio defined in words,
the savings at the client's cost per host), then full-width plots whose legends sit outside the data,
then the tables a reviewer checks the numbers with. A section without data is left out rather than
shown empty: without bench results there are no benchmark plots, without utilisation percentiles no
"allocated vs used" plot. Nothing in it names a local path or an internal id: scenarios carry plain
names and inputs are named by their file name only.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from migrate.model.bench import BenchResults
from migrate.model.capacity import CapacityReport
from migrate.report.html import PALETTE, SERIES_STYLES, export_pdf, plt, render, svg, write_files

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PLOTS = ("hosts", "packing", "ecdf", "efficiency", "timeseries", "memory")
BENCH_PLOTS = ("efficiency", "timeseries", "memory")
TABLES = ("fleet-summary", "sizing", "placement", "calibration", "sensitivity")
SCENARIO_NAMES = {
    "vms-today": "VMs today",
    "containers-in-vms": "Containers in VMs",
    "containers-bare-metal": "Containers on bare metal",
}
SCENARIO_WORDS = {
    "containers-in-vms": "inside one large VM per host",
    "containers-bare-metal": "directly on the hosts (bare metal)",
}
RULE_NAMES = {"like-for-like": "like-for-like", "moderate": "moderate (p90)", "aggressive": "aggressive (p95)"}
PARAMETER_NAMES = {
    "container_cpu_efficiency": "container CPU efficiency",
    "vm_cpu_efficiency": "VM CPU efficiency",
    "container_fixed_mib": "fixed memory per container (MiB)",
    "vm_fixed_mib": "fixed memory per VM (MiB)",
}
ARM_COLORS = {"R": PALETTE[0], "A": PALETTE[1], "B": PALETTE[2], "C": PALETTE[3]}

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

FULL_WIDTH = 11.0  # inches: the figure spans the page; CSS scales the SVG to the column


def plain_sources(text: str) -> str:
    """Input names as file names only: "a/b/fleet.csv, x.json" → "fleet.csv, x.json"."""
    return ", ".join(PurePath(p.strip()).name for p in text.split(",") if p.strip())


def has_utilisation(rep: CapacityReport) -> bool:
    return any(getattr(v, k) is not None for v in rep.fleet for k in ("cpu_p90", "mem_p90", "cpu_p95", "mem_p95"))


def _legend_below(fig, axes, ncol: int) -> None:
    seen: dict[str, object] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    handles, labels = list(seen.values()), list(seen)
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol, frameon=False)


def figure_hosts(rep: CapacityReport) -> Figure:
    """Hosts needed against headroom: one panel per container scenario, today's count as the reference.
    Rules differ in line style and marker; markers are hollow and of decreasing size, so where two rules
    give the same count both stay visible."""
    pyplot = plt()
    fig, axes = pyplot.subplots(1, 2, figsize=(FULL_WIDTH, 3.4), sharey=True)
    today = sorted((c for c in rep.sensitivity if c.scenario == "vms-today" and c.rule == "like-for-like"),
                   key=lambda c: c.headroom)
    for ax, sc in zip(axes, ("containers-in-vms", "containers-bare-metal"), strict=True):
        # wide and translucent, under the rest: a rule that gives today's count shows on top of it
        ax.plot([c.headroom * 100 for c in today], [c.hosts_total for c in today], color="#7f7f7f", lw=7,
                alpha=0.35, solid_capstyle="round", zorder=1, label="VMs today")
        for i, rule in enumerate(("like-for-like", "moderate", "aggressive")):
            cells = sorted((c for c in rep.sensitivity if c.scenario == sc and c.rule == rule),
                           key=lambda c: c.headroom)
            st = SERIES_STYLES[i]
            ax.plot([c.headroom * 100 for c in cells], [c.hosts_total for c in cells], color=st["color"],
                    ls=st["ls"], marker=st["marker"], ms=10 - 3 * i, mfc="none", mew=1.4, lw=1.6,
                    label=f"containers, {RULE_NAMES[rule]}")
        ax.axvline(rep.host.headroom * 100, color="#bbbbbb", lw=0.8, ls=":")
        ax.set_title(SCENARIO_NAMES[sc])
        ax.set_xlabel("headroom kept free on each host (%)")
        ax.grid(axis="y", color="#eeeeee")
    axes[0].set_ylabel(f"hosts (incl. {rep.host.reserve} spare)")
    axes[0].set_ylim(bottom=0)
    axes[0].yaxis.get_major_locator().set_params(integer=True)
    _legend_below(fig, list(axes), ncol=4)
    return fig


def figure_packing(rep: CapacityReport) -> Figure:
    pyplot = plt()
    n = len(rep.scenarios)
    fig, axes = pyplot.subplots(n, 1, figsize=(FULL_WIDTH, 1.9 * n + 0.4), squeeze=False, sharey=True)
    for ax, s in zip(axes[:, 0], rep.scenarios, strict=True):
        idx = [h.host for h in s.hosts]
        w = 0.4
        ax.bar([i - w / 2 for i in idx], [h.cpu / rep.host.cores * 100 for h in s.hosts], w, label="CPU",
               color=PALETTE[0])
        ax.bar([i + w / 2 for i in idx], [h.memory_mib / (rep.host.memory_gib * 1024) * 100 for h in s.hosts], w,
               label="memory", color=PALETTE[1], hatch="//", edgecolor="white", lw=0)
        ax.axhline((1 - rep.host.headroom) * 100, color="#555555", ls="--", lw=1, label="fill limit (headroom)")
        ax.set_ylim(0, 105)
        ax.set_ylabel("% of host")
        ax.set_title(f"{SCENARIO_NAMES[s.name]}: {s.hosts_needed} hosts + {rep.host.reserve} spare", loc="left")
        ax.set_xlim(0.4, max(idx, default=1) + 0.6)
    axes[-1, 0].set_xlabel("host")
    axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def figure_ecdf(rep: CapacityReport) -> Figure:
    import numpy as np

    pyplot = plt()
    fig, axes = pyplot.subplots(1, 2, figsize=(FULL_WIDTH, 3.2))
    pairs = [("CPU (cores)", [v.vcpus for v in rep.fleet], [v.vcpus * (v.cpu_p90 or 100) / 100 for v in rep.fleet]),
             ("memory (GiB)", [v.memory_mib / 1024 for v in rep.fleet],
              [v.memory_mib * (v.mem_p90 or 100) / 100 / 1024 for v in rep.fleet])]
    for ax, (title, alloc, used) in zip(axes, pairs, strict=True):
        for data, lab, st in ((alloc, "allocated", SERIES_STYLES[1]), (used, "used (p90)", SERIES_STYLES[2])):
            x = np.sort(np.asarray(data, dtype=float))
            ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", label=lab, color=st["color"], ls=st["ls"],
                    lw=1.8)
        ax.set_xlabel(title)
        ax.set_ylabel("fraction of VMs")
        ax.grid(color="#eeeeee")
    _legend_below(fig, list(axes), ncol=2)
    return fig


def figure_efficiency(bench: BenchResults) -> Figure | None:
    ss = [s for s in bench.canonical().summary if s.efficiency and s.workload == bench.settings.workloads[0]]
    if not ss:
        return None
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(FULL_WIDTH, 3.2))
    xs = [f"{s.arm}: {s.label.split('[')[0].strip()[:30]}" for s in ss]
    vals = [s.efficiency.value for s in ss]
    err = [[s.efficiency.value - s.efficiency.low for s in ss], [s.efficiency.high - s.efficiency.value for s in ss]]
    ax.bar(xs, vals, yerr=err, capsize=4, color=[ARM_COLORS.get(s.arm, PALETTE[4]) for s in ss])
    for i, s in enumerate(ss):
        ax.text(i, vals[i] + 0.03, f"{vals[i]:.2f}" + (" (emulated)" if s.accel == "tcg" else ""), ha="center")
    ax.axhline(1.0, color="#7f7f7f", lw=0.8, ls="--")
    ax.set_ylim(0, 1.3)
    ax.set_ylabel("throughput / bare processes")
    return fig


def figure_timeseries(bench: BenchResults) -> Figure | None:
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(FULL_WIDTH, 3.2))
    wl = bench.settings.workloads[0]
    seen: set[str] = set()
    for run in bench.runs:
        if run.workload != wl or run.arm in seen or not run.ok:
            continue
        st = SERIES_STYLES[len(seen) % len(SERIES_STYLES)]
        seen.add(run.arm)
        for inst in run.instances:
            if inst.result:
                pts = [(r.t, r.eps) for r in inst.result.intervals if r.eps is not None]
                ax.plot([t for t, _ in pts], [e for _, e in pts], color=ARM_COLORS.get(run.arm, st["color"]),
                        ls=st["ls"], lw=1, alpha=0.85, label=f"arm {run.arm}" if inst.index == 0 else None)
    if not seen:
        pyplot.close(fig)
        return None
    ax.set_xlabel("second of the run")
    ax.set_ylabel("events/s per instance")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def figure_memory(bench: BenchResults) -> Figure | None:
    ss = [s for s in bench.canonical().summary if s.workload == bench.settings.workloads[0]
          and s.fixed_mem_per_instance_mib is not None]
    if not ss:
        return None
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(FULL_WIDTH, 3.0))
    fixed = [max(0.0, s.fixed_mem_per_instance_mib or 0.0) for s in ss]
    load = [max(0.0, (s.loaded_mem_per_instance_mib or 0) - f) for s, f in zip(ss, fixed, strict=True)]
    xs = [f"arm {s.arm}" for s in ss]
    ax.bar(xs, fixed, color=PALETTE[3], label="fixed (idle instance)")
    ax.bar(xs, load, bottom=fixed, color=PALETTE[4], hatch="//", edgecolor="white", lw=0,
           label="added under load")
    ax.set_ylabel("MiB per instance")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def plot_hosts(rep: CapacityReport) -> str:
    return svg(figure_hosts(rep))


def plot_packing(rep: CapacityReport) -> str:
    return svg(figure_packing(rep))


def plot_ecdf(rep: CapacityReport) -> str:
    return svg(figure_ecdf(rep))


def _bench_svg(fig: Figure | None) -> str | None:
    return svg(fig) if fig is not None else None


def plot_efficiency(bench: BenchResults) -> str | None:
    return _bench_svg(figure_efficiency(bench))


def plot_timeseries(bench: BenchResults) -> str | None:
    return _bench_svg(figure_timeseries(bench))


def plot_memory(bench: BenchResults) -> str | None:
    return _bench_svg(figure_memory(bench))


def ratio(before: int, after: int) -> float:
    return before / after if after else 0.0


SUMMARY_HEAD = ["scenario", "hosts needed", "hosts incl. spare", "before → after", "consolidation ratio",
                "hosts saved", "CPU demand (cores)", "memory demand (GiB)"]


def summary_rows(rep: CapacityReport) -> list[list[object]]:
    today = rep.scenario("vms-today").hosts_total
    rows: list[list[object]] = []
    for s in rep.scenarios:
        cpu = sum(i.cpu for i in s.items)
        mem = sum(i.memory_mib for i in s.items) / 1024
        rows.append([SCENARIO_NAMES[s.name], s.hosts_needed, s.hosts_total, f"{today} → {s.hosts_total}",
                     f"{ratio(today, s.hosts_total):.2f}", today - s.hosts_total, f"{cpu:.1f}", f"{mem:.1f}"])
    return rows


def _money(amount: float, currency: str) -> str:
    return f"{currency} {amount:,.0f}".replace(",", "\u2009")


@dataclass
class Executive:
    vms: int
    today: int
    after: int
    after_title: str
    after_words: str
    alt: str
    ratio: str
    saved: int
    savings_value: str
    savings_label: str
    savings_text: str


def executive(rep: CapacityReport) -> Executive:
    """The headline: containers on bare metal against VMs today (the alternative in one clause)."""
    today = rep.scenario("vms-today").hosts_total
    bm = rep.scenario("containers-bare-metal")
    inv = rep.scenario("containers-in-vms")
    saved = today - bm.hosts_total
    r = ratio(today, bm.hosts_total)
    alt = f"{SCENARIO_WORDS['containers-in-vms']} they need {inv.hosts_total}"
    cost = rep.cost_per_host
    if cost is not None:
        total = saved * cost.amount
        value = _money(total, cost.currency)
        label = f"saved per {cost.period} ({saved} hosts × {_money(cost.amount, cost.currency)})"
        if saved == 0:
            text = "The move frees no host at this size of fleet, so it saves nothing on hosts."
        elif saved > 0:
            text = (f"At {_money(cost.amount, cost.currency)} per host and {cost.period}, the {saved} hosts the move "
                    f"frees save {_money(total, cost.currency)} per {cost.period}.")
        else:
            text = (f"The move needs {-saved} more hosts: at {_money(cost.amount, cost.currency)} per host and "
                    f"{cost.period} that costs {_money(-total, cost.currency)} more per {cost.period}.")
    else:
        value, label = str(saved), "hosts saved"
        text = (f"The move frees {saved} host{'s' if saved != 1 else ''}. No cost per host was given "
                "(--cost-per-host, or cost_per_host in the project's migrate.yaml), so the savings are counted in "
                "hosts.")
    return Executive(vms=len(rep.fleet), today=today, after=bm.hosts_total, after_title=SCENARIO_NAMES[bm.name].lower(),
                     after_words=SCENARIO_WORDS[bm.name], alt=alt, ratio=f"{r:.1f}", saved=saved,
                     savings_value=value, savings_label=label, savings_text=text)


@dataclass
class _Table:
    id: str
    title: str
    head: list[str]
    rows: list[list[object]]
    numeric: set[int] = field(default_factory=set)
    text: str = ""


@dataclass
class _Figure:
    id: str
    title: str
    svg: str
    basis: str
    text: str = ""


def _basis(rep: CapacityReport) -> str:
    return (f"sizing rule {rep.rule} ({rep.rule_text}); host {rep.host.cores:g} cores / {rep.host.memory_gib:g} GiB; "
            f"headroom {rep.host.headroom:.0%}; {rep.host.reserve} spare")


def figures(rep: CapacityReport, bench: BenchResults | None) -> list[_Figure]:
    basis = _basis(rep)
    out = [
        _Figure("hosts", "Hosts needed against headroom", plot_hosts(rep),
                basis.replace(f"headroom {rep.host.headroom:.0%}; ", "")
                + f"; dotted vertical line: the {rep.host.headroom:.0%} headroom this report uses",
                "How many hosts each way of running the fleet needs as more of every host is kept free, for the "
                "three sizing rules. The grey line is today's count."),
        _Figure("packing", "How full each host is", plot_packing(rep), basis + "; dashed line: fill limit",
                "CPU and memory placed on each host by the packing, in percent of the host."),
    ]
    if has_utilisation(rep):
        out.append(_Figure("ecdf", "Allocated against used", plot_ecdf(rep),
                           f"{len(rep.fleet)} VMs; used = allocation × p90 utilisation (allocation when missing)",
                           "Share of VMs at or below each size: what the VMs were given and what they use."))
    if bench is not None:
        bench_basis = (f"bench of {bench.context.date} on {bench.context.cpu_model}, {bench.context.cores} cores, "
                       f"N={bench.settings.n}, {bench.settings.duration_s} s, accelerator {bench.context.accel}"
                       f"{' (emulated)' if bench.context.accel == 'tcg' else ''}")
        for pid, title, fn in (("efficiency", "Benchmark: efficiency per arm", plot_efficiency),
                               ("timeseries", "Benchmark: events per second over the run", plot_timeseries),
                               ("memory", "Benchmark: memory per instance", plot_memory)):
            drawn = fn(bench)
            if drawn:
                out.append(_Figure(pid, title, drawn, bench_basis))
    return out


def tables(rep: CapacityReport, bench: BenchResults | None) -> list[_Table]:
    o = rep.overheads
    cont = {i.name: i for i in rep.scenario("containers-bare-metal").items}
    util = has_utilisation(rep)
    head = ["VM", "vCPUs", "memory MiB", "disk GiB", *(["CPU p90 %", "memory p90 %"] if util else []),
            "container cores", "container MiB", "replica group", "basis"]
    sizing_rows: list[list[object]] = []
    for v in rep.canonical().fleet:
        c = cont[v.name]
        pct = [v.cpu_p90 if v.cpu_p90 is not None else "—", v.mem_p90 if v.mem_p90 is not None else "—"]
        sizing_rows.append([v.name, v.vcpus, v.memory_mib, f"{v.disk_gib:g}", *(pct if util else []),
                            f"{c.cpu:.2f}", f"{c.memory_mib:.0f}", v.group or "", c.basis])
    place_rows: list[list[object]] = []
    for s in rep.scenarios:
        for h in s.hosts:
            place_rows.append([SCENARIO_NAMES[s.name], h.host, len(h.items), f"{h.cpu:.2f} / {s.capacity_cpu:.2f}",
                               f"{h.memory_mib / 1024:.1f} / {s.capacity_memory_mib / 1024:.1f}", ", ".join(h.items)])
    calib_rows: list[list[object]] = [[PARAMETER_NAMES[k], f"{getattr(o, k):.3f}", o.sources.get(k, "")]
                                      for k in PARAMETER_NAMES]
    if bench is not None:
        from migrate.bench.summary import summary_rows as bench_rows

        for r in bench_rows(bench):
            calib_rows.append([f"bench {r['workload']} arm {r['arm']}: {r['label']}", r["efficiency vs R (95% CI)"],
                               f"events/s {r['events/s (95% CI)']}; fixed {r['fixed MiB/inst']} MiB; "
                               f"start {r['start s']} s; Jain {r['Jain']}; storage {r['storage MiB/inst']} MiB"])
    headrooms = sorted({c.headroom for c in rep.sensitivity})
    sens_rows: list[list[object]] = []
    for rule in ("like-for-like", "moderate", "aggressive"):
        for sc in SCENARIO_NAMES:
            if sc == "vms-today" and rule != "like-for-like":
                continue  # VMs keep their allocation: the rule does not change today's count
            cells = {c.headroom: c.hosts_total for c in rep.sensitivity if c.rule == rule and c.scenario == sc}
            sens_rows.append([RULE_NAMES[rule] if sc != "vms-today" else "allocation", SCENARIO_NAMES[sc],
                              *[cells.get(h, "—") for h in headrooms]])
    n_num = len(head) - 2
    return [
        _Table("sizing", f"Per-workload sizing (containers, {rep.rule} rule)", head, sizing_rows,
               set(range(1, n_num))),
        _Table("placement", "Per-host placement", ["way of running", "host", "workloads", "cores used / usable",
                                                   "GiB used / usable", "placed"], place_rows, {1, 2, 3, 4}),
        _Table("calibration", "Assumptions and calibration", ["parameter", "value", "source"], calib_rows, {1},
               "What a VM and a container cost beyond the workload itself, and where each number comes from."
               + ("" if bench else " No bench results were given: every value is a documented default.")),
        _Table("sensitivity", f"Sensitivity: hosts (incl. {rep.host.reserve} spare) by rule and headroom",
               ["sizing rule", "way of running", *[f"headroom {h:.0%}" for h in headrooms]], sens_rows,
               set(range(2, 2 + len(headrooms)))),
    ]


def render_html(rep: CapacityReport, bench: BenchResults | None = None) -> str:
    sources = plain_sources(rep.fleet_source)
    subtitle = (f"{len(rep.fleet)} VMs" + (f" from {sources}" if sources else "")
                + f" · sizing rule {rep.rule} · hosts of {rep.host.cores:g} cores / {rep.host.memory_gib:g} GiB")
    return render("capacity/report.html.j2", title="Capacity report", subtitle=subtitle, rep=rep,
                  ex=executive(rep), summary_head=SUMMARY_HEAD, summary=summary_rows(rep),
                  figures=figures(rep, bench), tables=tables(rep, bench), notes=rep.notes, literature=LITERATURE)


OUTPUT_NAMES = {"html": "capacity.html", "json": "capacity.json", "summary_csv": "capacity-summary.csv",
                "workloads_csv": "capacity-workloads.csv"}


def write_outputs(rep: CapacityReport, outdir: Path, bench: BenchResults | None = None, *,
                  pdf: bool = False) -> dict[str, Path]:
    """capacity.html, capacity.json, capacity-summary.csv and capacity-workloads.csv in ``outdir``;
    with ``pdf``, capacity.pdf printed from the HTML by headless Chromium."""
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
            w.writerow([SCENARIO_NAMES[s.name], i.name, where.get(i.name, "unplaced"), i.cpu, i.memory_mib,
                        i.group or "", i.basis])
    texts = {"html": render_html(rep, bench), "json": rep.to_json(), "summary_csv": summary.getvalue(),
             "workloads_csv": workloads.getvalue()}
    # the report names VMs from inventories: written like every output, never through a link (issue 8)
    written = write_files(outdir, {OUTPUT_NAMES[k]: v for k, v in texts.items()})
    paths = {key: written[name] for key, name in OUTPUT_NAMES.items()}
    if pdf:
        paths["pdf"] = export_pdf(paths["html"], outdir, "capacity.pdf")
    return paths
