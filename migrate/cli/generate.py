"""`migrate generate PLAN|INVENTORY|IMAGE -o OUTDIR`: build contexts, compose files and README."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from migrate.cli import output as out
from migrate.cli import steps
from migrate.cli.common import console, next_steps, print_json
from migrate.cli.keys import KeyOpt, KeysFromStdin, keys_of
from migrate.cli.plan import BaseImage, Label, LabelsConfig, Org, RootfsOpt, print_plan_summary
from migrate.generate import GenerateResult
from migrate.model.plan import Plan

Images = Annotated[list[Path] | None, typer.Option(
    "--image", help="A disk image (or the OVA) of the VM the plan was made from, to take its files from "
                    "(repeat for each disk, in order). Disk images given after the plan work the same.")]
AllowMissing = Annotated[bool, typer.Option(
    "--allow-missing-files", help="Write the stack even when files of the plan could not be taken from the "
                                  "guest (they are listed in its README); otherwise that fails with exit 47.")]


def report(result: GenerateResult, as_json: bool, plan: Plan | None = None, *,
           images: list[Path] | None = None, secrets_file: Path | None = None, keyed: bool = False) -> None:
    if as_json:
        print_json({"outdir": str(result.outdir), "files": result.files, "redacted": result.redacted,
                    "to_provide": [{"service": c, "path": p, "why": w} for c, p, w in result.missing]})
        return
    for f in result.files:
        out.detail(f"written: {f}")
    console.print(f"[bold]{len(result.files)}[/] files written to {result.outdir}")
    if result.redacted:
        console.print(f"{result.redacted} secret value(s) replaced by placeholders")
    for c, p, why in result.missing:
        out.warn(f"to provide {c}: {p} ({why})")
    next_steps(steps.after("generate", outdir=result.outdir, plan=plan, images=images or [],
                           secrets_file=secrets_file, keyed=keyed))


def generate(
    source: Annotated[list[Path], typer.Argument(help="plan.yaml (possibly edited), inventory.json, or the disk "
                                                      "images of one VM.", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Stack directory (replaced as a whole).")],
    image: Images = None,
    allow_missing_files: AllowMissing = False,
    org: Org = None,
    label: Label = None,
    labels_config: LabelsConfig = None,
    base_image: BaseImage = None,
    rootfs: RootfsOpt = None,
    backend: Annotated[str, typer.Option(help="Image backend for disk images: auto|native|guestfs.")] = "auto",
    key: KeyOpt = None,
    keys_from_stdin: KeysFromStdin = False,
    as_json: Annotated[bool, typer.Option("--json", help="Report as JSON.")] = False,
) -> None:
    """Generate per-service build contexts (multi-stage Dockerfiles), compose.yaml with its overlays and a
    README. A plan is used as written (with --image, the files it names are taken from the VM's disk
    images); an inventory or image is planned first with the options."""
    from migrate.analyzers.base import SecretVault
    from migrate.generate import generate as run_generate
    from migrate.generate import input_kind, open_source, secret_values_of
    from migrate.plan import build_options, make_plan

    vault = SecretVault()  # filled when a guest is inspected: every value found is kept out of the stack
    keys = keys_of(key, keys_from_stdin)
    with open_source(source, backend=backend, rootfs=rootfs, vault=vault, images=image, keys=keys) as src:
        if src.plan is not None:
            if org or label or labels_config or base_image:
                out.warn("labelling and base-image options are ignored for a plan; edit plan.yaml instead")
            p = src.plan
        else:
            assert src.inventory is not None
            options = build_options(org=org, labels=label, labels_config=labels_config, base_image=base_image)
            p = make_plan(src.inventory, options=options, reader=src.reader)
        for note in src.notes:
            out.warn(note)
        inspected = src.inspected
        known = secret_values_of(p, inspected, vault) if inspected is not None else None
        result = run_generate(p, output, src.reader, known_secrets=known, allow_missing=allow_missing_files)
    if not as_json:
        print_plan_summary(p)
    disks = [x for x in source if input_kind(Path(x)) == "image"] + list(image or [])
    report(result, as_json, p, images=disks, keyed=keys is not None)


def register(app: typer.Typer) -> None:
    app.command()(generate)
