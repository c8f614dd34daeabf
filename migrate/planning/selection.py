"""Selection: which services of the VM become containers, and their names."""

from __future__ import annotations

from migrate.kinds import GENERIC, kind_for
from migrate.kinds.vmonly import vm_only_reason as vm_plumbing
from migrate.model.inventory import Service
from migrate.model.plan import Dropped
from migrate.planning.context import PlanContext, slug

TRUE_COMMANDS = ("/bin/true", "/usr/bin/true")


def vm_only_reason(s: Service, listens: bool = False, timers: frozenset[str] = frozenset()) -> str | None:
    """Why ``s`` stays with the VM, or None when it is planned. ``timers``: the services systemd timers
    start (their runs are planned as jobs)."""
    if s.vm_only:
        return s.vm_only_reason or "marked VM-only by the inspector"
    plumbing = vm_plumbing(s.name, s.role)
    if plumbing:
        return plumbing
    if s.name.endswith("@"):
        return "a template unit: its instances are planned, not the template"
    if s.state in ("disabled", "masked"):
        return f"{s.state} in the VM: nothing started it"
    if s.name in timers and not listens:
        return "started by its systemd timer, not at boot: the timer's runs are planned under jobs"
    if (s.role and kind_for(s) is not GENERIC) or listens:
        return None  # a server, even behind a wrapper unit (Debian's postgresql.service): planned from its kind
    if not s.exec_start:
        return "no command to run (no ExecStart or script found)"
    if s.unit_type == "oneshot" and s.exec_start[0].lstrip("-@+!:") in TRUE_COMMANDS:
        return "a oneshot wrapper unit that runs /bin/true; its instances are the real services"
    return None


def container_name(s: Service) -> str:
    name = kind_for(s).container_name(s)
    if name:
        return name
    return slug(s.name.split("@")[0] if "@" in s.name and s.role else s.name)


def select(ctx: PlanContext) -> None:
    listening = {p.service for p in ctx.inv.ports}
    timers = frozenset(j.unit.removesuffix(".timer") for j in ctx.inv.jobs
                       if j.source == "systemd-timer" and j.unit and j.unit.endswith(".timer"))
    for s in ctx.inv.services:
        reason = vm_only_reason(s, s.name in listening, timers)
        if reason:
            ctx.dropped.append(Dropped(service=s.name, reason=reason))
            continue
        name = container_name(s)
        if name in ctx.containers:
            name = slug(s.name)
        n, i = name, 2
        while n in ctx.containers:
            n, i = f"{name}-{i}", i + 1
        ctx.containers[n] = s
        ctx.by_service[s.name] = n
