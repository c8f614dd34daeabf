"""`migrate push STACK`: tag and push the stack's images to the project's registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from migrate.cli.common import console, err_console, print_json


def push(
    stack: Annotated[Path, typer.Argument(help="Stack directory (built with `migrate build`).")],
    registry: Annotated[str | None, typer.Option(
        metavar="HOST[:PORT][/PATH]", help="Registry to push to (default: `registry:` in migrate.yaml).")] = None,
    service: Annotated[list[str] | None, typer.Option(
        "-s", "--service", help="Only this service's image (repeatable; default: every image).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Report as JSON.")] = False,
) -> None:
    """Tag the stack's images as <registry>/<name>:<tag> and push them with the Docker engine; prints
    each pushed reference with the registry's digest."""
    from migrate.push import push_stack

    with err_console.status("pushing") as status:
        result = push_stack(stack, registry=registry, services=service or None,
                            progress=lambda m: status.update(m))
    if as_json:
        print_json({"registry": result.registry,
                    "images": [{"service": i.service, "source": i.source, "target": i.target, "digest": i.digest}
                               for i in result.images]})
        return
    for i in result.images:
        console.print(f"{i.service}: {i.target}" + (f"@{i.digest}" if i.digest else ""), highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(push)
