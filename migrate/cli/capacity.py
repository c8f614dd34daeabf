"""`migrate capacity`: thin wrapper over migrate.capacity."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from migrate.capacity.fleet import from_inventories, load_csv
from migrate.capacity.plan import plan
from migrate.capacity.report import SUMMARY_HEAD, summary_rows, write_outputs
from migrate.errors import UsageError
from migrate.model.bench import BenchResults
from migrate.model.capacity import HostCost


class CostPeriod(StrEnum):
    month = "month"
    year = "year"


class SizingRule(StrEnum):
    like_for_like = "like-for-like"
    moderate = "moderate"
    aggressive = "aggressive"


# The host and cost options, shared with `migrate fleet report` (its capacity section is this report).
Rule = Annotated[SizingRule, typer.Option(help="like-for-like, moderate (p90+15 %), aggressive (p95)")]
HostCores = Annotated[float, typer.Option(help="Cores per physical host", min=0.01)]
HostMemory = Annotated[float, typer.Option(help="GiB of memory per physical host", min=0.01)]
Headroom = Annotated[float, typer.Option(help="Fraction of each host kept free (0.2 = fill to 80 %)", min=0, max=0.95)]
Reserve = Annotated[int, typer.Option(help="Spare hosts (N+k)", min=0)]
CostPerHost = Annotated[float | None, typer.Option(
    min=0, metavar="AMOUNT", help="What one host costs, for the savings (else cost_per_host in migrate.yaml)")]
Currency = Annotated[str | None, typer.Option(metavar="CODE", help="Currency of --cost-per-host (EUR)")]
CostPeriodOpt = Annotated[CostPeriod | None, typer.Option(help="--cost-per-host is per month or per year (year)")]


def capacity(
    inventory: Annotated[list[Path] | None, typer.Argument(help="Inventory JSON files (their VM sizing)")] = None,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="CSV of VMs: name, vcpus, memory_mib, disk_gib, "
                                                  "optional cpu_/mem_ p50/p90/p95/peak (%), group")] = None,
    bench: Annotated[Path | None, typer.Option(
        help="bench-results JSON for measured overheads (else defaults)")] = None,
    rule: Rule = SizingRule.moderate,
    host_cores: HostCores = 32,
    host_memory: HostMemory = 256,
    headroom: Headroom = 0.2,
    reserve: Reserve = 1,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Directory for capacity.html/.json/.csv")] = Path("capacity-report"),
    cost_per_host: CostPerHost = None,
    currency: Currency = None,
    cost_period: CostPeriodOpt = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="Also print capacity.pdf (headless Chromium)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report JSON")] = False,
) -> None:
    """Plan hosts for a fleet: VMs today vs containers in VMs vs containers on bare metal."""
    if not inventory and not csv_file:
        raise UsageError("give inventories or --csv")
    fleet = (load_csv(csv_file) if csv_file else []) + (from_inventories(list(inventory)) if inventory else [])
    # inputs are named by file name only: the report goes to a client, local paths stay here
    source = ", ".join(([csv_file.name] if csv_file else []) + [p.name for p in inventory or []])
    res = BenchResults.load(bench) if bench else None
    rep = plan(fleet, rule=rule.value, cores=host_cores, memory_gib=host_memory, headroom=headroom, reserve=reserve,
               bench=res, bench_source=bench.name if bench else None, fleet_source=source)
    rep.cost_per_host = host_cost(cost_per_host, currency, cost_period)
    paths = write_outputs(rep, output, res, pdf=pdf)
    if as_json:
        typer.echo(rep.to_json(), nl=False)
        return
    console = Console()
    t = Table(title=f"capacity ({rep.rule}, headroom {rep.host.headroom:.0%}, N+{rep.host.reserve})")
    for h in SUMMARY_HEAD:
        t.add_column(h)
    for row in summary_rows(rep):
        t.add_row(*[str(c) for c in row])
    console.print(t)
    for n in rep.notes:
        console.print(f"note: {n}", markup=False)
    # plain lines, never wrapped: a path is copied from here into the next command
    typer.echo(f"report: {paths['html']}")
    if "pdf" in paths:
        typer.echo(f"pdf: {paths['pdf']}")


def host_cost(amount: float | None, currency: str | None, period: CostPeriod | None) -> HostCost | None:
    """The cost per host from the options, else from the project config (migrate.yaml); options win
    field by field, so ``--currency USD`` alone re-labels the configured amount."""
    from migrate.config import load_project_config

    configured = load_project_config(Path.cwd()).cost_per_host
    if amount is None and configured is None:
        if currency or period:
            raise UsageError("--currency and --cost-period need --cost-per-host (or cost_per_host in migrate.yaml)")
        return None
    return HostCost(amount=amount if amount is not None else configured.amount,
                    currency=currency or (configured.currency if configured else "EUR"),
                    period=(period.value if period else None) or (configured.period if configured else "year"))


def register(app: typer.Typer) -> None:
    app.command("capacity")(capacity)
