"""Migration waves: which VMs move together, and in which order.

VMs that depend on each other (a connected group of the fleet graph, edges taken in either
direction) move in the same wave: moving a web VM without the database it calls, or the database
without its clients, splits an application across two platforms. Within that rule:

1. ready groups with a manifest wave hint, one wave per hint, in hint order (numbers numerically,
   then names); a group whose members carry different hints moves with its latest one (the group
   cannot move before all of its members may);
2. ready VMs without any cross-VM edge (each can move on its own, the lowest risk);
3. ready groups connected by cross-VM edges;
4. groups held back: a blocked member holds back its whole group (the reason names the blockers);
   a member that failed inspection holds back the VMs connected to it; a member not inspected yet
   (no disk exported: an RVTools-only VM others connect to) holds back its group and is listed in it;
5. members whose inspection failed (their error class);
6. members not inspected (no exported disk, or not inspected yet) and connected to no movable member.

Readiness comes from each member's plan (migrate.fleet.convert.plan_fleet): ready = no
blocker-severity item. Every wave carries a reason a human can read; the order is deterministic.
"""

from __future__ import annotations

from pathlib import Path

from migrate.fleet.graph import FleetGraph, fleet_graph
from migrate.model.fleet import CrossVMEdge, FleetMember, FleetReport, Wave

_MAX_LISTED = 6


def hint_key(hint: str) -> tuple[int, int, str]:
    h = hint.strip()
    return (0, int(h), "") if h.isdigit() else (1, 0, h.lower())


def _listed(items: list[str]) -> str:
    head = ", ".join(items[:_MAX_LISTED])
    return head + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _edge_text(e: CrossVMEdge) -> str:
    return f"{e.source} → {e.target} ({e.via}, {e.address})"


def plan_waves(members: list[FleetMember], graph: FleetGraph) -> list[Wave]:
    by_name = {m.name: m for m in members}
    hinted: dict[str, list[list[str]]] = {}
    hint_notes: dict[str, list[str]] = {}
    singles: list[str] = []
    joined: list[list[str]] = []
    held: list[str] = []
    held_why: list[str] = []
    failed = sorted(m.name for m in members if m.readiness == "failed")
    pending = sorted(m.name for m in members if m.readiness == "not-inspected")
    for comp in graph.components():
        group = [by_name[n] for n in comp]
        movable = [m for m in group if m.readiness in ("ready", "blocked")]
        if not movable:
            continue
        stoppers = [m for m in group if m.readiness != "ready"]
        if stoppers:
            held += [m.name for m in movable]
            # a VM not inspected yet (an RVTools row whose disk is not exported) that others call moves
            # with them: it is listed in their wave, held back, not in the last wave on its own
            waiting = [m.name for m in group if m.readiness == "not-inspected"]
            held += waiting
            pending = [n for n in pending if n not in waiting]
            for m in stoppers:
                kinds: dict[str, int] = {}
                for b in m.blockers:
                    kinds[b.split(":", 1)[0]] = kinds.get(b.split(":", 1)[0], 0) + 1
                what = ", ".join(f"{k} ×{n}" if n > 1 else k for k, n in sorted(kinds.items())) or (
                    m.error.error_class if m.error
                    else "not inspected: no disk image exported" if m.state == "no-image" else m.readiness)
                held_why.append(f"{m.name} ({what})"
                                + (f" holds back {', '.join(n for n in comp if n != m.name)}" if len(comp) > 1 else ""))
            continue
        hints = sorted({m.wave_hint.strip() for m in group if m.wave_hint and m.wave_hint.strip()}, key=hint_key)
        names = [m.name for m in group]
        if hints:
            hinted.setdefault(hints[-1], []).append(names)
            if len(hints) > 1:
                hint_notes.setdefault(hints[-1], []).append(
                    f"{_listed(names)} carry hints {', '.join(hints)}: the group moves with the latest")
        elif len(group) == 1:
            singles += names
        else:
            joined.append(names)

    waves: list[tuple[list[str], str]] = []
    for hint in sorted(hinted, key=hint_key):
        groups = hinted[hint]
        flat = sorted(n for g in groups for n in g)
        why = (f"manifest wave hint {hint!r}: {len(flat)} ready VM(s) in {len(groups)} group(s) "
               f"({'; '.join(_listed(g) for g in groups[:3])}{' …' if len(groups) > 3 else ''})")
        if hint_notes.get(hint):
            why += "; " + "; ".join(hint_notes[hint])
        waves.append((flat, why))
    if singles:
        waves.append((sorted(singles), f"{len(singles)} ready VM(s) with no connection to another fleet member: "
                                       "each can move on its own"))
    if joined:
        flat = sorted(n for g in joined for n in g)
        sample = [_edge_text(e) for e in graph.edges if e.source in set(joined[0])][:2]
        waves.append((flat, f"{len(joined)} ready group(s) of VMs connected by cross-VM edges ({len(flat)} VMs), "
                            f"each group moves together, e.g. {'; '.join(sample)}"))
    if held:
        waves.append((sorted(held), "held back until their blockers are resolved: " + _listed(sorted(held_why))))
    if failed:
        errs = sorted({f"{by_name[n].error.error_class} (exit {by_name[n].error.exit_code})"
                       for n in failed if by_name[n].error})
        waves.append((failed, f"{len(failed)} VM(s) whose inspection failed: {_listed(errs) or 'see their errors'}; "
                              "fix or re-export the images, then inspect again"))
    if pending:
        waves.append((pending, f"{len(pending)} VM(s) not inspected: no disk image exported yet, or not "
                               "inspected/planned yet"))
    return [Wave(number=i, members=ms, reason=why) for i, (ms, why) in enumerate(waves, 1)]


def readiness_of(m: FleetMember) -> FleetMember:
    """A member's readiness as the waves see it: failed and not-inspected states are taken from its state
    when no plan has set it (plan_fleet sets ready/blocked)."""
    if m.state == "failed":
        return m.model_copy(update={"readiness": "failed"})
    if m.state in ("pending", "inspecting", "no-image"):
        return m.model_copy(update={"readiness": "not-inspected"})
    return m


def fleet_report(store: object, fleet_dir: Path | None = None) -> FleetReport:
    """The FleetReport of a fleet store (members, cross-VM edges, waves): the hook `fleet report` calls."""
    root = Path(fleet_dir) if fleet_dir is not None else Path(store.root)  # type: ignore[attr-defined]
    members = [readiness_of(m) for m in store.members()]  # type: ignore[attr-defined]
    graph = fleet_graph(root, members)
    return FleetReport(fleet=root.resolve().name, members=members, edges=graph.edges,
                       waves=plan_waves(members, graph))
