"""`migrate data export|import|verify`: the VM's persistent data into the stack's named volumes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from migrate.cli import steps
from migrate.cli.common import clip, console, err_console, next_steps
from migrate.cli.keys import KeyOpt, KeysFromStdin, keys_of

data_app = typer.Typer(help="Copy persistent data out of a VM image and seed the stack's volumes with it.",
                       no_args_is_help=True)


@data_app.command("export")
def export(
    images: Annotated[list[Path], typer.Argument(help="Disk images of one VM (in disk order), or one OVA.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Export directory (archives + manifest.json); "
                                                                "replaced whole, never half-written.")],
    inventory: Annotated[Path | None, typer.Option(help="inventory.json from `migrate inspect` (default: "
                                                         "inspect the image now).")] = None,
    backend: Annotated[str, typer.Option(help="auto | native | guestfs")] = "auto",
    key: KeyOpt = None,
    keys_from_stdin: KeysFromStdin = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest summary as JSON.")] = False,
) -> None:
    """One tar archive per persistent path (numeric owners, modes, symlinks, mtimes) and a manifest
    with a sha256 per file. Sockets and device nodes are listed as skipped, never dropped silently."""
    from migrate.data import export_data
    from migrate.model.inventory import Inventory

    inv = Inventory.load(inventory) if inventory else None
    keys = keys_of(key, keys_from_stdin)
    with err_console.status("exporting") as status:
        manifest = export_data(images, output, inventory=inv, backend=backend, progress=lambda m: status.update(m),
                               keys=keys)
    if as_json:
        print(manifest.to_json(), end="")
        return
    if not manifest.volumes:
        console.print(f"{manifest.source_vm}: the VM has no persistent data (the inventory lists no persistent "
                      f"paths); wrote an empty manifest to {output}: `migrate data import` will have nothing to seed")
        return
    t = Table(title=f"{manifest.source_vm}: data exported to {output}")
    for col in ("volume", "guest path", "files", "bytes", "skipped", "naming"):
        t.add_column(col)
    for v in manifest.volumes:
        t.add_row(v.volume, v.guest_path, str(v.files), str(v.bytes), str(len(v.skipped)), clip(v.naming, 60))
    console.print(t)
    for v in manifest.volumes:
        for s in v.skipped:
            err_console.print(f"[yellow]skipped[/] {s.path} ({s.kind}): {s.reason}")
    next_steps(steps.after("data-export", data=output))


def _report(report, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        print(report.to_json(), end="")
    elif not report.volumes and not report.not_imported:
        console.print(f"{report.project}: the export holds no volumes (the VM had no persistent data): nothing "
                      "to seed, the stack starts with empty volumes only")
    else:
        t = Table(title=f"volumes of {report.project} ({report.mode})")
        for col in ("volume", "docker volume", "entries", "files", "result", "seconds"):
            t.add_column(col)
        for v in report.volumes:
            res = "[green]ok[/]" if v.ok else f"[red]{len(v.mismatches)} mismatch(es)[/]"
            t.add_row(v.volume, v.docker_volume, str(v.entries_checked), str(v.files_checked), res, f"{v.seconds:.1f}")
        console.print(t)
        for v in report.volumes:
            for m in v.mismatches[:20]:
                err_console.print(f"[red]{v.docker_volume}[/] {m.path}: {m.field} expected {m.expected} got {m.actual}")
        for n in report.not_imported:
            err_console.print(f"[yellow]not imported[/] {n.volume} ({n.guest_path}): {n.reason}")


@data_app.command("import")
def import_(
    export_dir: Annotated[Path, typer.Argument(help="Directory written by `migrate data export`.")],
    project: Annotated[str, typer.Option("--project", "--stack", help="Compose project / swarm stack name: "
                                                                      "volumes are named <project>_<volume>.")],
    outdir: Annotated[Path | None, typer.Option("--outdir", help="Generated stack directory: volumes are "
                                                "matched to compose.yaml by mount path and get its labels.")] = None,
    swarm: Annotated[bool, typer.Option("--swarm", help="Label the volumes for `docker stack deploy`.")] = False,
    base_image: Annotated[str, typer.Option(help="Local image used for the seeding containers.")] = (
        "debian:bookworm-slim"),
    force: Annotated[bool, typer.Option("--force", help="Replace the content of volumes that already hold data.")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the import report as JSON.")] = False,
) -> None:
    """Create the stack's named volumes before its first start, extract each archive into its volume
    with numeric owners, then re-read every volume and compare it with the manifest."""
    from migrate.data import DataVerificationFailed, import_data

    with err_console.status("importing") as status:
        report = import_data(export_dir, project, mode="swarm" if swarm else "compose", stack_dir=outdir,
                             base_image=base_image, force=force, progress=lambda m: status.update(m))
    _report(report, as_json)
    if not report.ok:
        raise DataVerificationFailed("a volume differs from the export manifest (see above)", path=str(export_dir))
    if not as_json:
        next_steps(steps.after("data-import", outdir=outdir, project=project))


@data_app.command("verify")
def verify(
    export_dir: Annotated[Path, typer.Argument(help="Directory written by `migrate data export`.")],
    project: Annotated[str, typer.Option("--project", "--stack", help="Compose project / swarm stack name.")],
    outdir: Annotated[Path | None, typer.Option("--outdir", help="Generated stack directory.")] = None,
    base_image: Annotated[str, typer.Option(help="Local image used for the reading container.")] = (
        "debian:bookworm-slim"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Re-read the stack's volumes and compare every entry with the export manifest."""
    from migrate.data import DataVerificationFailed, verify_volumes

    report = verify_volumes(export_dir, project, stack_dir=outdir, base_image=base_image)
    _report(report, as_json)
    if not report.ok:
        raise DataVerificationFailed("a volume differs from the export manifest", path=str(export_dir))


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
