"""The fleet report: one HTML page (and on request a PDF) a consultant hands over after a fleet run.

Input is a :class:`FleetReport` (members, cross-VM edges, waves) plus the per-VM documents it points
to, relative to the fleet directory. The page opens with the overview (VMs by OS and release, by
server kind, a readiness histogram, the blockers that hold back the most VMs, members with errors by stage),
then the migration waves, the capacity the fleet needs (``migrate.capacity`` fed with the sizing of
the real inventories, else the RVTools vInfo row), and the per-VM table linking each VM's inventory,
plan and stack. Exports for spreadsheets sit beside it (``migrate.fleet.exports``).

Everything the guests said (host names, kinds, blocker details) is data: the template autoescapes it,
links are built only to files inside the fleet directory, and the page forbids scripts (CSP).
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePath

from pydantic import ValidationError

from migrate import __version__
from migrate.capacity import report as capacity_report
from migrate.capacity.plan import plan as capacity_plan
from migrate.fleet import exports
from migrate.model.capacity import CapacityReport, FleetVM, HostCost
from migrate.model.fleet import FleetMember, FleetReport, stage_rank
from migrate.model.inventory import Inventory, VMSizing
from migrate.report.html import export_pdf, plt, relative_link, render, svg, write_files

log = logging.getLogger(__name__)

READINESS = ("ready", "blocked", "failed", "not-inspected")
READINESS_WORDS = {
    "ready": "ready to move",
    "blocked": "blocked",
    "failed": "inspection failed",
    "not-inspected": "not assessed yet",
}
READINESS_COLORS = {"ready": "#548235", "blocked": "#c55a11", "failed": "#a50021", "not-inspected": "#7f7f7f"}
TOP_BLOCKERS = 10
OUTPUT_NAMES = {"html": "report.html", "json": "fleet-report.json", "members_csv": "members.csv",
                "waves_csv": "waves.csv", "blockers_csv": "blockers.csv"}


@dataclass
class CapacityOptions:
    """The capacity section's host model (the same knobs as ``migrate capacity``)."""

    rule: str = "moderate"
    cores: float = 32
    memory_gib: float = 256
    headroom: float = 0.2
    reserve: int = 1
    cost_per_host: HostCost | None = None


@dataclass
class Sized:
    vm: FleetVM
    source: str  # "inventory" or "RVTools"


@dataclass
class MemberRow:
    m: FleetMember
    os: str
    wave: int | None
    links: dict[str, str]
    sizing: str
    image: str
    problem: str


@dataclass
class BlockerRow:
    kind: str
    vms: list[str]
    example: str


@dataclass
class FailureRow:
    stage: str  # inspect | plan | convert | build (MemberError.stage)
    error_class: str
    exit_code: int
    vms: list[str]
    example: str


@dataclass
class CountRow:
    label: str
    count: int
    share: float


@dataclass
class EdgeRow:
    """One cross-VM connection as the report shows it: what carried it (and where in the source guest),
    how the address was matched and why it is the target's (its guest file and line, or the RVTools row)."""

    source: str
    target: str
    address: str
    via: str
    evidence: str
    matched_by: str
    target_evidence: str


MATCHED_BY_WORDS = {"hostname": "host name", "fqdn": "FQDN", "ip": "IP address"}


@dataclass
class View:
    """Everything the template shows, computed once (the template only lays it out)."""

    fleet: str
    total: int
    readiness: dict[str, int]
    by_os: list[CountRow]
    by_kind: list[CountRow]
    blockers: list[BlockerRow]
    failures: list[FailureRow]
    members: list[MemberRow]
    waves: list[tuple[int, list[str], str]]
    unscheduled: list[str]
    edges: list[EdgeRow]
    readiness_svg: str
    capacity: CapacityReport | None = None
    capacity_ex: capacity_report.Executive | None = None
    capacity_svg: str = ""
    capacity_rows: list[list[object]] = field(default_factory=list)
    sizing_counts: dict[str, int] = field(default_factory=dict)
    unsized: list[str] = field(default_factory=list)
    sized: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # name → (vCPUs, MiB, source)


def os_label(m: FleetMember) -> str:
    if not m.distro or m.distro == "unknown":
        return "unknown" if m.state not in ("pending", "no-image", "failed") else "not inspected"
    return f"{m.distro} {m.os_version}" if m.os_version else m.distro


