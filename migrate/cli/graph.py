"""`migrate graph INVENTORY|IMAGE`: the service dependency graph."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from migrate.cli import output as out
from migrate.cli.common import console
from migrate.cli.keys import KeyOpt, KeysFromStdin, keys_of
from migrate.errors import UsageError
from migrate.fsutil import atomic_write_text


def graph(
    source: Annotated[list[Path], typer.Argument(help="inventory.json, or the disk images of one VM.",
                                                 show_default=False)],
    fmt: Annotated[Literal["json", "dot", "mermaid", "png", "svg", "summary"], typer.Option(
        "--format", "-f", help="json (graph.json, always every node), dot, mermaid, png or svg (pictures sized for "
                               "a 16:9 slide; need Graphviz and -o) or a summary.")] = "summary",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file instead of stdout.")]
    = None,
    show_all: Annotated[bool, typer.Option(
        "--all", help="Every unit, port, config, secret, package and job of the VM, not only the services the "
                      "plan migrates with their connections and data.")] = False,
    backend: Annotated[str, typer.Option(help="Image backend when SOURCE is a disk image: auto|native|guestfs.")]
    = "auto",
    key: KeyOpt = None,
    keys_from_stdin: KeysFromStdin = False,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Build the dependency graph of the services in a VM: who listens where, depends on and connects
    to whom (each edge with its evidence); report cycles and external dependencies. Pictures show the
    application (the services the plan migrates) unless --all."""
    from migrate.generate import open_source
    from migrate.graph import application_view, build_graph, export, render, to_slide_dot

    fmt = "json" if as_json else fmt
    with open_source(source, backend=backend, keys=keys_of(key, keys_from_stdin)) as src:
        if src.inventory is None:
            raise UsageError("graph needs an inventory or disk images, not a plan", path=str(source[0]))
        g = build_graph(src.inventory)
        view = g if show_all or fmt == "json" else application_view(g, src.inventory)
    if fmt in ("png", "svg"):
        if output is None:
            raise UsageError(f"--format {fmt} needs -o FILE")
        render(to_slide_dot(view), output, fmt)
        out.info(f"graph written to {output} ({len(view.nodes)} of {len(g.nodes)} nodes"
                 f"{'' if show_all else '; --all for every one'})")
        return
    if fmt == "summary":
        table = Table(title=f"Service graph of {g.source_vm}")
        for col in ("from", "relation", "to", "because"):
            table.add_column(col)
        services = {n.id for n in view.nodes if n.kind == "service"}
        for e in view.edges:
            if e.kind in ("depends-on", "connects-to") and {e.source, e.target} & services:
                table.add_row(e.source.removeprefix("service:"), e.kind, e.target.removeprefix("service:"),
                              e.detail or "")
        console.print(table)
        for x in g.external:
            console.print(f"[yellow]external[/] {x.from_service} -> {x.url_redacted}: {x.reason}")
        for cyc in g.cycles:
            console.print(f"[red]cycle[/] {' -> '.join(c.removeprefix('service:') for c in cyc)}")
        console.print(f"{len(view.nodes)} nodes, {len(view.edges)} edges"
                      + ("" if show_all else f" shown (of {len(g.nodes)} and {len(g.edges)}: --all)"))
        return
    text = to_slide_dot(view) if fmt == "dot" and not show_all else export(view, fmt)
    if output is not None:
        atomic_write_text(output, text)
        out.info(f"graph written to {output}")
    else:
        print(text, end="")


def register(app: typer.Typer) -> None:
    app.command()(graph)
