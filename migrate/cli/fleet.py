"""`migrate fleet …`: many VMs in one resumable run (docs/fleet.md).

``fleet_app`` is the sub-app; other fleet commands register on it from their own modules (listed in
FLEET_COMMAND_MODULES, each with ``register(fleet_app)``), and may add a step to ``fleet run`` with
``add_run_stage``.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from migrate.cli.common import console, err_console, print_json
from migrate.cli.keys import FleetKeyOpt, FleetKeysFromStdin, fleet_keys_of
from migrate.errors import UsageError
from migrate.model.fleet import stage_rank

if TYPE_CHECKING:
    from migrate.fleet.keys import FleetKeys

fleet_app = typer.Typer(name="fleet", help="Assess and convert many VMs at once: add sources, inspect them in "
                                           "parallel (resumable), then plan, convert and report.",
                        no_args_is_help=True)

# Modules of other fleet commands, each with register(fleet_app); missing ones are skipped.
FLEET_COMMAND_MODULES = ("fleet_convert", "fleet_report")

# Steps `fleet run` performs after inspect, in order: (name, function(fleet_dir)), or
# function(fleet_dir, RunOptions) for the steps registered with_options (see add_run_stage).
RUN_STAGES: list[tuple[str, Callable[..., None]]] = []
_STAGES_WITH_OPTIONS: set[str] = set()


@dataclass
class RunOptions:
    """What `fleet run` was given that its later steps use too: the backend, the parallelism and the keys
    (memory only; repr never shows them)."""

    backend: str = "auto"
    workers: int | None = None
    keys: FleetKeys | None = field(default=None, repr=False)

FleetArg = Annotated[Path, typer.Argument(help="The fleet directory (holds fleet.db and members/).",
                                          show_default=False)]


def add_run_stage(name: str, fn: Callable[..., None], *, with_options: bool = False) -> None:
    """Append a step to `fleet run` (after inspect). ``fn(fleet_dir)``, or ``fn(fleet_dir, RunOptions)``
    ``with_options``, raises MigrateError on failure."""
    if any(n == name for n, _ in RUN_STAGES):
        raise ValueError(f"fleet run stage {name!r} registered twice")
    RUN_STAGES.append((name, fn))
    if with_options:
        _STAGES_WITH_OPTIONS.add(name)


def add(
    fleet: FleetArg,
    paths: Annotated[list[str] | None, typer.Argument(
        help="Disk images, OVAs, directories (scanned for images by content) or quoted globs.",
        show_default=False)] = None,
    manifest: Annotated[Path | None, typer.Option(
        help="CSV with columns path,name (required) and owner,environment,wave. Paths are relative to the "
             "manifest and must stay inside its folder or an --allow-dir.")] = None,
    rvtools: Annotated[Path | None, typer.Option(
        help="RVTools export: the .xlsx workbook (vInfo sheet) or vInfo saved as .csv. VMs without an image "
             "become members in state no-image.")] = None,
    allow_dir: Annotated[list[Path] | None, typer.Option(
        "--allow-dir", help="Another folder a manifest may name images in (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was added as JSON.")] = False,
) -> None:
    """Add sources to a fleet (created if needed): images, a manifest, an RVTools export. Runs alone on the
    fleet (exit 43 while an inspect, plan or convert runs)."""
    from migrate.fleet.sources import add_sources, read_sources
    from migrate.fleet.store import FleetStore

    if not paths and manifest is None and rvtools is None:
        raise UsageError("nothing to add: give image paths, --manifest or --rvtools")
    sources = read_sources(paths or [], manifest=manifest, rvtools=rvtools, allow_dirs=allow_dir or [])
    # only once every source has been read and validated; alone, as plan and convert: add merges, renames
    # and resets member rows, which a run working on them would write back over (FleetInUse otherwise)
    with FleetStore.create(fleet) as store, store.hold("add"):
        result = add_sources(store, sources)
        counts = store.counts()
    if as_json:
        print_json({"added": result.added, "updated": result.updated, "notes": result.notes,
                    "skipped": [{"path": p, "why": w} for p, w in result.skipped], "counts": counts})
        return
    for p, why in result.skipped:
        err_console.print(f"skipped {p}: {why}", highlight=False, markup=False)
    for note in result.notes:
        err_console.print(note, highlight=False, markup=False)
    console.print(f"{len(result.added)} member(s) added, {len(result.updated)} updated; fleet: "
                  + ", ".join(f"{n} {s}" for s, n in counts.items()), highlight=False)


def inspect(
    fleet: FleetArg,
    workers: Annotated[int | None, typer.Option(help="Local Dask worker processes (default: one per CPU).",
                                                min=1)] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Attach to an existing Dask scheduler (tcp://HOST:8786) instead of starting local workers; its "
             "workers must see the images and the fleet directory at the same paths.")] = None,
    backend: Annotated[str, typer.Option(help="auto | native | guestfs (as for `migrate inspect`).")] = "auto",
    timeout: Annotated[float, typer.Option(help="Per-image time limit, seconds.", min=1)] = 600.0,
    memory_cap: Annotated[int, typer.Option(help="Per-image memory cap, MiB: private memory of the image's "
                                                 "process and what it starts (libguestfs's qemu).", min=1)] = 2048,
    full_hash: Annotated[bool, typer.Option(help="Fingerprint images by hashing every byte, not samples.")] = False,
    retry_failed: Annotated[bool, typer.Option(help="Inspect failed members again.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    strict: Annotated[bool, typer.Option(help="Exit 3 when any member is failed after the run (default: 0 once "
                                              "the batch ran; the failed rows are in the output and `fleet "
                                              "status`).")] = False,
    key: FleetKeyOpt = None,
    keys_from_stdin: FleetKeysFromStdin = False,
) -> None:
    """Inspect every member that needs it, in parallel; resumable (kill it, run it again). Members that
    failed for want of a key are inspected again when keys are given."""
    from migrate.fleet.engine import EngineOptions

    opts = EngineOptions(workers=workers, scheduler=scheduler, backend=backend, timeout=timeout,
                         memory_mib=memory_cap, full_hash=full_hash, retry_failed=retry_failed,
                         keys=fleet_keys_of(key, keys_from_stdin))
    _inspect(fleet, opts, as_json, strict=strict)


def _inspect(fleet: Path, opts: object, as_json: bool, *, strict: bool = False) -> None:
    from migrate.fleet.engine import EngineOptions, Tick, run_inspect
    from migrate.fleet.store import FleetStore
    from migrate.inspect import BACKENDS

    assert isinstance(opts, EngineOptions)
    if opts.backend not in BACKENDS:
        raise UsageError(f"unknown backend {opts.backend!r}; choose one of {', '.join(BACKENDS)}")
    with FleetStore.open(fleet) as store:
        if as_json:
            summary = run_inspect(store, opts)
        else:
            with Progress(TextColumn("[bold]inspecting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TimeRemainingColumn(), TextColumn("{task.description}", markup=False), console=err_console,
                          transient=False) as bar:
                task = bar.add_task("", total=None)

                def tick(t: Tick) -> None:
                    bar.update(task, completed=t.done, total=t.total, description=f"{t.name}: {t.outcome}")

                summary = run_inspect(store, opts, progress=tick)
        failed = store.members(state="failed")
    if as_json:
        print_json({"inspected": summary.inspected, "failed": summary.failed, "unchanged": summary.unchanged,
                    "stale": summary.stale, "reclaimed": summary.reclaimed, "workers": summary.workers,
                    "seconds": round(summary.seconds, 3), "counts": summary.counts})
        if strict:
            _fail_if_strict(fleet, failed)
        return
    console.print(f"{summary.inspected} inspected, {summary.failed} failed, {summary.unchanged} unchanged "
                  f"in {summary.seconds:.1f} s on {summary.workers} worker(s); fleet: "
                  + ", ".join(f"{n} {s}" for s, n in summary.counts.items()), highlight=False)
    if failed:
        table = Table(title="Failed members")
        for col in ("member", "error", "exit", "message"):
            table.add_column(col)
        for m in failed:
            assert m.error is not None
            # names and messages come from files, manifests and guests: text, never rich markup
            table.add_row(escape(m.name), m.error.error_class, str(m.error.exit_code), escape(m.error.message))
        console.print(table)
    if strict:
        _fail_if_strict(fleet, failed)


def _fail_if_strict(fleet: Path, failed: list) -> None:  # type: ignore[type-arg]
    from migrate.cli.fleet_convert import fail_if_strict

    fail_if_strict(fleet, [(m.name, m.error.error_class if m.error else "MigrateError") for m in failed], "inspect")


def status(
    fleet: FleetArg,
    as_json: Annotated[bool, typer.Option("--json", help="Counts and members as JSON.")] = False,
) -> None:
    """Members of the fleet by state, and the runs working on it (command, pid, host, since, heartbeat)."""
    import time

    from migrate.fleet.store import FleetStore

    with FleetStore.open(fleet) as store:
        counts = store.counts()
        members = store.members()
        runs = store.runs()
    live = [r for r in runs if not r.gone]
    errors = errors_by_stage(members)
    if as_json:
        print_json({"counts": counts, "total": len(members), "active_runs": len(live),
                    "runs": [{"command": r.command, "pid": r.pid, "host": r.host,
                              "since": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(r.started)),
                              "heartbeat_age_s": round(r.heartbeat_age, 1), "gone": r.gone} for r in runs],
                    "members": [{"name": m.name, "state": m.state, "image": m.image, "fingerprint": m.fingerprint,
                                 "error": m.error.model_dump() if m.error else None} for m in members],
                    "errors": [{"stage": stage, "error": cls, "exit_code": code, "members": n}
                               for (stage, cls, code), n in errors]})
        return
    table = Table(title=f"Fleet {fleet.name}: {len(members)} member(s)")
    table.add_column("state")
    table.add_column("members", justify="right")
    for state, n in counts.items():
        table.add_row(state, str(n))
    console.print(table)
    if errors:
        et = Table(title="Members with errors, by stage and error")
        for col in ("stage", "error", "exit code", "members"):
            et.add_column(col)
        for (stage, cls, code), n in errors:
            et.add_row(stage, escape(cls), str(code), str(n))
        console.print(et)
    if runs:
        rt = Table(title=f"Runs on this fleet: {len(live)} active" + (f", {len(runs) - len(live)} gone" if
                                                                       len(runs) > len(live) else ""))
        for col in ("command", "pid", "host", "since", "heartbeat", "state"):
            rt.add_column(col)
        for r in runs:
            rt.add_row(f"fleet {r.command}", str(r.pid), escape(r.host),
                       time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(r.started)),
                       f"{round(r.heartbeat_age)} s ago",
                       "gone (process not running; the next run drops it)" if r.gone else "active")
        console.print(rt)


def errors_by_stage(members: list) -> list[tuple[tuple[str, str, int], int]]:  # type: ignore[type-arg]
    """Every member whose row holds an error, whatever its state (a `converted` member whose image build
    failed keeps its state and carries the error, stage build), counted by (stage, error class, exit
    code): stages in pipeline order, then the most members first."""
    counts = Counter((m.error.stage, m.error.error_class, m.error.exit_code) for m in members if m.error)
    return sorted(counts.items(), key=lambda kv: (stage_rank(kv[0][0]), -kv[1], kv[0][1], kv[0][2]))


def stages_phrase(stages: set[str]) -> str:
    """The stages found, in pipeline order, as words: "build", "plan or build", "inspect, plan or convert"."""
    found = sorted(stages, key=lambda s: (stage_rank(s), s))
    return found[0] if len(found) == 1 else ", ".join(found[:-1]) + " or " + found[-1]


def run(
    fleet: FleetArg,
    workers: Annotated[int | None, typer.Option(help="Local Dask worker processes (default: one per CPU).",
                                                min=1)] = None,
    scheduler: Annotated[str | None, typer.Option(help="Attach to an existing Dask scheduler.")] = None,
    backend: Annotated[str, typer.Option(help="auto | native | guestfs.")] = "auto",
    key: FleetKeyOpt = None,
    keys_from_stdin: FleetKeysFromStdin = False,
    strict: Annotated[bool, typer.Option(help="Exit 3 after the last step when any member's row holds an error "
                                              "(inspect, plan, convert or an earlier `fleet convert --build`; the "
                                              "message names the stages found; default: 0 once the steps ran; "
                                              "the failed rows are in the output and `fleet status`).")] = False,
) -> None:
    """Everything after `fleet add`: inspect, then every registered step (plan, convert, report), with the
    same backend, workers and keys (encrypted members need them at each step: keys are never stored)."""
    from migrate.fleet.engine import EngineOptions

    keys = fleet_keys_of(key, keys_from_stdin)
    _inspect(fleet, EngineOptions(workers=workers, scheduler=scheduler, backend=backend, keys=keys), False)
    if not RUN_STAGES:
        err_console.print("no further fleet steps are installed (plan/convert/report)")
    opts = RunOptions(backend=backend, workers=workers, keys=keys)
    for name, fn in RUN_STAGES:
        err_console.print(f"[bold]fleet {name}[/]")
        if name in _STAGES_WITH_OPTIONS:
            fn(fleet, opts)
        else:
            fn(fleet)
    if strict:
        _fail_if_any_failed(fleet)


def _fail_if_any_failed(fleet: Path) -> None:
    """`fleet run --strict`: every member whose row holds an error after the run failed in some step (a
    step that succeeds clears its member's error; a failed one is tried again by the next run)."""
    from migrate.cli.fleet_convert import fail_if_strict
    from migrate.fleet.store import FleetStore

    with FleetStore.open(fleet) as store:
        with_error = [m for m in store.members() if m.error]
    failed = [(m.name, f"{m.error.error_class} in {m.error.stage}") for m in with_error if m.error]
    fail_if_strict(fleet, failed, stages_phrase({m.error.stage for m in with_error if m.error}) if failed else "")


fleet_app.command()(add)
fleet_app.command()(inspect)
fleet_app.command()(status)
fleet_app.command()(run)


def _register_fleet_commands() -> None:
    for name in FLEET_COMMAND_MODULES:
        try:
            module = importlib.import_module(f"migrate.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"migrate.cli.{name}":
                continue
            raise
        module.register(fleet_app)


def register(app: typer.Typer) -> None:
    _register_fleet_commands()
    app.add_typer(fleet_app, name="fleet")