def _counts(labels: list[str], total: int) -> list[CountRow]:
    c = Counter(labels)
    return [CountRow(k, n, n / total if total else 0.0) for k, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]


MAX_INVENTORY_BYTES = 256 * 1024 * 1024


def _load_sizing(fleet_dir: Path, rel: str | None) -> VMSizing | None:
    """The VM sizing of a member's inventory, when its path stays inside the fleet and the document is an
    inventory; None otherwise (one bad document is one VM without sizing, never a failed report).

    Only the ``sizing`` object is validated: the report needs nothing else from an inventory, and
    validating every package and unit of thousands of inventories was most of the report's time."""
    if not rel:
        return None
    root = fleet_dir.resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_INVENTORY_BYTES:
            raise ValueError(f"larger than {MAX_INVENTORY_BYTES >> 20} MiB")
        data = json.loads(path.read_bytes())
        if not isinstance(data, dict) or data.get("kind") != Inventory.KIND:
            raise ValueError("not an inventory")
        return VMSizing.model_validate(data["sizing"]) if data.get("sizing") is not None else None
    except (OSError, ValueError, ValidationError) as exc:
        log.warning("fleet report: inventory %s not usable for sizing: %s", rel, str(exc)[:200])
        return None


def fleet_vm(m: FleetMember, s: VMSizing | None) -> Sized | None:
    """The member as a capacity-planning VM: the inventory's sizing (OVF: evidence from the export
    itself) when it has vCPUs and memory, else the RVTools vInfo row, else None."""
    if s is not None and s.vcpus and s.memory_mib:
        disk = sum(d.capacity_bytes or 0 for d in s.disks) / 2**30
        return Sized(FleetVM(name=m.name, vcpus=s.vcpus, memory_mib=s.memory_mib, disk_gib=round(disk, 2),
                             source=f"inventory ({s.source.split(':')[0]})"), "inventory")
    r = m.sizing
    if r is not None and r.cpus and r.memory_mib:
        disk = (r.provisioned_mib or r.in_use_mib or 0.0) / 1024
        return Sized(FleetVM(name=m.name, vcpus=r.cpus, memory_mib=r.memory_mib, disk_gib=round(disk, 2),
                             source="RVTools vInfo"), "RVTools")
    return None


def plot_readiness(counts: dict[str, int]) -> str:
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(11, 1.9))
    labels = [READINESS_WORDS[r] for r in READINESS]
    values = [counts.get(r, 0) for r in READINESS]
    bars = ax.barh(labels, values, color=[READINESS_COLORS[r] for r in READINESS])
    ax.invert_yaxis()
    for b, v in zip(bars, values, strict=True):
        ax.text(b.get_width() + max(values + [1]) * 0.01, b.get_y() + b.get_height() / 2, str(v), va="center")
    ax.set_xlabel("VMs")
    ax.set_xlim(0, max(values + [1]) * 1.08)
    ax.xaxis.get_major_locator().set_params(integer=True)
    return svg(fig)


def _problem(m: FleetMember) -> str:
    if m.error is not None:
        return f"{m.error.error_class} (exit {m.error.exit_code}): {exports.plain_message(m)}"
    if m.blockers:
        more = f" (+{len(m.blockers) - 1} more)" if len(m.blockers) > 1 else ""
        return m.blockers[0] + more
    if m.state == "no-image":
        return "no disk image exported yet"
    return ""


