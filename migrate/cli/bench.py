"""`migrate bench`: thin wrapper over migrate.bench.runner."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from migrate.bench.runner import PROFILES, run_bench
from migrate.bench.summary import format_summary
from migrate.cli.common import clip, err_console
from migrate.errors import OutputError
from migrate.model.bench import BenchResults, BenchSettings


class Accel(str, Enum):  # noqa: UP042 - typer option values
    auto = "auto"
    kvm = "kvm"
    tcg = "tcg"


class IdlePolicy(str, Enum):  # noqa: UP042 - typer option values
    refuse = "refuse"
    flag = "flag"
    skip = "skip"


def bench(
    profile: Annotated[str, typer.Option(
        help=f"Preset: {', '.join(f'{k} ({p.description})' for k, p in PROFILES.items())}")] = "quick",
    n: Annotated[int | None, typer.Option(
        "--n", "-n", help="Instances per arm (default from profile: 4 = 2 × cores)")] = None,
    duration: Annotated[int | None, typer.Option(help="Seconds of sysbench per arm run")] = None,
    warmup: Annotated[int | None, typer.Option(help="Leading seconds dropped from the analysis")] = None,
    workload: Annotated[list[str] | None, typer.Option(
        "--workload", "-w", help="cpu, memory, threads, oltp (repeatable; oltp needs --stack)")] = None,
    arms: Annotated[str, typer.Option(
        help="Arms to run: R bare, A N VMs, B N containers, C one VM with N containers")] = "R,B,A,C",
    rounds: Annotated[int | None, typer.Option(help="Interleaved rounds (R→B→A→C, then reversed, ...)")] = None,
    memory: Annotated[int | None, typer.Option(help="MiB per instance (VM -m, container mem_limit)")] = None,
    accel: Annotated[Accel, typer.Option(
        help="VM accelerator; auto probes KVM briefly and falls back to TCG")] = Accel.auto,
    idle_check: Annotated[IdlePolicy, typer.Option(
        help="Busy machine before the run: refuse, flag (warn) or skip the check")] = IdlePolicy.refuse,
    allow_busy: Annotated[bool, typer.Option(help="Same as --idle-check flag")] = False,
    idle_threshold: Annotated[float, typer.Option(help="Busy cores above which the machine is not idle")] = 0.25,
    output: Annotated[Path, typer.Option("--output", "-o", help="Results JSON to write")] = Path("bench-results.json"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the results JSON instead of the summary")] = False,
    stack: Annotated[Path | None, typer.Option(help="OLTP: a stack directory written by `migrate convert` (its "
                                               "PostgreSQL data imported); implies --workload oltp")] = None,
    project: Annotated[str | None, typer.Option(help="OLTP: Compose project of the stack (default: its name)")] = None,
    service: Annotated[str | None, typer.Option(help="OLTP: the PostgreSQL service (default: detected)")] = None,
    data: Annotated[Path | None, typer.Option(help="OLTP: a `migrate data export` directory for the VM-way arm "
                                              "(default: export from the images in inventory.json)")] = None,
    threads: Annotated[int, typer.Option(help="OLTP: sysbench client threads")] = 2,
    tables: Annotated[int, typer.Option(help="OLTP: sysbench tables in the separate migrate_bench database")] = 4,
    table_size: Annotated[int, typer.Option(help="OLTP: rows per table")] = 10000,
    oltp_arms: Annotated[str, typer.Option(help="OLTP arms: vm-way, published-port, stack-network")] = (
        "vm-way,published-port,stack-network"),
) -> None:
    """Measure VM vs container consolidation with sysbench (one artifact for every arm); with --stack,
    sysbench OLTP against a migrated stack's PostgreSQL vs the same database run the VM way."""
    from migrate.bench.oltp import OltpOptions, oltp_only_results, run_oltp

    if profile not in PROFILES:
        raise typer.BadParameter(f"unknown profile {profile!r}")
    p = PROFILES[profile]
    wanted = list(workload or ([] if stack is not None else list(p.workloads)))
    if stack is not None and "oltp" not in wanted:
        wanted.append("oltp")
    console = err_console  # the shared stderr console: -q and --log-format json apply
    pre_warnings: list[str] = []
    if "oltp" in wanted and stack is None:
        if workload:
            raise typer.BadParameter("the oltp workload needs --stack DIR (a stack written by `migrate convert`)")
        wanted.remove("oltp")
        pre_warnings.append(f"profile {profile}: oltp skipped (no --stack DIR given)")
    others = [w for w in wanted if w != "oltp"]
    settings = BenchSettings(
        profile=profile, n=n or p.n, duration_s=duration or p.duration_s,
        warmup_s=p.warmup_s if warmup is None else warmup, workloads=others,
        arms=[a.strip().upper() for a in arms.split(",") if a.strip()], rounds=rounds or p.rounds,
        memory_mib=memory or p.memory_mib)
    defaults = OltpOptions()
    oltp_opts = OltpOptions(
        threads=threads, duration_s=duration or defaults.duration_s,
        warmup_s=defaults.warmup_s if warmup is None else warmup, rounds=rounds or defaults.rounds,
        tables=tables, table_size=table_size, arms=tuple(a.strip() for a in oltp_arms.split(",") if a.strip()))
    policy = "flag" if allow_busy and idle_check == IdlePolicy.refuse else idle_check.value
    with console.status("starting") as status:
        def on_event(kind: str, msg: str) -> None:
            if kind == "sample":
                status.update(msg)
            else:
                console.log(msg, markup=False)

        if others:
            results = run_bench(settings, accel=accel.value, idle_policy=policy, idle_threshold=idle_threshold,
                                on_event=on_event)
        else:
            results = oltp_only_results(profile, oltp_opts, idle_policy=policy, idle_threshold=idle_threshold)
        results.warnings += pre_warnings
        if "oltp" in wanted and stack is not None:
            results.oltp = run_oltp(stack, oltp_opts, project=project, service=service, data_export=data,
                                    on_event=on_event)
            if "oltp" not in results.settings.workloads:
                results.settings.workloads.append("oltp")
            results.context.sysbench_options["oltp"] = results.oltp.sysbench_options
            if not others:
                results.settings.order = [f"oltp: {o}" for o in results.oltp.order]
            for r in results.oltp.runs:
                if not r.ok:
                    results.warnings.append(f"oltp round {r.round + 1} arm {r.arm} failed: {clip(r.error or '', 300)}")
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
