"""The project's own commands in the order a migration runs them, for the "next:" lines.

generate/convert -> build -> data export -> data import -> up -> verify. Each command prints the
steps after its own, with the paths and names of this run filled in, so nobody has to reach for
guestmount, cp or a bare ``docker compose build`` (which would miss the labels, the data and the
checks these commands add).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from migrate.cli.common import arg
from migrate.errors import MigrateError
from migrate.model.inventory import Inventory
from migrate.model.plan import Plan
from migrate.planning.out_of_scope import BLOCKER_KIND, out_of_scope_reason, stack_refusal

KEYS_HINT = " --keys-from-stdin < KEYFILE"  # the same keys again; never the keys themselves
ORDER = ("generate", "build", "data-export", "data-import", "up", "verify")


def stack_plan(outdir: Path) -> Plan | None:
    """The plan kept in a generated stack directory, if it can be read."""
    with contextlib.suppress(MigrateError, OSError):
        return Plan.load(Path(outdir) / "plan.yaml")
    return None


def data_dir(outdir: Path | None) -> str:
    return arg(f"{outdir}-data") if outdir is not None else "DATA"


def after(stage: str, *, outdir: Path | None = None, plan: Plan | None = None,
          images: Sequence[Path | str] = (), secrets_file: Path | None = None,
          data: Path | None = None, project: str | None = None, keyed: bool = False) -> list[str]:
    """The commands that follow ``stage`` (one of ORDER), filled in with what this run knows.

    ``keyed``: the guest needed keys (LUKS) to open; the commands that open it again say how to give
    them, never what they are."""
    if plan is None and outdir is not None:
        plan = stack_plan(outdir)
    stack = arg(outdir) if outdir is not None else "OUTDIR"
    name = project or (plan.name if plan is not None else "NAME")
    secrets = f" --secrets-file {arg(secrets_file)}" if secrets_file else ""
    named = f" --project {arg(project)}" if project else ""  # a name given to one step goes to the next
    disks = " ".join(arg(i) for i in images) or "IMAGE..."
    keys = KEYS_HINT if keyed else ""
    export_dir = arg(data) if data is not None else data_dir(outdir)
    has_data = plan is None or bool(plan.volumes)
    steps: dict[str, list[str]] = {
        "build": [f"migrate build {stack}"],
        "data-export": [f"migrate data export {disks} -o {export_dir}{keys}"] if has_data else [],
        "data-import": [f"migrate data import {export_dir} --project {arg(name)} --outdir {stack}"]
        if has_data else [],
        "up": [f"migrate up {stack}{named}{secrets}"],
        "verify": [f"migrate verify {stack}{named}{secrets}"],
    }
    out: list[str] = []
    if stage == "generate" and plan is not None and plan.secrets and not secrets_file:
        out.append(f"put each secret's value in {stack}/secrets/<name>.txt (see the .example files), or pass "
                   "a mode-0600 NAME=value file to up and verify with --secrets-file")
    for later in ORDER[ORDER.index(stage) + 1:]:
        out.extend(steps[later])
    return out



def after_inspect(inventory: Inventory, images: Sequence[Path | str], *,
                  keyed: bool = False) -> tuple[str | None, list[str]]:
    """(why there is nothing to convert, or None; the next commands) after ``migrate inspect``.

    A guest no Linux container can run (a Windows VM, out_of_scope_reason) gets no convert hint: convert
    would refuse its plan. Its next step is ``migrate plan``, which records every service as a blocker."""
    disks = " ".join(arg(i) for i in images) or "IMAGE..."
    keys = KEYS_HINT if keyed else ""
    reason = out_of_scope_reason(inventory)
    if reason is not None:
        what = inventory.os.pretty_name or inventory.os.distro
        return (f"nothing to convert: {what} is a {inventory.os.family} guest: {reason}",
                [f"migrate plan {disks} -o plan.yaml{keys}   (records each service as a blocker with its evidence, "
                 "what the fleet report counts)"])
    return None, [f"migrate convert {disks} -o OUTDIR{keys}   (or, to review the plan first: migrate plan {disks} "
                  f"-o plan.yaml{keys}, edit it, then migrate generate plan.yaml --image ...)"]


def after_plan(plan: Plan, output: Path, images: Sequence[Path | str], *,
               keyed: bool = False) -> tuple[str | None, list[str]]:
    """(why there is nothing to generate, or None; the next commands) after ``migrate plan``: a plan
    whose services are all blocked by the guest's OS (stack_refusal) is the record of its blockers, and
    generate would refuse it."""
    if stack_refusal(plan) is not None:
        blocked = [b for b in plan.fitness.blockers if b.kind == BLOCKER_KIND]
        reason = blocked[0].detail.rsplit(": ", 1)[-1]
        return (f"nothing to generate from {arg(output)}: its {len(blocked)} service(s) are all blocked ({reason}); "
                "the plan is the record of this VM's blockers, with their evidence, for the fleet report", [])
    disks = [arg(x) for x in images] or ["IMAGE..."]
    keys = KEYS_HINT if keyed else ""
    return None, [f"review and edit {arg(output)}, then: migrate generate {arg(output)} --image "
                  f"{' --image '.join(disks)} -o OUTDIR{keys}"]
