"""`migrate verify OUTDIR`: probe the running stack and scan its images; exit non-zero on a failure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from migrate.cli.common import clip, console, err_console


def verify(
    outdir: Annotated[Path, typer.Argument(help="Stack directory of the running stack (`migrate up`).")],
    secrets_file: Annotated[Path | None, typer.Option("--secrets-file", help="NAME=value lines (mode 0600): the "
                                                      "values to look for in the images and to log in with.")] = None,
    project: Annotated[str | None, typer.Option(help="Project / stack name (default: the plan's stack name).")]
    = None,
    expect: Annotated[Path | None, typer.Option(help="Extra HTTP expectations (YAML `http:` list, like "
                                                     "OUTDIR/verify.yaml).")] = None,
    no_scan: Annotated[bool, typer.Option("--no-scan", help="Skip the image layer scan for secret values.")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """TCP and HTTP probes from inside the stack, pg_isready / redis-cli ping, the graph's
    service-to-service edges, then security: no secret value in any image layer or config,
    containers running as the planned uid, no unexpected published port. The report is also
    written to OUTDIR/.migrate/verify-report.json."""
    from migrate.verify import VerificationFailed, verify_stack, write_report

    with err_console.status("verifying") as status:
        report = verify_stack(outdir, project=project, secrets_file=secrets_file, expect=expect, scan=not no_scan,
                              progress=lambda m: status.update(m))
    path = write_report(report, outdir)
    if as_json:
        print(report.to_json(), end="")
    else:
        t = Table(title=f"{report.project} ({report.mode}): {len(report.checks) - len(report.failed)}/"
                        f"{len(report.checks)} checks passed in {report.seconds:.1f}s")
        for col in ("check", "service", "target", "result", "seconds", "detail"):
            t.add_column(col)
        for c in report.checks:
            res = "[green]pass[/]" if c.ok else "[red]FAIL[/]"
            detail = c.detail or (f"expected {c.expected}, got {c.actual}" if c.expected else c.actual or "")
            t.add_row(c.kind, c.service or "", c.target, res, f"{c.seconds:.2f}", clip(detail, 80))
        console.print(t)
        if report.images.images:
            console.print(f"images: {report.images.sum_bytes / 1e6:.1f} MB summed, "
                          f"{report.images.unique_layer_bytes / 1e6:.1f} MB of distinct layers")
        console.print(f"report: {path}")
    if not report.ok:
        raise VerificationFailed(f"{len(report.failed)} check(s) failed", path=str(outdir))


def register(app: typer.Typer) -> None:
    app.command()(verify)
