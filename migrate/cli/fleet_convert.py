"""`migrate fleet plan|convert|waves`: plan every inspected VM, convert the ready ones, build shared images,
show the migration waves (migrate.fleet.convert, migrate.fleet.waves)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from migrate.cli.common import clip, console, err_console, print_json
from migrate.cli.keys import FleetKeyOpt, FleetKeysFromStdin, fleet_keys_of

if TYPE_CHECKING:
    from migrate.cli.fleet import RunOptions
    from migrate.fleet.keys import FleetKeys

FleetArg = Annotated[Path, typer.Argument(help="The fleet directory (holds fleet.db and members/).",
                                          show_default=False)]
Backend = Annotated[str, typer.Option(help="auto | native | guestfs (as for `migrate inspect`).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Workers = Annotated[int | None, typer.Option(help="Processes planning/converting in parallel (default: one per CPU).",
                                             min=1)]


def strict_option(step: str) -> object:
    return typer.Option(help=f"Exit 3 when any member failed to {step} (default: 0 once the step ran; the "
                             "failed rows are in the output and in `fleet status`).")


def fail_if_strict(fleet: Path, failed: list[tuple[str, str]], step: str, shown: int = 5) -> None:
    """--strict: FleetMembersFailed (exit 3) naming how many members failed and the first few with their
    error class; ``failed`` is (member, error class) in member order."""
    from migrate.errors import FleetMembersFailed

    if not failed:
        return
    first = ", ".join(f"{name} ({cls})" for name, cls in failed[:shown])
    more = f" and {len(failed) - shown} more" if len(failed) > shown else ""
    raise FleetMembersFailed(f"{len(failed)} member(s) failed to {step} (--strict): {first}{more}", path=str(fleet))


def _check_backend(backend: str) -> None:
    from migrate.errors import UsageError
    from migrate.inspect import BACKENDS

    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def plan(fleet: FleetArg, backend: Backend = "auto", workers: Workers = None, as_json: AsJson = False,
         strict: Annotated[bool, strict_option("plan")] = False,
         again: Annotated[bool, typer.Option(help="Plan members planned or converted already again "
                                                  "(default: only those not planned yet).")] = False,
         key: FleetKeyOpt = None, keys_from_stdin: FleetKeysFromStdin = False) -> None:
    """Plan every inspected member not planned yet: members/<name>/plan.yaml, readiness (ready = no blocker
    in its plan) and its blockers as "kind: detail". Runs alone on the fleet (exit 43 if another run holds it).
    Encrypted members need their keys again (keys are never stored)."""
    _plan(fleet, backend=backend, workers=workers, as_json=as_json, strict=strict, again=again,
          keys=fleet_keys_of(key, keys_from_stdin))


def _plan(fleet: Path, *, backend: str = "auto", workers: int | None = None, as_json: bool = False,
          strict: bool = False, again: bool = False, keys: FleetKeys | None = None) -> None:
    from migrate.fleet.convert import plan_fleet
    from migrate.fleet.store import FleetStore

    _check_backend(backend)
    with FleetStore.open(fleet) as store:
        if as_json:
            res = plan_fleet(store, backend=backend, workers=workers, again=again, keys=keys)
        else:
            with err_console.status("planning") as status:
                res = plan_fleet(store, backend=backend, workers=workers, again=again, keys=keys,
                                 progress=lambda msg: status.update(msg))
        members = store.members()
    ready = sorted(m.name for m in members if m.readiness == "ready")
    blocked = sorted((m.name, m.blockers) for m in members if m.readiness == "blocked")
    plan_failed = [(m.name, m.error.error_class if m.error else "MigrateError") for m in members
                   if m.name in res.failed]
    if as_json:
        print_json({"planned": res.done, "failed": res.failed, "skipped": res.skipped, "kept": res.kept,
                    "ready": ready, "blocked": {n: b for n, b in blocked}, "seconds": res.seconds})
        if strict:
            fail_if_strict(fleet, plan_failed, "plan")
        return
    console.print(f"{len(res.done)} planned ({len(ready)} ready, {len(blocked)} blocked), {len(res.failed)} failed, "
                  f"{len(res.skipped)} not inspected, {len(res.kept)} planned before (kept; --again redoes them), "
                  f"in {res.seconds:.1f} s", highlight=False)
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
    if strict:
        fail_if_strict(fleet, plan_failed, "plan")


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
    strict: Annotated[bool, strict_option("convert (or, with --build, to build)")] = False,
    again: Annotated[bool, typer.Option(help="Convert members converted already again (default: only those "
                                             "without a stack yet; --member always converts).")] = False,
    key: FleetKeyOpt = None,
    keys_from_stdin: FleetKeysFromStdin = False,
) -> None:
    """Convert every ready member not converted yet to a stack under members/<name>/stack (plan first with
    `fleet plan`). Runs alone on the fleet (exit 43 if another run holds it); resumable. Encrypted members
    need their keys again (keys are never stored)."""
    _convert(fleet, backend=backend, member=member, build=build, workers=workers, as_json=as_json, strict=strict,
             again=again, keys=fleet_keys_of(key, keys_from_stdin))


def _convert(fleet: Path, *, backend: str = "auto", member: list[str] | None = None, build: bool = False,
             workers: int | None = None, as_json: bool = False, strict: bool = False, again: bool = False,
             keys: FleetKeys | None = None) -> None:
    from migrate.fleet.convert import build_fleet_stacks, convert_fleet
    from migrate.fleet.store import FleetStore

    _check_backend(backend)
    # the fleet is held (alone: FleetInUse otherwise) from the first stack written to the last image built
    with FleetStore.open(fleet) as store, store.hold("convert"):
        if as_json:
            res = convert_fleet(store, backend=backend, members=member, workers=workers, again=again, keys=keys)
        else:
            with err_console.status("converting") as status:
                res = convert_fleet(store, backend=backend, members=member, workers=workers, again=again,
                                    keys=keys, progress=lambda m: status.update(m))
        members = store.members()
        if build:
            converted = [m for m in members if m.state == "converted" and (not member or m.name in member)]
            if as_json:
                b = build_fleet_stacks(fleet, converted, store=store)  # failures recorded in member rows
            else:
                with err_console.status("building") as status:
                    b = build_fleet_stacks(fleet, converted, progress=lambda m: status.update(m), store=store)
    errors = {m.name: f"{m.error.error_class}: {m.error.message}" for m in members
              if m.name in res.failed and m.error}
    failed = [(m.name, m.error.error_class if m.error else "MigrateError") for m in members if m.name in res.failed]
    out: dict[str, object] = {"converted": res.done, "failed": errors, "kept": res.kept, "seconds": res.seconds}
    if build:
        failed += [(name, b.errors[name].error_class if name in b.errors else "BuildFailed")
                   for name in sorted(b.failed) if name not in res.failed]
        out["build"] = {"base_images": b.base_images, "stacks": b.stacks, "services": b.services,
                        "images_built": b.images_built, "failed": b.failed, "seconds": b.seconds,
                        "shared": [{"tag": g.tag, "image_id": g.image_id, "built_for": g.built_for,
                                    "used_by": [f"{m}/{s}" for m, s, _ in g.users]} for g in b.shared]}
    if as_json:
        print_json(out)
        if strict:
            fail_if_strict(fleet, failed, "convert")
        return
    console.print(f"{len(res.done)} stack(s) written, {len(errors)} failed, {len(res.kept)} converted before "
                  f"(kept; --again redoes them), in {res.seconds:.1f} s", highlight=False)
    for name, why in sorted(errors.items()):
        err_console.print(f"{name}: {why}", highlight=False, markup=False)
    if build:
        console.print(f"base images: {', '.join(b.base_images) or '-'}; {b.services} service image(s) in "
                      f"{b.stacks} stack(s) → {b.images_built} built, the rest shared; {b.seconds:.1f} s",
                      highlight=False)
        for name, why in sorted(b.failed.items()):
            err_console.print(f"build {name}: {why}", highlight=False, markup=False)
    if strict:
        fail_if_strict(fleet, failed, "convert")


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


def _plan_stage(fleet: Path, opts: RunOptions) -> None:
    _plan(fleet, backend=opts.backend, workers=opts.workers, keys=opts.keys)


def _convert_stage(fleet: Path, opts: RunOptions) -> None:
    _convert(fleet, backend=opts.backend, workers=opts.workers, keys=opts.keys)


def register(fleet_app: typer.Typer) -> None:
    fleet_app.command("plan")(plan)
    fleet_app.command("convert")(convert)
    fleet_app.command("waves")(waves)
    from migrate.cli.fleet import add_run_stage

    add_run_stage("plan", _plan_stage, with_options=True)
    add_run_stage("convert", _convert_stage, with_options=True)
