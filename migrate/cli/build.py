"""`migrate build OUTDIR`: build the generated stack's images on the Docker engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from migrate.cli import steps
from migrate.cli.common import console, err_console, next_steps


def build(
    outdir: Annotated[Path, typer.Argument(help="Stack directory written by `migrate generate` / `convert`.")],
    base_image: Annotated[str, typer.Option(help="BASE_IMAGE build argument (make it with `migrate base-image`).")]
    = "debian:bookworm-slim",
    service: Annotated[list[str] | None, typer.Option("--service", "-s", help="Build only this service "
                                                                              "(repeatable).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not use the engine's layer cache.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the build result as JSON.")] = False,
) -> None:
    """Build every service image (Docker engine API, layer cache on), tagged and labelled as
    compose.yaml says; logs in OUTDIR/.migrate/build-logs/<service>.log."""
    from migrate.build import build_stack

    with Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[service]:<12}"), BarColumn(),
                  TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console,
                  disable=as_json) as bar:
        tasks: dict[str, int] = {}

        def progress(svc: str, event: str, detail: str) -> None:
            if svc not in tasks:
                tasks[svc] = bar.add_task(detail, service=svc, total=None)
            tid = tasks[svc]
            if event == "step":
                done, _, rest = detail.partition(" ")
                n, _, total = done.partition("/")
                bar.update(tid, completed=int(n) - 1, total=int(total), description=rest)
            elif event == "done":
                t = bar.tasks[tid].total or 1
                bar.update(tid, completed=t, total=t, description=f"[green]done[/] {detail}")
            elif event == "failed":
                bar.update(tid, description=f"[red]failed[/] {detail}")

        result = build_stack(outdir, base_image=base_image, services=service or None, nocache=no_cache,
                             progress=progress)
    if as_json:
        print(json.dumps({"project": result.project, "base_image": result.base_image, "seconds": result.seconds,
                          "services": [s.__dict__ for s in result.services]}, indent=2, sort_keys=True))
        return
    t = Table(title=f"{result.project}: built in {result.seconds:.1f}s")
    for col in ("service", "image", "id", "size", "steps cached", "seconds", "log"):
        t.add_column(col)
    for s in result.services:
        t.add_row(s.service, s.tag, s.image_id.removeprefix("sha256:")[:12], f"{s.size_bytes / 1e6:.1f} MB",
                  f"{s.cached_steps}/{s.steps}", f"{s.seconds:.1f}", s.log)
    console.print(t)
    next_steps(steps.after("build", outdir=outdir))


def register(app: typer.Typer) -> None:
    app.command()(build)
