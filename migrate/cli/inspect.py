"""`migrate inspect IMAGE...`"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from migrate.cli import output as out
from migrate.cli.common import arg, clip, console, err_console, next_steps
from migrate.cli.keys import KeyOpt, KeysFromStdin, keys_of
from migrate.errors import StrictModeFailure
from migrate.fsutil import atomic_write_text
from migrate.model.inventory import Inventory


def _summary(inv: Inventory) -> None:
    os_ = inv.os
    console.print(f"[bold]{inv.name}[/]  {os_.pretty_name or os_.distro} "
                  f"(family {os_.family}, version {os_.version or '?'})  backend: {inv.backend}")
    if inv.sizing:
        s = inv.sizing
        disks = ", ".join(f"{d.name} {d.capacity_bytes // 2**20 if d.capacity_bytes else '?'} MiB" for d in s.disks)
        console.print(f"sizing ({s.source}): {s.vcpus or '?'} vCPU, {s.memory_mib or '?'} MiB memory; disks: {disks}")
    fs = Table(title="Filesystems", show_lines=False)
    for col in ("device", "type", "mounted on", "label/uuid"):
        fs.add_column(col)
    for f in inv.filesystems:
        fs.add_row(f.device, f.fstype or "?", f.mountpoint or "-", f.label or f.uuid or "")
    console.print(fs)
    ports_by_service: dict[str, list[str]] = {}
    for p in inv.ports:
        where = p.path if p.proto == "unix" else f"{p.address + ':' if p.address else ''}{p.port}/{p.proto}"
        ports_by_service.setdefault(p.service or "?", []).append(where or "?")
    svc = Table(title="Services to migrate")
    for col in ("service", "role", "state", "user", "listens"):
        svc.add_column(col)
    vm_only = []
    for s in inv.services:
        if s.vm_only:
            vm_only.append(s)
            continue
        if s.state in ("disabled", "static", "masked") and not s.role and s.name not in ports_by_service:
            continue
        svc.add_row(s.name, s.role or "", s.state, s.user or "", ", ".join(sorted(ports_by_service.get(s.name, []))))
    console.print(svc)
    if vm_only:
        net_ports = {p.service for p in inv.ports if p.proto != "unix"}
        notable = [s for s in vm_only if s.role or s.name in net_ports]
        for s in notable:
            listens = ", ".join(sorted(ports_by_service.get(s.name, [])))
            console.print(f"VM-only, left out: [bold]{s.name}[/] ({s.role or 'service'}"
                          f"{', ' + listens if listens else ''}): {s.vm_only_reason}", highlight=False)
        if out.verbose():
            for s in vm_only:
                if s not in notable:
                    console.print(f"VM-only, left out: {s.name} ({s.state}): {s.vm_only_reason}", highlight=False)
        else:
            enabled = sorted(s.name for s in vm_only if s not in notable and s.state == "enabled")
            others = len(vm_only) - len(notable) - len(enabled)
            console.print(f"VM-only, left out: {', '.join(enabled) or 'nothing else enabled'}"
                          f" (and {others} static/disabled units; each with its reason: -v)", highlight=False)
    if inv.persistent_paths:
        pp = Table(title="Persistent data")
        for col in ("path", "service", "kind", "why"):
            pp.add_column(col)
        for p in inv.persistent_paths:
            pp.add_row(p.path, p.service or "", p.kind, p.reason)
        console.print(pp)
    if inv.connections:
        ct = Table(title="Connections")
        for col in ("from", "to", "via"):
            ct.add_column(col)
        for c in inv.connections:
            ct.add_row(c.from_service or "?", c.url_redacted, c.via or "")
        console.print(ct)
    if inv.secrets:
        st = Table(title="Secrets (redacted)")
        for col in ("id", "kind", "where", "value"):
            st.add_column(col)
        for s in inv.secrets:
            st.add_row(s.id, s.kind, s.evidence.path, s.redacted)
        console.print(st)
    if inv.jobs:
        jt = Table(title="Scheduled jobs")
        for col in ("schedule", "user", "command", "from"):
            jt.add_column(col)
        for j in inv.jobs:
            jt.add_row(j.schedule, j.user or "", clip(j.command, 60), j.evidence.path)
        console.print(jt)
    console.print(f"{len(inv.packages)} packages, {len(inv.users)} users, {len(inv.configs)} config files")
    if inv.unknowns:
        ut = Table(title="Unknowns (kept for a human to look at)")
        for col in ("analyzer", "path", "message"):
            ut.add_column(col)
        for u in inv.unknowns:
            ut.add_row(u.analyzer, u.path or "", u.message)
        console.print(ut)


def inspect(
    images: Annotated[list[Path], typer.Argument(help="Disk images of one VM (in disk order), one OVA, or an "
                                                      "extracted guest directory.",
                                                 show_default=False)],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the inventory JSON here.")] = None,
    backend: Annotated[str, typer.Option(help="auto | native | guestfs. auto: native, guestfs for layouts "
                                              "native cannot read.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the inventory JSON instead of a summary.")] = False,
    strict: Annotated[bool, typer.Option(help="Exit 3 when any analyzer left an unknown (an unidentified OS "
                                                   "is one).")] = False,
    allow_unlisted_disks: Annotated[bool, typer.Option(
        help="OVA: accept disks its manifest does not cover (refused with exit 34 otherwise).")] = False,
    key: KeyOpt = None,
    keys_from_stdin: KeysFromStdin = False,
    sbom: Annotated[Path | None, typer.Option(
        "--sbom", metavar="FILE", help="Also write the VM's installed packages as a CycloneDX SBOM (JSON).")] = None,
) -> None:
    """Inspect offline VM disk images: OS, packages, users, services, ports, configs, secrets
    (redacted), scheduled jobs and persistent data."""
    from migrate.inspect import inspect_images

    keys = keys_of(key, keys_from_stdin)
    if as_json:
        inventory = inspect_images(images, backend, allow_unlisted_disks=allow_unlisted_disks, keys=keys)
    else:
        with err_console.status("inspecting") as status:
            inventory = inspect_images(images, backend, progress=lambda msg: status.update(msg),
                                       allow_unlisted_disks=allow_unlisted_disks, keys=keys)
    text = inventory.to_json()
    if output is not None:
        atomic_write_text(output, text)
    if sbom is not None:
        from migrate.sbom import inventory_bom

        atomic_write_text(sbom, inventory_bom(inventory))
    if as_json:
        print(text, end="")
    else:
        _summary(inventory)
        if output is not None:
            console.print(f"inventory written to {output}")
        if sbom is not None:
            console.print(f"SBOM (CycloneDX) written to {sbom}")
        disks = " ".join(arg(i) for i in images)
        next_steps([f"migrate convert {disks} -o OUTDIR   (or, to review the plan first: migrate plan {disks} "
                    "-o plan.yaml, edit it, then migrate generate plan.yaml --image ...)"])
    if strict and inventory.unknowns:
        raise StrictModeFailure(f"{len(inventory.unknowns)} unknown(s) recorded (--strict)",
                                path=str(images[0]))


def register(app: typer.Typer) -> None:
    app.command()(inspect)
