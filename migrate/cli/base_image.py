"""`migrate base-image REF`: make a Debian base image locally where no registry is reachable."""

from __future__ import annotations

from typing import Annotated

import typer

from migrate.cli.common import arg, console, err_console, next_steps, print_json


def base_image(
    ref: Annotated[str, typer.Argument(help="Image to make, e.g. debian:bookworm-slim or debian:12-slim.")] = (
        "debian:bookworm-slim"),
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when the engine already has the image.")] = False,
    mirror: Annotated[str | None, typer.Option(help="Debian mirror URL (default: the one in /etc/apt sources, "
                                                    "or $MIGRATE_DEBIAN_MIRROR).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Build a Debian base image with debootstrap --variant=minbase from this machine's Debian
    mirror and `docker import` it under REF. Skipped when the image exists (unless --force). On a
    machine that can reach a registry, `docker pull` does the same job."""
    from migrate.baseimage import make_base_image

    with err_console.status(f"making {ref}") as status:
        result = make_base_image(ref, force=force, mirror=mirror, progress=lambda m: status.update(m))
    if as_json:
        print_json({"ref": result.ref, "image_id": result.image_id, "created": result.created,
                    "seconds": round(result.seconds, 1), "size_bytes": result.size_bytes, "mirror": result.mirror})
        return
    verb = "made" if result.created else "already present (use --force to rebuild)"
    console.print(f"{result.ref}: {verb}; {result.image_id[:19]}, {result.size_bytes / 1e6:.1f} MB, "
                  f"{result.seconds:.1f}s")
    next_steps([f"migrate build OUTDIR --base-image {arg(result.ref)}"])


def register(app: typer.Typer) -> None:
    app.command("base-image")(base_image)
