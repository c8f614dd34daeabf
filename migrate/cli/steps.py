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
from migrate.model.plan import Plan

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
