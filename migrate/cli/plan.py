"""`migrate plan INVENTORY|IMAGE -o plan.yaml`: one container per service, every decision with a reason."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from migrate.cli import output as out
from migrate.cli.common import clip, console, next_steps, print_json
from migrate.cli.keys import KeyOpt, KeysFromStdin, keys_of
from migrate.errors import UsageError
from migrate.fsutil import atomic_write_text
from migrate.model.plan import Plan

Org = Annotated[str | None, typer.Option(help="Organisation for the label prefix com.<org>.docker.* "
                                              "(default: example, or the labels config).")]
Label = Annotated[list[str] | None, typer.Option(
    "--label", help="KEY=VALUE for com.<org>.docker.KEY; KEY: environment, maturity, maintainer, geo, "
                    "ops-guide, test-script. Repeatable.")]
LabelsConfig = Annotated[Path | None, typer.Option(
    help="YAML file with `org:` and `labels:` (the same keys); options given here win.")]
BaseImage = Annotated[str | None, typer.Option(help="Base image for every container instead of the one "
                                                    "matched to the guest's distribution.")]
RootfsOpt = Annotated[Path | None, typer.Option(help="An extracted guest tree to read config files from "
                                                     "(when SOURCE is a document).")]
Backend = Annotated[str, typer.Option(help="Image backend when SOURCE is a disk image: auto|native|guestfs.")]


def left_out_summary(p: Plan) -> list[str]:
    """The services the plan leaves out, one line per reason with how many share it (the names when
    few do), instead of one line per unit: a Debian VM has ~90 units that are the VM's own plumbing."""
    by_reason: dict[str, list[str]] = {}
    for d in p.dropped:
        by_reason.setdefault(d.reason, []).append(d.service)
    lines = []
    for reason, names in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        who = ", ".join(sorted(names)) if len(names) <= 3 else f"{len(names)} units"
        lines.append(f"{who}: {reason}")
    return lines


def job_line(j) -> str:  # type: ignore[no-untyped-def]
    """Where a scheduled job of the VM goes: a service of the stack, a container that has what it
    needs (run it there from the host's scheduler), or a host (it uses nothing the stack provides)."""
    where = (f"runs as the stack's service {j.name}" if j.action == "service" else
             f"can run in container {j.run_in} (docker compose exec)" if j.run_in else
             "stays on a host: it uses nothing a container provides")
    return f"job {j.schedule} {clip(j.command, 50)}: {where}"


def print_plan_summary(p: Plan) -> None:
    table = Table(title=f"Plan for {p.source_vm} (fitness {p.fitness.score}/100)")
    for col in ("container", "from", "base image", "user", "ports", "volumes", "secrets", "after", "fitness"):
        table.add_column(col)
    for c in p.containers:
        table.add_row(c.name, c.source_service, c.base.image, f"{c.user.uid}:{c.user.gid}",
                      ", ".join(f"{x.port}{'*' if x.publish else ''}" for x in c.ports),
                      ", ".join(v.volume for v in c.volumes), ", ".join(s.secret for s in c.secrets),
                      ", ".join(d.service for d in c.depends_on), str(c.fitness.score))
    console.print(table)
    if p.dropped:
        if out.verbose():
            for d in p.dropped:
                console.print(f"[dim]left out[/] {d.service}: {d.reason}", highlight=False)
        else:
            console.print(f"[dim]left out[/] {len(p.dropped)} services of the VM (each with its reason: -v, "
                          "plan.yaml `dropped:`)", highlight=False)
            for line in left_out_summary(p):
                console.print(f"  {line}", highlight=False)
    stack_jobs = [j for j in p.jobs if j.action == "service" or j.run_in]
    for j in (p.jobs if out.verbose() else stack_jobs):
        console.print(f"[dim]{job_line(j)}[/]", highlight=False)
    if not out.verbose() and len(p.jobs) > len(stack_jobs):
        console.print(f"[dim]{len(p.jobs) - len(stack_jobs)} more scheduled job(s) of the VM stay on a host: they "
                      "use nothing a container provides (list: -v)[/]", highlight=False)
    for b in [*p.fitness.blockers, *(b for c in p.containers for b in c.fitness.blockers)]:
        console.print(f"[{'red' if b.severity == 'blocker' else 'yellow'}]{b.severity}[/] {b.kind}: {b.detail}")
    for x in p.external:
        console.print(f"[yellow]external[/] {x.subject}: {x.reason}")


def plan(
    source: Annotated[list[Path], typer.Argument(help="inventory.json, or the disk images of one VM.",
                                                 show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the plan.")] = Path("plan.yaml"),
    org: Org = None,
    label: Label = None,
    labels_config: LabelsConfig = None,
    base_image: BaseImage = None,
    rootfs: RootfsOpt = None,
    backend: Backend = "auto",
    key: KeyOpt = None,
    keys_from_stdin: KeysFromStdin = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON instead of a summary.")] = False,
) -> None:
    """Plan the containers for a VM and write plan.yaml: review and edit it, then `migrate generate`."""
    from migrate.generate import open_source
    from migrate.plan import build_options, make_plan

    options = build_options(org=org, labels=label, labels_config=labels_config, base_image=base_image)
    keys = keys_of(key, keys_from_stdin)
    with open_source(source, backend=backend, rootfs=rootfs, keys=keys) as src:
        if src.inventory is None:
            raise UsageError("plan needs an inventory or disk images; to use a plan run `migrate generate`",
                             path=str(source[0]))
        p = make_plan(src.inventory, options=options, reader=src.reader)
    atomic_write_text(output, p.to_yaml())
    if as_json:
        print_json(p.canonical().model_dump(mode="json"))
        return
    print_plan_summary(p)
    out.info(f"plan written to {output}")
    from migrate.cli.steps import after_plan
    from migrate.generate import input_kind

    why, later = after_plan(p, output, [x for x in source if input_kind(Path(x)) == "image"],
                            keyed=keys is not None)
    if why:
        out.info(why)
    next_steps(later)


def register(app: typer.Typer) -> None:
    app.command()(plan)
