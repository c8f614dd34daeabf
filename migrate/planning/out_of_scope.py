"""Guests whose OS no Linux container can run: a plan of blockers instead of containers.

The tool builds Linux stacks. A guest of another OS family (Windows) is inspected like any other, and
its plan says, service by service, why none of it becomes a container: each service the VM runs (the
same selection as for Linux guests: disabled and VM-only services are dropped with their reasons) is a
VM-level blocker naming the service and the registry key or file it came from. The fleet report counts
them like every other blocker, and ``generate``/``convert`` refuse such a plan before writing anything
(see ``stack_refusal``), so no stack that cannot work is ever produced.
"""

from __future__ import annotations

from migrate.model.inventory import Inventory
from migrate.model.plan import BaseImage, Blocker, Fitness, OSDecision, Plan, ReportItem
from migrate.planning.context import PlanContext
from migrate.planning.selection import select

# OS families the inspection identifies but no Linux stack can run, with the reason every service gets
OUT_OF_SCOPE: dict[str, str] = {
    "windows": "Windows containers are out of scope for Linux stacks",
}
BLOCKER_KIND = "os-family"
RULE = "0: no Linux container can run this OS, so every service it runs is a blocker"


def out_of_scope_reason(inv: Inventory) -> str | None:
    """Why no service of this guest can become a Linux container, or None (a Linux guest)."""
    return OUT_OF_SCOPE.get(inv.os.family)


def no_base_image(inv: Inventory, reason: str) -> BaseImage:
    """The planner's context wants a base image; an out-of-scope guest has none (nothing is built)."""
    return BaseImage(image="none", family=inv.os.family, package_manager="apt", reason=reason)


def blocked_plan(ctx: PlanContext, reason: str) -> Plan:
    """The plan of an out-of-scope guest: no containers, one blocker per service the VM runs."""
    select(ctx)
    inv = ctx.inv
    blockers = []
    for service in sorted(ctx.containers.values(), key=lambda s: s.name):
        where = service.evidence[0] if service.evidence else None
        detail = f"{service.manager} service {service.name}"
        if service.description:
            detail += f" ({service.description})"
        if where is not None and where.detail:
            detail += f", {where.detail}"
        blockers.append(Blocker(kind=BLOCKER_KIND, severity="blocker", detail=f"{detail}: {reason}",
                                evidence=where.path if where else service.unit_path))
    notes = [ReportItem(subject=pp.path, reason=f"persistent data ({pp.reason}) of no containerised service: not "
                        "carried over; move it by hand if still needed") for pp in inv.persistent_paths]
    ran = inv.os.pretty_name or inv.os.distro
    plan = Plan(
        name=ctx.stack, source_vm=inv.name, org=ctx.org, label_prefix=ctx.prefix,
        os=OSDecision(family=inv.os.family, distro=inv.os.distro, version=inv.os.version, codename=inv.os.codename,
                      reason=f"{ran} (from the inventory): {reason}"),
        stack_labels=ctx.stack_labels(), sizing_rule="none: nothing is containerised", containers=[],
        dropped=ctx.dropped, notes=notes, fitness=Fitness(score=0, rule=RULE, blockers=blockers),
    )
    return plan.canonical()


def stack_refusal(plan: Plan) -> str | None:
    """Why ``plan`` cannot become a stack (no container, and the OS itself is the blocker), or None."""
    if plan.containers:
        return None
    blocked = [b for b in plan.fitness.blockers if b.kind == BLOCKER_KIND]
    if not blocked:
        return None
    reason = blocked[0].detail.rsplit(": ", 1)[-1]
    return (f"no container to build: the plan's {len(blocked)} service(s) are all blocked ({reason}); "
            "`migrate plan` writes the plan with every blocker")
