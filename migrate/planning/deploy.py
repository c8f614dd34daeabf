"""Deploy step: replicas, update order, placement and resource limits (the VM's size shared by
weight), dependencies between containers, and the fitness scores."""

from __future__ import annotations

import re

from migrate.model.plan import Blocker, Container, Dependency, Deploy, Fitness, Resources
from migrate.planning.context import PlanContext

SIZING_RULE = (
    "limits: each container gets (weight / sum of weights) of the VM's vCPUs and memory, so together they "
    "never exceed what the VM had; weights: database 4, cache 2, application 2, web server 1; "
    "reservations: half the limits; cpus rounded to 0.01, memory down to 16 MiB, at least 0.05 CPU and 64 MiB"
)
FITNESS_RULE = "100, minus 35 per blocker and 10 per warning, never below 0"
VM_FITNESS_RULE = ("mean of the container scores (0 when nothing is containerised), minus 35 per VM-level "
                   "blocker and 10 per VM-level warning, never below 0")
GUI_PACKAGES = r"xserver-xorg.*|xorg-x11-server.*|gdm3?|lightdm|sddm|gnome-shell|plasma-desktop|xfce4|xrdp|tigervnc.*"
KMOD_PACKAGES = r"dkms|.*-dkms|kmod-.*|nvidia-kernel.*"
HARDWARE_PACKAGES = r"nvidia-.*|cuda-.*|pcscd|usbutils|cups|sane-.*|bluez"


def fitness(blockers: list[Blocker]) -> Fitness:
    score = max(0, 100 - 35 * sum(b.severity == "blocker" for b in blockers)
                - 10 * sum(b.severity == "warning" for b in blockers))
    return Fitness(score=score, rule=FITNESS_RULE, blockers=blockers)


def deploy_for(ctx: PlanContext, weight: int, share: float, *, stateful: bool) -> Deploy:
    sizing = ctx.inv.sizing
    limits, reservations = Resources(), Resources()
    if sizing and sizing.vcpus:
        cpus = max(0.05, round(sizing.vcpus * share, 2))
        limits.cpus, reservations.cpus = cpus, max(0.05, round(cpus / 2, 2))
    if sizing and sizing.memory_mib:
        mem = max(64, int(sizing.memory_mib * share) // 16 * 16)
        limits.memory_mib, reservations.memory_mib = mem, max(64, mem // 2 // 16 * 16)
    if limits.cpus or limits.memory_mib:
        res_why = (f"{round(share * 100)}% of the VM's {sizing.vcpus} vCPU / {sizing.memory_mib} MiB "  # type: ignore
                   f"(weight {weight}; see sizing_rule)")
    else:
        res_why = "no VM sizing in the inventory: no resource limits"
    if stateful:
        why = ("1 replica: stateful, its named volume can't be shared between replicas; stop-first updates so "
               "two copies never open the same data; pinned to the manager node where its volume lives "
               "(on a multi-node swarm use a node label instead); " + res_why)
        return Deploy(replicas=1, limits=limits, reservations=reservations, update_order="stop-first",
                      placement_constraints=["node.role == manager"], reason=why)
    why = ("1 replica as in the VM (stateless: it can be scaled); start-first updates for no downtime; spread "
           "over zones where nodes carry a zone label; " + res_why)
    return Deploy(replicas=1, limits=limits, reservations=reservations, update_order="start-first",
                  placement_preferences=["node.labels.zone"], reason=why)


def wire_dependencies(ctx: PlanContext, containers: list[Container]) -> None:
    by_name = {c.name: c for c in containers}
    cyc_edges = {(cyc[i], cyc[(i + 1) % len(cyc)]) for cyc in ctx.graph.cycles for i in range(len(cyc))}
    for c in containers:
        reasons: dict[str, list[str]] = {}
        for e in ctx.graph.edges:
            if e.source != f"service:{c.source_service}" or e.kind not in ("depends-on", "connects-to"):
                continue
            target = ctx.by_service.get(e.target.removeprefix("service:"))
            if target is None or target == c.name or (e.source, e.target) in cyc_edges:
                continue
            reasons.setdefault(target, []).append(f"{e.kind} ({e.detail})" if e.detail else e.kind)
        for target, why in sorted(reasons.items()):
            healthy = by_name[target].healthcheck.kind != "none"
            c.depends_on.append(Dependency(
                service=target, condition="service_healthy" if healthy else "service_started",
                reason="; ".join(sorted(set(why))) + (" -> start after it is healthy" if healthy else "")))


def vm_fitness(ctx: PlanContext, containers: list[Container]) -> Fitness:
    blockers: list[Blocker] = []
    for p in ctx.inv.packages:
        if re.fullmatch(KMOD_PACKAGES, p.name):
            blockers.append(Blocker(kind="kernel-module", severity="blocker", evidence=p.evidence.path,
                                    detail=f"{p.name} builds or ships kernel modules: containers share the "
                                           "host's kernel"))
        elif re.fullmatch(GUI_PACKAGES, p.name):
            blockers.append(Blocker(kind="gui", severity="blocker", evidence=p.evidence.path,
                                    detail=f"{p.name}: a graphical desktop does not belong in a container"))
        elif re.fullmatch(HARDWARE_PACKAGES, p.name):
            blockers.append(Blocker(kind="hardware", severity="warning", evidence=p.evidence.path,
                                    detail=f"{p.name} talks to hardware"))
    for c in ctx.inv.configs:
        if c.kind == "modules-load" or c.path.startswith("/etc/modules-load.d/") or c.path == "/etc/modules":
            blockers.append(Blocker(kind="kernel-module", severity="blocker", evidence=c.path,
                                    detail=f"{c.path} loads kernel modules at boot: the host must load them"))
    scores = [c.fitness.score for c in containers]
    mean = round(sum(scores) / len(scores)) if scores else 0
    score = max(0, mean - 35 * sum(b.severity == "blocker" for b in blockers)
                - 10 * sum(b.severity == "warning" for b in blockers))
    return Fitness(score=score, rule=VM_FITNESS_RULE, blockers=blockers)
