"""`migrate graph INVENTORY|IMAGE`: the service dependency graph."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from migrate.cli.common import console, err_console
from migrate.errors import UsageError
from migrate.fsutil import atomic_write_text


def graph(
    source: Annotated[list[Path], typer.Argument(help="inventory.json, or the disk images of one VM.",
                                                 show_default=False)],
    fmt: Annotated[Literal["json", "dot", "mermaid", "png", "summary"], typer.Option(
        "--format", "-f", help="json (graph.json), dot, mermaid, png (needs Graphviz and -o) or a summary.")
    ] = "summary",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file instead of stdout.")]
    = None,
    backend: Annotated[str, typer.Option(help="Image backend when SOURCE is a disk image: auto|native|guestfs.")]
    = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Build the dependency graph of the services in a VM: who listens where, depends on and connects
    to whom (each edge with its evidence); report cycles and external dependencies."""
    from migrate.generate import open_source
    from migrate.graph import build_graph, export, render_png

    fmt = "json" if as_json else fmt
    with open_source(source, backend=backend) as src:
        if src.inventory is None:
            raise UsageError("graph needs an inventory or disk images, not a plan", path=str(source[0]))
        g = build_graph(src.inventory)
    if fmt == "png":
        if output is None:
            raise UsageError("--format png needs -o FILE")
        render_png(g, output)
        err_console.print(f"graph written to {output}")
        return
    if fmt == "summary":
        table = Table(title=f"Service graph of {g.source_vm}")
        for col in ("from", "relation", "to", "because"):
            table.add_column(col)
        vm_only = {n.id for n in g.nodes if n.attrs.get("vm_only")}
        for e in g.edges:
            if e.kind in ("depends-on", "connects-to") and not {e.source, e.target} <= vm_only:
                table.add_row(e.source.removeprefix("service:"), e.kind, e.target.removeprefix("service:"),
                              e.detail or "")
        console.print(table)
        for x in g.external:
            console.print(f"[yellow]external[/] {x.from_service} -> {x.url_redacted}: {x.reason}")
        for cyc in g.cycles:
            console.print(f"[red]cycle[/] {' -> '.join(c.removeprefix('service:') for c in cyc)}")
        console.print(f"{len(g.nodes)} nodes, {len(g.edges)} edges")
        return
    text = export(g, fmt)
    if output is not None:
        atomic_write_text(output, text)
        err_console.print(f"graph written to {output}")
    else:
        print(text, end="")


def register(app: typer.Typer) -> None:
    app.command()(graph)
