"""`migrate sample`: the built-in example VMs (real Debian guests built from real packages)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from migrate.cli.common import arg, console, err_console, next_steps, print_json
from migrate.errors import UsageError

sample_app = typer.Typer(help="Build the built-in example VMs (real Debian 12 guests, cached).",
                         no_args_is_help=True)


def _known(name: str) -> None:
    """An unknown sample name is a usage error (exit 2), not a failed build."""
    from migrate.samples import SAMPLES

    if name not in SAMPLES:
        raise UsageError(f"unknown sample {name!r}; known: {', '.join(sorted(SAMPLES))}")


@sample_app.command("list")
def list_samples() -> None:
    """List the example VMs."""
    from migrate.samples import SAMPLES

    for name, recipe in sorted(SAMPLES.items()):
        console.print(f"[bold]{name}[/]  {recipe.description}")


@sample_app.command("build")
def build(
    name: Annotated[str, typer.Argument(help="flagship, classic, units, corpus-... (see `migrate sample list`)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the produced files as JSON.")] = False,
) -> None:
    """Build (or take from the cache) an example VM and print its disk image files."""
    from migrate.samples import build_sample

    _known(name)
    with err_console.status(f"building {name}") as status:
        images = build_sample(name, progress=lambda msg: status.update(msg))
    if as_json:
        print_json({"name": images.name, "dir": str(images.dir), "files": {k: str(v) for k, v in images.files.items()}})
        return
    table = Table(title=f"{name}: {images.dir}")
    table.add_column("kind")
    table.add_column("file")
    for kind, path in sorted(images.files.items()):
        table.add_row(kind, str(path))
    console.print(table)
    first = next((images.files[k] for k in ("ova", "qcow2") if k in images.files), None)
    if first is not None:
        next_steps([f"migrate convert {arg(first)} -o {arg(name)}-stack   (or migrate inspect {arg(first)})"])


@sample_app.command("path")
def path(
    name: Annotated[str, typer.Argument(help="Example VM name.")],
    kind: Annotated[str, typer.Option("--format", help="Which export: qcow2, vmdk-stream, ova, raw ...")] = "qcow2",
) -> None:
    """Print the path of one export of an example VM (building it first if needed)."""
    from migrate.samples import build_sample

    _known(name)
    images = build_sample(name)
    if kind not in images.files:
        raise UsageError(f"sample {name} has no {kind!r} export; it has {', '.join(sorted(images.files))}")
    print(images.files[kind])


def register(app: typer.Typer) -> None:
    app.add_typer(sample_app, name="sample")
