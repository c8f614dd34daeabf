"""`migrate up OUTDIR` / `migrate down OUTDIR`: run or remove the generated stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from migrate.cli import steps
from migrate.cli.common import console, err_console, next_steps


def up(
    outdir: Annotated[Path, typer.Argument(help="Stack directory (built with `migrate build`).")],
    swarm: Annotated[bool, typer.Option("--swarm", help="Deploy with `docker stack deploy` instead of Compose.")]
    = False,
    secrets_file: Annotated[Path | None, typer.Option("--secrets-file", help="NAME=value lines, mode 0600; else "
                                                      "MIGRATE_SECRET_<NAME> variables. Never prompted for.")] = None,
    project: Annotated[str | None, typer.Option(help="Project / stack name (default: the plan's stack name).")]
    = None,
    overlay: Annotated[list[str] | None, typer.Option("--overlay", "-f", help="Extra compose file, e.g. "
                                                      "compose.debug.yaml (Compose only).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every service to be healthy.")] = 300,
    endpoint_mode: Annotated[str, typer.Option(help="Swarm only: vip | dnsrr | auto (dnsrr where the kernel has "
                                                    "no IPVS for virtual IPs).")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Deploy the stack (secrets from a file or the environment) and wait until every service is
    healthy."""
    from migrate.deploy import up as do_up

    with err_console.status("deploying") as status:
        result = do_up(outdir, swarm=swarm, project=project, secrets_file=secrets_file, overlays=overlay or [],
                       timeout=timeout, progress=lambda m: status.update(m), endpoint_mode=endpoint_mode)
    if as_json:
        print(json.dumps({"project": result.project, "mode": result.mode, "seconds_deploy": result.seconds_deploy,
                          "seconds_to_healthy": result.seconds_to_healthy,
                          "services": [s.__dict__ for s in result.services]}, indent=2, sort_keys=True))
        return
    t = Table(title=f"{result.project} ({result.mode}): healthy {result.seconds_to_healthy:.1f}s after deploy")
    for col in ("service", "state", "containers"):
        t.add_column(col)
    for s in result.services:
        t.add_row(s.service, s.state, ", ".join(s.containers))
    console.print(t)
    next_steps(steps.after("up", outdir=outdir, secrets_file=secrets_file, project=project))


def down(
    outdir: Annotated[Path, typer.Argument(help="Stack directory.")],
    project: Annotated[str | None, typer.Option(help="Project / stack name (default: the plan's stack name).")]
    = None,
    volumes: Annotated[bool, typer.Option("--volumes", help="Also remove the named volumes (the data!).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Remove the stack's containers, services, networks and secrets (Compose or swarm);
    volumes only with --volumes."""
    from migrate.deploy import down as do_down

    with err_console.status("removing") as status:
        result = do_down(outdir, project=project, volumes=volumes, progress=lambda m: status.update(m))
    if as_json:
        print(json.dumps(result.__dict__, indent=2, sort_keys=True))
        return
    console.print(f"{result.project}: removed" + (f"; volumes {', '.join(result.removed_volumes)}"
                                                   if result.removed_volumes else ""))
    if result.leftovers:
        err_console.print("[yellow]still present:[/] " + ", ".join(result.leftovers))


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(down)