def build_view(report: FleetReport, fleet_dir: Path, out_dir: Path,
               capacity: CapacityOptions | None = None) -> View:
    report = report.canonical()
    members = report.members
    total = len(members)
    readiness = {r: sum(1 for m in members if m.readiness == r) for r in READINESS}
    waves = exports.wave_of(report)

    by_kind_vms: dict[str, list[str]] = defaultdict(list)
    examples: dict[str, str] = {}
    for m in members:
        for kind in sorted({exports.blocker_kind(b) for b in m.blockers}):
            by_kind_vms[kind].append(m.name)
        for b in m.blockers:
            examples.setdefault(exports.blocker_kind(b), exports.blocker_detail(b))
    blockers = [BlockerRow(k, v, examples.get(k, "")) for k, v in
                sorted(by_kind_vms.items(), key=lambda kv: (-len(kv[1]), kv[0]))][:TOP_BLOCKERS]

    # every member whose row holds an error, whatever its state (a converted member whose build failed too)
    fails: dict[tuple[str, str, int], list[FleetMember]] = defaultdict(list)
    for m in members:
        if m.error is not None:
            fails[(m.error.stage, m.error.error_class, m.error.exit_code)].append(m)
    failures = [FailureRow(stage, c, code, [m.name for m in ms], exports.plain_message(ms[0]))
                for (stage, c, code), ms in sorted(fails.items(), key=lambda kv: (
                    stage_rank(kv[0][0]),
                    -len(kv[1]), kv[0]))]

    sized: dict[str, Sized] = {}
    rows = []
    for m in members:
        s = fleet_vm(m, _load_sizing(fleet_dir, m.inventory_path))
        if s is not None:
            sized[m.name] = s
        links = {}
        for what, rel in (("inventory", m.inventory_path), ("plan", m.plan_path), ("stack", m.stack_path)):
            link = relative_link(Path(rel), out_dir, fleet_dir) if rel else None
            if link:
                links[what] = link
        rows.append(MemberRow(m=m, os=os_label(m), wave=waves.get(m.name), links=links,
                              sizing=f"{s.vm.vcpus} vCPU / {s.vm.memory_mib} MiB ({s.source})" if s else "—",
                              image=PurePath(m.image).name if m.image else "", problem=_problem(m)))

    view = View(
        fleet=report.fleet, total=total, readiness=readiness,
        by_os=_counts([os_label(m) for m in members], total),
        by_kind=_counts([k for m in members for k in sorted(set(m.kinds))], total),
        blockers=blockers, failures=failures, members=rows,
        waves=[(w.number, sorted(w.members), w.reason) for w in report.waves],
        unscheduled=[m.name for m in members if m.name not in waves],
        edges=[EdgeRow(e.source, e.target, e.address + (f":{e.port}" if e.port else ""), e.via, e.evidence,
                       MATCHED_BY_WORDS.get(e.matched_by, e.matched_by), e.target_evidence or "")
               for e in report.edges],
        readiness_svg=plot_readiness(readiness),
        sizing_counts=dict(Counter(s.source for s in sized.values())),
        unsized=[m.name for m in members if m.name not in sized],
        sized={n: (s.vm.vcpus, s.vm.memory_mib, s.source) for n, s in sized.items()},
    )
    if sized:
        opts = capacity or CapacityOptions()
        rep = capacity_plan([s.vm for s in sized.values()], rule=opts.rule, cores=opts.cores,  # type: ignore[arg-type]
                            memory_gib=opts.memory_gib, headroom=opts.headroom, reserve=opts.reserve,
                            fleet_source="fleet inventories and RVTools")
        rep.cost_per_host = opts.cost_per_host
        view.capacity = rep
        view.capacity_ex = capacity_report.executive(rep)
        view.capacity_svg = capacity_report.plot_hosts(rep)
        view.capacity_rows = capacity_report.summary_rows(rep)
    return view


def render_html(view: View) -> str:
    sub = f"{view.total} VMs · {view.readiness['ready']} ready · {len(view.waves)} migration waves"
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return render("fleet/report.html.j2", title=f"Fleet report: {view.fleet}", subtitle=sub, v=view,
                  generated=generated, version=__version__,
                  READINESS=READINESS, READINESS_WORDS=READINESS_WORDS, summary_head=capacity_report.SUMMARY_HEAD,
                  outputs=OUTPUT_NAMES)


def write_fleet_report(report: FleetReport, fleet_dir: Path, out_dir: Path, *,
                       capacity: CapacityOptions | None = None, pdf: bool = False) -> dict[str, Path]:
    """report.html, fleet-report.json, members.csv, waves.csv and blockers.csv in ``out_dir`` (with
    ``pdf``, report.pdf too). Links to the per-VM documents are relative to ``out_dir``."""
    fleet_dir = Path(fleet_dir)
    out_dir = Path(out_dir)
    view = build_view(report, fleet_dir, out_dir, capacity)
    images = {r.m.name: r.image for r in view.members}
    texts = {
        "html": render_html(view),
        "json": exports.report_json(report),
        "members_csv": exports.members_csv(report, view.sized, images),
        "waves_csv": exports.waves_csv(report),
        "blockers_csv": exports.blockers_csv(report.members),
    }
    written = write_files(out_dir, {OUTPUT_NAMES[k]: v for k, v in texts.items()})
    paths = {k: written[n] for k, n in OUTPUT_NAMES.items()}
    if pdf:
        paths["pdf"] = export_pdf(paths["html"], out_dir, "report.pdf")
    return paths

