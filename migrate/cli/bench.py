"""`migrate bench`: thin wrapper over migrate.bench.runner."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from migrate.bench.runner import PROFILES, run_bench
from migrate.bench.summary import format_summary
from migrate.errors import OutputError
from migrate.model.bench import BenchResults, BenchSettings


class Accel(str, Enum):
    auto = "auto"
    kvm = "kvm"
    tcg = "tcg"


class IdlePolicy(str, Enum):
    refuse = "refuse"
    flag = "flag"
    skip = "skip"


def bench(
    profile: Annotated[str, typer.Option(help=f"Preset: {', '.join(f'{k} ({p.description})' for k, p in PROFILES.items())}")] = "quick",
    n: Annotated[int | None, typer.Option("--n", "-n", help="Instances per arm (default from profile: 4 = 2 × cores)")] = None,
    duration: Annotated[int | None, typer.Option(help="Seconds of sysbench per arm run")] = None,
    warmup: Annotated[int | None, typer.Option(help="Leading seconds dropped from the analysis")] = None,
    workload: Annotated[list[str] | None, typer.Option("--workload", "-w", help="cpu, memory, threads (repeatable)")] = None,
    arms: Annotated[str, typer.Option(help="Arms to run: R bare, A N VMs, B N containers, C one VM with N containers")] = "R,B,A,C",
    rounds: Annotated[int | None, typer.Option(help="Interleaved rounds (R→B→A→C, then reversed, ...)")] = None,
    memory: Annotated[int | None, typer.Option(help="MiB per instance (VM -m, container mem_limit)")] = None,
    accel: Annotated[Accel, typer.Option(help="VM accelerator; auto probes KVM briefly and falls back to TCG")] = Accel.auto,
    idle_check: Annotated[IdlePolicy, typer.Option(help="Busy machine before the run: refuse, flag (warn) or skip the check")] = IdlePolicy.refuse,
    allow_busy: Annotated[bool, typer.Option(help="Same as --idle-check flag")] = False,
    idle_threshold: Annotated[float, typer.Option(help="Busy cores above which the machine is not idle")] = 0.25,
    output: Annotated[Path, typer.Option("--output", "-o", help="Results JSON to write")] = Path("bench-results.json"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the results JSON instead of the summary")] = False,
) -> None:
    """Measure VM vs container consolidation with sysbench (one artifact for every arm)."""
    if profile not in PROFILES:
        raise typer.BadParameter(f"unknown profile {profile!r}")
    p = PROFILES[profile]
    settings = BenchSettings(
        profile=profile, n=n or p.n, duration_s=duration or p.duration_s,
        warmup_s=p.warmup_s if warmup is None else warmup, workloads=workload or list(p.workloads),
        arms=[a.strip().upper() for a in arms.split(",") if a.strip()], rounds=rounds or p.rounds,
        memory_mib=memory or p.memory_mib)
    console = Console(stderr=True)
    policy = "flag" if allow_busy and idle_check == IdlePolicy.refuse else idle_check.value
    with console.status("starting") as status:
        def on_event(kind: str, msg: str) -> None:
            if kind == "sample":
                status.update(msg)
            else:
                console.log(msg, markup=False)

        results = run_bench(settings, accel=accel.value, idle_policy=policy, idle_threshold=idle_threshold,
                            on_event=on_event)
    try:
        output.write_text(results.to_json())
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror}", path=str(output)) from exc
    if as_json:
        typer.echo(results.to_json(), nl=False)
    else:
        Console().print(format_summary(results), markup=False, highlight=False)
        console.print(f"results written to {output}")


def bench_summary(
    results: Annotated[Path, typer.Argument(help="A bench-results JSON written by `migrate bench`")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary block as JSON")] = False,
) -> None:
    """Print the summary of an existing bench results file."""
    res = BenchResults.load(results)
    if as_json:
        import json

        typer.echo(json.dumps([s.model_dump(mode="json") for s in res.canonical().summary], indent=2, sort_keys=True))
    else:
        Console().print(format_summary(res), markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
    app.command("bench-summary")(bench_summary)
