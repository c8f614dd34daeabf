"""`migrate inspect IMAGE...`"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from migrate.cli import output as out
from migrate.cli.common import clip, console, err_console, next_steps
from migrate.cli.keys import KeyOpt, KeysFromStdin, keys_of
from migrate.cli.steps import after_inspect
from migrate.errors import StrictModeFailure
from migrate.fsutil import atomic_write_text
from migrate.model.inventory import IISBinding, Inventory, WindowsProgram
from migrate.planning.out_of_scope import out_of_scope_reason


def _t(text: object, style: str = "") -> Text:
    """Guest text for rich, never markup ([link=...], [bold] stay text) and its control characters shown
    as \\x1b, so a hostile name in the guest cannot style, link or drive the terminal."""
    return Text(out.printable(str(text)), style=style)


def _add(table: Table, *cells: object) -> None:
    """A table row of guest text (see _t)."""
    table.add_row(*(_t(c) for c in cells))


PROGRAMS_SHOWN = 5  # programs named in the summary line; -v lists them all


def _binding(b: IISBinding) -> str:
    """An IIS binding as a person reads it: https 10.0.0.5:443 shop.example (address * = all)."""
    where = f"{b.address or '*'}:{b.port if b.port is not None else '?'}"
    return f"{b.protocol} {where}{' ' + b.host if b.host else ''}"


def _program(p: WindowsProgram) -> str:
    name = p.display_name or p.name
    return f"{name}{' ' + p.version if p.version and p.version not in name else ''}{' (32-bit)' if p.wow64 else ''}"


def _windows(inv: Inventory) -> None:
    """What a Windows guest runs, from its registry and IIS config: installed programs (count and the
    first few; all with -v), IIS sites with their bindings and folders, SQL Server instances."""
    w = inv.windows
    if w is not None:
        parts = [x for x in (w.edition, w.installation_type, f"build {w.build}" if w.build else None) if x]
        console.print(_t(f"Windows: {', '.join(parts) or '?'}; systemroot {w.systemroot}, control set "
                         f"{w.current_control_set or '?'}{', domain ' + w.domain if w.domain else ''}; "
                         f"{w.drivers} driver(s) not listed"), highlight=False)
    programs = sorted(inv.windows_programs, key=lambda p: (p.display_name or p.name).lower())
    if programs and out.verbose():
        pt = Table(title=f"Installed programs ({len(programs)})")
        for col in ("program", "version", "publisher", "location"):
            pt.add_column(col)
        for p in programs:
            _add(pt, p.display_name or p.name, p.version or "", p.publisher or "", p.install_location or "")
        console.print(pt)
    elif programs:
        shown = ", ".join(_program(p) for p in programs[:PROGRAMS_SHOWN])
        more = len(programs) - PROGRAMS_SHOWN
        console.print(_t(f"{len(programs)} installed program(s): {shown}"
                         f"{f' and {more} more (all: -v)' if more > 0 else ''}"), highlight=False)
    if inv.iis_sites:
        it = Table(title="IIS sites")
        for col in ("site", "id", "bindings", "applications", "folder"):
            it.add_column(col)
        for site in inv.iis_sites:
            folder = site.physical_path or "?"
            if site.guest_path and site.guest_path != folder:
                folder += f" ({site.guest_path})"
            _add(it, site.name, str(site.id) if site.id is not None else "", "\n".join(map(_binding, site.bindings)),
                       ", ".join(site.applications), folder)
        console.print(it)
    if inv.sqlserver_instances:
        qt = Table(title="SQL Server instances")
        for col in ("instance", "id", "version", "edition", "tcp ports", "service", "data root"):
            qt.add_column(col)
        for q in inv.sqlserver_instances:
            _add(qt, q.name, q.instance_id, q.version or "", q.edition or "",
                       ", ".join(map(str, q.tcp_ports)) or "dynamic/none", q.service or "", q.data_root or "")
        console.print(qt)


def _summary(inv: Inventory) -> None:
    os_ = inv.os
    console.print(Text.assemble(_t(inv.name, "bold"), "  ", _t(f"{os_.pretty_name or os_.distro} "
                  f"(family {os_.family}, version {os_.version or '?'})  backend: {inv.backend}")), highlight=False)
    if inv.sizing:
        s = inv.sizing
        disks = ", ".join(f"{d.name} {d.capacity_bytes // 2**20 if d.capacity_bytes else '?'} MiB" for d in s.disks)
        console.print(_t(f"sizing ({s.source}): {s.vcpus or '?'} vCPU, {s.memory_mib or '?'} MiB memory; "
                         f"disks: {disks}"), highlight=False)
    fs = Table(title="Filesystems", show_lines=False)
    for col in ("device", "type", "mounted on", "label/uuid"):
        fs.add_column(col)
    for f in inv.filesystems:
        _add(fs, f.device, f.fstype or "?", f.mountpoint or "-", f.label or f.uuid or "")
    console.print(fs)
    ports_by_service: dict[str, list[str]] = {}
    for p in inv.ports:
        where = p.path if p.proto == "unix" else f"{p.address + ':' if p.address else ''}{p.port}/{p.proto}"
        ports_by_service.setdefault(p.service or "?", []).append(where or "?")
    blocked = out_of_scope_reason(inv)  # a Windows guest: its services are shown, none can migrate
    svc = Table(title="Services to migrate" if blocked is None else f"Services (none can migrate: {blocked})")
    for col in ("service", "role", "state", "user", "listens"):
        svc.add_column(col)
    vm_only = []
    for s in inv.services:
        if s.vm_only:
            vm_only.append(s)
            continue
        if s.state in ("disabled", "static", "masked") and not s.role and s.name not in ports_by_service:
            continue
        state = f"{s.state} (start {s.windows_start})" if s.windows_start else s.state
        _add(svc, s.name, s.role or "", state, s.user or "", ", ".join(sorted(ports_by_service.get(s.name, []))))
    console.print(svc)
    _windows(inv)
    if vm_only:
        net_ports = {p.service for p in inv.ports if p.proto != "unix"}
        notable = [s for s in vm_only if s.role or s.name in net_ports]
        for s in notable:
            listens = ", ".join(sorted(ports_by_service.get(s.name, [])))
            console.print(Text.assemble("VM-only, left out: ", _t(s.name, "bold"), _t(
                f" ({s.role or 'service'}{', ' + listens if listens else ''}): {s.vm_only_reason}")), highlight=False)
        if out.verbose():
            for s in vm_only:
                if s not in notable:
                    console.print(_t(f"VM-only, left out: {s.name} ({s.state}): {s.vm_only_reason}"), highlight=False)
        else:
            enabled = sorted(s.name for s in vm_only if s not in notable and s.state == "enabled")
            others = len(vm_only) - len(notable) - len(enabled)
            console.print(_t(f"VM-only, left out: {', '.join(enabled) or 'nothing else enabled'}"
                             f" (and {others} static/disabled units; each with its reason: -v)"), highlight=False)
    if inv.persistent_paths:
        pp = Table(title="Persistent data")
        for col in ("path", "service", "kind", "why"):
            pp.add_column(col)
        for p in inv.persistent_paths:
            _add(pp, p.path, p.service or "", p.kind, p.reason)
        console.print(pp)
    if inv.connections:
        ct = Table(title="Connections")
        for col in ("from", "to", "via"):
            ct.add_column(col)
        for c in inv.connections:
            _add(ct, c.from_service or "?", c.url_redacted, c.via or "")
        console.print(ct)
    if inv.secrets:
        st = Table(title="Secrets (redacted)")
        for col in ("id", "kind", "where", "value"):
            st.add_column(col)
        for s in inv.secrets:
            _add(st, s.id, s.kind, s.evidence.path, s.redacted)
        console.print(st)
    if inv.jobs:
        jt = Table(title="Scheduled jobs")
        for col in ("schedule", "user", "command", "from"):
            jt.add_column(col)
        for j in inv.jobs:
            _add(jt, j.schedule, j.user or "", clip(j.command, 60), j.evidence.path)
        console.print(jt)
    console.print(f"{len(inv.packages)} packages, {len(inv.users)} users, {len(inv.configs)} config files")
    if inv.unknowns:
        ut = Table(title="Unknowns (kept for a human to look at)")
        for col in ("analyzer", "path", "message"):
            ut.add_column(col)
        for u in inv.unknowns:
            _add(ut, u.analyzer, u.path or "", u.message)
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
        why, later = after_inspect(inventory, images, keyed=keys is not None)
        if why:
            out.info(why)
        next_steps(later)
    if strict and inventory.unknowns:
        raise StrictModeFailure(f"{len(inventory.unknowns)} unknown(s) recorded (--strict)",
                                path=str(images[0]))


def register(app: typer.Typer) -> None:
    app.command()(inspect)
