"""`migrate sbom INVENTORY|PLAN|STACK|IMAGE... -o FILE`: a CycloneDX SBOM of a VM or of generated images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from migrate.cli.common import console, print_json
from migrate.cli.keys import KeyOpt, KeysFromStdin, keys_of


def sbom(
    source: Annotated[list[Path], typer.Argument(
        help="inventory.json (the VM's packages), plan.yaml or a stack directory (the images), or the disk "
             "images of one VM (inspected first).", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="CycloneDX JSON file to write.")],
    service: Annotated[str | None, typer.Option(
        "-s", "--service", help="For a plan or stack: only this service's image (default: every image of the "
                                "stack in one document).")] = None,
    built: Annotated[bool, typer.Option(
        "--built", help="For a plan or stack: list every package of the built images (read from their package "
                        "database on the Docker engine: the pins and their dependencies), not only the pins.")] = False,
    backend: Annotated[str, typer.Option(help="Image backend for disk images: auto|native|guestfs.")] = "auto",
    key: KeyOpt = None,
    keys_from_stdin: KeysFromStdin = False,
    as_json: Annotated[bool, typer.Option("--json", help="Report as JSON.")] = False,
) -> None:
    """Write a CycloneDX SBOM (JSON): a VM's installed packages with package URLs, or what a generated
    image installs and copies from the guest (files hashed from the stack's build contexts). The serial
    number derives from the content and the timestamp honours SOURCE_DATE_EPOCH."""
    from migrate.errors import UsageError
    from migrate.fsutil import atomic_write_text
    from migrate.generate import input_kind
    from migrate.model.inventory import Inventory
    from migrate.model.plan import Plan
    from migrate.sbom import SPEC, container_bom, inventory_bom, stack_bom

    first = source[0]
    stack_dir: Path | None = None
    if len(source) == 1 and first.is_dir() and (first / "plan.yaml").is_file():
        stack_dir, kind, doc = first, "plan", first / "plan.yaml"
    else:
        kinds = {input_kind(p) for p in source}
        kind, doc = (kinds.pop() if len(kinds) == 1 else "mixed"), first
        if kind in ("plan", "inventory") and len(source) > 1:
            raise UsageError(f"one {kind} at a time (got {len(source)} files)")
        if kind == "mixed":
            raise UsageError("give one document (inventory.json, plan.yaml), one stack directory, or disk images")
    if (service or built) and kind != "plan":
        raise UsageError("--service and --built apply to a plan or a stack directory")
    if kind == "plan":
        plan = Plan.load(doc)
        if stack_dir is None and (doc.parent / "compose.yaml").is_file():
            stack_dir = doc.parent  # plan.yaml inside its stack: hash the files from the build contexts
        installed = _installed(plan, service) if built else {}
        if service:
            c = plan.container(service)
            if c is None:
                raise UsageError(f"--service {service}: no such service in the plan "
                                 f"({', '.join(x.name for x in plan.containers)})", path=str(doc))
            ctx = stack_dir / c.name if stack_dir and (stack_dir / c.name).is_dir() else None
            text, what = container_bom(plan, c, context=ctx, installed=installed.get(c.name)), f"image {c.image}"
        else:
            text, what = (stack_bom(plan, stack_dir, installed=installed),
                          f"{len(plan.containers)} image(s) of {plan.name}")
    elif kind == "inventory":
        inv = Inventory.load(doc)
        text, what = inventory_bom(inv), f"the VM {inv.name}"
    else:
        from migrate.cli.common import err_console
        from migrate.inspect import inspect_images

        keys = keys_of(key, keys_from_stdin)
        with err_console.status("inspecting") as status:
            inv = inspect_images(list(source), backend, progress=lambda m: status.update(m), keys=keys)
        text, what = inventory_bom(inv), f"the VM {inv.name}"
    atomic_write_text(output, text)
    if as_json:
        print_json({"output": str(output), "format": f"CycloneDX {SPEC.to_version()} JSON", "describes": what})
    else:
        console.print(f"SBOM of {what} (CycloneDX {SPEC.to_version()}) written to {output}", highlight=False)


def _installed(plan, service: str | None) -> dict[str, list[tuple[str, str, str | None]]]:  # type: ignore[no-untyped-def]
    """Every package of each built image (FROM scratch images have none to list)."""
    from migrate.docker_engine import Engine
    from migrate.errors import UsageError
    from migrate.sbom import QUERIES, installed_in_image

    engine = Engine()
    out = {}
    for c in plan.containers:
        if service and c.name != service or c.base.runtime == "scratch" or c.base.package_manager not in QUERIES:
            continue
        if engine.image(c.image) is None:
            raise UsageError(f"--built: image {c.image} of {c.name} is not built (run `migrate build`)")
        out[c.name] = installed_in_image(engine, c.image, c.base.package_manager)
    return out


def register(app: typer.Typer) -> None:
    app.command()(sbom)
