"""`migrate convert IMAGE... -o OUTDIR`: inspect, graph, plan and generate in one go."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from migrate.cli.common import err_console
from migrate.cli.generate import AllowMissing, report
from migrate.cli.keys import KeyOpt, KeysFromStdin, keys_of
from migrate.cli.plan import BaseImage, Label, LabelsConfig, Org, RootfsOpt, print_plan_summary


def convert(
    images: Annotated[list[Path], typer.Argument(help="Disk images of one VM (in disk order) or one OVA; an "
                                                      "inventory.json works too.", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Stack directory (replaced as a whole).")],
    org: Org = None,
    label: Label = None,
    labels_config: LabelsConfig = None,
    base_image: BaseImage = None,
    rootfs: RootfsOpt = None,
    backend: Annotated[str, typer.Option(help="auto | native | guestfs.")] = "auto",
    key: KeyOpt = None,
    keys_from_stdin: KeysFromStdin = False,
    secrets_out: Annotated[Path | None, typer.Option(
        "--secrets-out", help="Also write the passwords found in the guest, in the clear, to this file (mode 0600; "
                              "outside OUTDIR) for `migrate up --secrets-file`.")] = None,
    allow_missing_files: AllowMissing = False,
    sbom: Annotated[bool, typer.Option(
        "--sbom", help="Also write CycloneDX SBOMs: OUTDIR/sbom/<service>.cdx.json per image and "
                       "OUTDIR/sbom/_vm.cdx.json for the VM (see docs/sbom.md).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Report as JSON.")] = False,
) -> None:
    """Convert a VM to a container stack: inventory.json, graph.json and plan.yaml are kept in OUTDIR
    next to the build contexts, compose files and README."""
    from migrate.generate import convert as run_convert

    keys = keys_of(key, keys_from_stdin)
    if as_json:
        result, p = run_convert(images, output, backend=backend, rootfs=rootfs, org=org, labels=label,
                                labels_config=labels_config, base_image=base_image, secrets_out=secrets_out,
                                allow_missing=allow_missing_files, keys=keys)
    else:
        with err_console.status("converting") as status:
            result, p = run_convert(images, output, backend=backend, rootfs=rootfs, org=org, labels=label,
                                    labels_config=labels_config, base_image=base_image,
                                    progress=lambda msg: status.update(msg), secrets_out=secrets_out,
                                    allow_missing=allow_missing_files, keys=keys)
        print_plan_summary(p)
    from migrate.generate import input_kind

    if sbom:
        from migrate.model.inventory import Inventory
        from migrate.sbom import write_stack_sboms

        written = write_stack_sboms(p, result.outdir, Inventory.load(result.outdir / "inventory.json"))
        result.files += [str(w.relative_to(result.outdir)) for w in written]
    report(result, as_json, p, images=[x for x in images if input_kind(Path(x)) == "image"],
           secrets_file=secrets_out, keyed=keys is not None)


def register(app: typer.Typer) -> None:
    app.command()(convert)
