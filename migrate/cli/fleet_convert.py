"""`migrate fleet plan|convert|waves`: plan every inspected VM, convert the ready ones, build shared images,
show the migration waves (migrate.fleet.convert, migrate.fleet.waves)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from migrate.cli.common import clip, console, err_console, print_json

FleetArg = Annotated[Path, typer.Argument(help="The fleet directory (holds fleet.db and members/).",
                                          show_default=False)]
Backend = Annotated[str, typer.Option(help="auto | native | guestfs (as for `migrate inspect`).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Workers = Annotated[int | None, typer.Option(help="Processes planning/converting in parallel (default: one per CPU).",
                                             min=1)]


def _check_backend(backend: str) -> None:
    from migrate.errors import UsageError
    from migrate.inspect import BACKENDS

    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def plan(fleet: FleetArg, backend: Backend = "auto", workers: Workers = None, as_json: AsJson = False) -> None:
    """Plan every inspected member: members/<name>/plan.yaml, readiness (ready = no blocker in its plan)
    and its blockers as "kind: detail"."""
    from migrate.fleet.convert import plan_fleet
    from migrate.fleet.store import FleetStore

    _check_backend(backend)
    with FleetStore.open(fleet) as store:
        if as_json:
            res = plan_fleet(store, backend=backend, workers=workers)
        else:
            with err_console.status("planning") as status:
                res = plan_fleet(store, backend=backend, workers=workers, progress=lambda msg: status.update(msg))
        members = store.members()
    ready = sorted(m.name for m in members if m.readiness == "ready")
    blocked = sorted((m.name, m.blockers) for m in members if m.readiness == "blocked")
    if as_json:
        print_json({"planned": res.done, "failed": res.failed, "skipped": res.skipped, "ready": ready,
                    "blocked": {n: b for n, b in blocked}, "seconds": res.seconds})
        return
    console.print(f"{len(res.done)} planned ({len(ready)} ready, {len(blocked)} blocked), {len(res.failed)} failed, "
                  f"{len(res.skipped)} not inspected, in {res.seconds:.1f} s", highlight=False)
    if blocked:
        table = Table(title="Blocked members")
        table.add_column("member")
        table.add_column("blockers")
        for name, blockers in blocked:
            by_kind: dict[str, list[str]] = {}
            for b in blockers:
                kind, _, detail = b.partition(": ")
                by_kind.setdefault(kind, []).append(detail)
            shown = "\n".join(f"{k}{f' ×{len(d)}' if len(d) > 1 else ''}: {clip(d[0], 100)}"
                              for k, d in sorted(by_kind.items()))
            table.add_row(escape(name), escape(shown))  # guest strings: text, never rich markup
        console.print(table)


def convert(
    fleet: FleetArg,
    backend: Backend = "auto",
    member: Annotated[list[str] | None, typer.Option(
        "--member", "-m", help="Convert only these members (repeatable); default: every ready one.")] = None,
    build: Annotated[bool, typer.Option(
        "--build", help="Also build the images: one base per OS release, identical service images built once "
                        "and shared by tag.")] = False,
    workers: Workers = None,
    as_json: AsJson = False,
) -> None:
    """Convert every ready member to a stack under members/<name>/stack (plan first with `fleet plan`)."""
    from migrate.fleet.convert import build_fleet_stacks, convert_fleet
    from migrate.fleet.store import FleetStore

    _check_backend(backend)
    with FleetStore.open(fleet) as store:
        if as_json:
            res = convert_fleet(store, backend=backend, members=member, workers=workers)
        else:
            with err_console.status("converting") as status:
                res = convert_fleet(store, backend=backend, members=member, workers=workers,
                                    progress=lambda m: status.update(m))
        members = store.members()
    errors = {m.name: f"{m.error.error_class}: {m.error.message}" for m in members
              if m.name in res.failed and m.error}
    out: dict[str, object] = {"converted": res.done, "failed": errors, "seconds": res.seconds}
    if build:
        converted = [m for m in members if m.state == "converted" and (not member or m.name in member)]
        if as_json:
            b = build_fleet_stacks(fleet, converted)
        else:
            with err_console.status("building") as status:
                b = build_fleet_stacks(fleet, converted, progress=lambda m: status.update(m))
        out["build"] = {"base_images": b.base_images, "stacks": b.stacks, "services": b.services,
                        "images_built": b.images_built, "failed": b.failed, "seconds": b.seconds,
                        "shared": [{"tag": g.tag, "image_id": g.image_id, "built_for": g.built_for,
                                    "used_by": [f"{m}/{s}" for m, s, _ in g.users]} for g in b.shared]}
    if as_json:
        print_json(out)
        return
    console.print(f"{len(res.done)} stack(s) written, {len(errors)} failed, in {res.seconds:.1f} s", highlight=False)
    for name, why in sorted(errors.items()):
        err_console.print(f"{name}: {why}", highlight=False, markup=False)
    if build:
        console.print(f"base images: {', '.join(b.base_images) or '-'}; {b.services} service image(s) in "
                      f"{b.stacks} stack(s) → {b.images_built} built, the rest shared; {b.seconds:.1f} s",
                      highlight=False)
        for name, why in sorted(b.failed.items()):
            err_console.print(f"build {name}: {why}", highlight=False, markup=False)


def waves(fleet: FleetArg, as_json: AsJson = False) -> None:
    """The migration waves and the cross-VM edges they come from."""
    from migrate.fleet.store import FleetStore
    from migrate.fleet.waves import fleet_report

    with FleetStore.open(fleet) as store:
        report = fleet_report(store, fleet)
    if as_json:
        print_json({"waves": [w.model_dump(mode="json") for w in report.waves],
                    "edges": [e.model_dump(mode="json") for e in report.edges]})
        return
    table = Table(title=f"Migration waves of {fleet.name}")
    for col in ("wave", "VMs", "members", "reason"):
        table.add_column(col)
    for w in report.waves:
        shown = ", ".join(w.members[:8]) + (" …" if len(w.members) > 8 else "")
        table.add_row(str(w.number), str(len(w.members)), escape(shown), escape(w.reason))
    console.print(table)
    console.print(f"{len(report.edges)} cross-VM edge(s)", highlight=False)


def _plan_stage(fleet: Path) -> None:
    plan(fleet)


def _convert_stage(fleet: Path) -> None:
    convert(fleet)


def register(fleet_app: typer.Typer) -> None:
    fleet_app.command("plan")(plan)
    fleet_app.command("convert")(convert)
    fleet_app.command("waves")(waves)
    from migrate.cli.fleet import add_run_stage

    add_run_stage("plan", _plan_stage)
    add_run_stage("convert", _convert_stage)
