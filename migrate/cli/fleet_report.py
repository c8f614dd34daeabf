"""`migrate fleet report`: the fleet's HTML report (and PDF), CSV and JSON exports (migrate.fleet.report)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from migrate.cli.capacity import (
    CostPerHost,
    CostPeriodOpt,
    Currency,
    Headroom,
    HostCores,
    HostMemory,
    Reserve,
    Rule,
    SizingRule,
    host_cost,
)
from migrate.cli.common import console, print_json
from migrate.model.fleet import FleetReport


def load_fleet_report(fleet: Path) -> FleetReport:
    """The FleetReport of a fleet directory: the members from its store, the cross-VM edges and waves
    from the fleet graph when that stage is installed (``migrate.fleet.waves.fleet_report``)."""
    from migrate.fleet.store import FleetStore

    with FleetStore.open(fleet) as store:
        try:
            from migrate.fleet.waves import fleet_report
        except ModuleNotFoundError as exc:
            if exc.name != "migrate.fleet.waves":
                raise
            return FleetReport(fleet=fleet.resolve().name, members=store.members())
        return fleet_report(store, fleet)


def report(
    fleet: Annotated[Path, typer.Argument(help="The fleet directory (holds fleet.db and members/).",
                                          show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Directory for report.html and the exports (default: FLEET/report)",
        show_default=False)] = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="Also print report.pdf (headless Chromium)")] = False,
    rule: Rule = SizingRule.moderate,
    host_cores: HostCores = 32,
    host_memory: HostMemory = 256,
    headroom: Headroom = 0.2,
    reserve: Reserve = 1,
    cost_per_host: CostPerHost = None,
    currency: Currency = None,
    cost_period: CostPeriodOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the written files as JSON")] = False,
) -> None:
    """Write the fleet report: overview, blockers, waves, capacity, a table of every VM, CSV/JSON exports."""
    from migrate.fleet.report import CapacityOptions, write_fleet_report

    doc = load_fleet_report(fleet)
    out = output if output is not None else fleet / "report"
    opts = CapacityOptions(rule=rule.value, cores=host_cores, memory_gib=host_memory, headroom=headroom,
                           reserve=reserve, cost_per_host=host_cost(cost_per_host, currency, cost_period))
    paths = write_fleet_report(doc, fleet, out, capacity=opts, pdf=pdf)
    if as_json:
        print_json({k: str(p) for k, p in paths.items()})
        return
    counts: dict[str, int] = {}
    for m in doc.members:
        counts[m.readiness] = counts.get(m.readiness, 0) + 1
    console.print(f"{len(doc.members)} VMs: " + ", ".join(f"{n} {r}" for r, n in sorted(counts.items())),
                  markup=False)
    # plain lines, never wrapped: a path is copied from here into the next command
    typer.echo(f"report: {paths['html']}")
    if "pdf" in paths:
        typer.echo(f"pdf: {paths['pdf']}")


def _run_stage(fleet: Path) -> None:
    from migrate.fleet.report import write_fleet_report

    write_fleet_report(load_fleet_report(fleet), fleet, fleet / "report")


def register(fleet_app: typer.Typer) -> None:
    fleet_app.command("report")(report)
    from migrate.cli.fleet import RUN_STAGES, add_run_stage

    if not any(name == "report" for name, _ in RUN_STAGES):
        add_run_stage("report", _run_stage)
