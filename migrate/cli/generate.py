"""`migrate generate PLAN|INVENTORY|IMAGE -o OUTDIR`: build contexts, compose files and README."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from migrate.cli.common import console, err_console, print_json
from migrate.cli.plan import BaseImage, Label, LabelsConfig, Org, RootfsOpt, print_plan_summary
from migrate.generate import GenerateResult


def report(result: GenerateResult, as_json: bool) -> None:
    if as_json:
        print_json({"outdir": str(result.outdir), "files": result.files, "redacted": result.redacted,
                    "to_provide": [{"service": c, "path": p, "why": w} for c, p, w in result.missing]})
        return
    console.print(f"[bold]{len(result.files)}[/] files written to {result.outdir}")
    if result.redacted:
        console.print(f"{result.redacted} secret value(s) replaced by placeholders")
    for c, p, why in result.missing:
        console.print(f"[yellow]to provide[/] {c}: {p} ({why})")
    console.print(f"next: fill {result.outdir}/secrets/*.txt, then `docker compose build` there (README.md)")


def generate(
    source: Annotated[list[Path], typer.Argument(help="plan.yaml (possibly edited), inventory.json, or the disk "
                                                      "images of one VM.", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Stack directory (replaced as a whole).")],
    org: Org = None,
    label: Label = None,
    labels_config: LabelsConfig = None,
    base_image: BaseImage = None,
    rootfs: RootfsOpt = None,
    backend: Annotated[str, typer.Option(help="Image backend when SOURCE is a disk image.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Report as JSON.")] = False,
) -> None:
    """Generate per-service build contexts (multi-stage Dockerfiles), compose.yaml with its overlays and a
    README. A plan is used as written; an inventory or image is planned first with the options."""
    from migrate.analyzers.base import SecretVault
    from migrate.generate import generate as run_generate
    from migrate.generate import open_source, secret_values_of
    from migrate.plan import build_options, make_plan

    vault = SecretVault()  # filled when SOURCE is an image: every value found is kept out of the stack
    with open_source(source, backend=backend, rootfs=rootfs, vault=vault) as src:
        if src.plan is not None:
            if org or label or labels_config or base_image:
                err_console.print("[yellow]note:[/] labelling and base-image options are ignored for a plan; "
                                  "edit plan.yaml instead")
            p = src.plan
        else:
            assert src.inventory is not None
            options = build_options(org=org, labels=label, labels_config=labels_config, base_image=base_image)
            p = make_plan(src.inventory, options=options, reader=src.reader)
        for note in src.notes:
            err_console.print(f"[yellow]note:[/] {note}")
        known = secret_values_of(p, src.inventory, vault) if src.inventory is not None else None
        result = run_generate(p, output, src.reader, known_secrets=known)
    if not as_json:
        print_plan_summary(p)
    report(result, as_json)


def register(app: typer.Typer) -> None:
    app.command()(generate)
