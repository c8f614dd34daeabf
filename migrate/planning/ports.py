"""Ports step: what the container listens on and what the host publishes.

Only ports the inventory found listening are planned (an analyzer leaves out ports of disabled
conditional config); nothing is added from defaults. A port bound to loopback in the VM was never
reachable from outside: it is not published, its siblings reach it over the stack network."""

from __future__ import annotations

from migrate.graph import ALL_ADDRESSES, is_loopback
from migrate.kinds import Kind
from migrate.model.inventory import Service
from migrate.model.plan import Blocker, PortSpec
from migrate.planning.command import loopback_arg
from migrate.planning.context import PlanContext


def ports_for(ctx: PlanContext, s: Service, kind: Kind) -> tuple[list[PortSpec], list[Blocker]]:
    specs: dict[tuple[int, str], PortSpec] = {}
    blockers: list[Blocker] = []
    callers = ctx.incoming(s)
    mine = [p for p in ctx.inv.ports if p.service == s.name and p.proto != "unix" and p.port is not None]
    for p in mine:
        key = (p.port, p.proto)
        addr = p.address
        if addr not in ALL_ADDRESSES and not is_loopback(addr):
            blockers.append(Blocker(kind="specific-bind", severity="blocker", evidence=p.evidence.path,
                                    detail=f"listens on {addr}:{p.port} only: a container has other addresses; "
                                           "make it listen on 0.0.0.0"))
        elif is_loopback(addr) and not kind.rebinds and callers and loopback_arg(s.exec_start, p.port) is None:
            blockers.append(Blocker(kind="loopback-bind", severity="warning", evidence=p.evidence.path,
                                    detail=f"listens on {addr}:{p.port}: {', '.join(callers)} will reach it over "
                                           "the container network; make it listen on 0.0.0.0"))
        if key in specs:
            continue
        # Published only when the VM served it on a non-loopback address on some family (a port bound to
        # both 127.0.0.1 and ::1 stays internal) and no sibling in the VM is its client.
        public = any(not is_loopback(q.address) for q in mine if (q.port, q.proto) == key)
        publish = not callers and public
        if publish:
            why = (f"listens on {addr or 'all addresses'}:{p.port} and nothing in the VM connects to it: an "
                   "entry point of the stack, published")
        elif callers:
            who = ", ".join(ctx.by_service[c] for c in callers)
            why = f"reached by {who} over the stack network; not published"
        else:
            why = f"loopback-only in the VM ({addr}); not published (compose.debug.yaml publishes it)"
        specs[key] = PortSpec(port=p.port, proto=p.proto, publish=publish, reason=why)  # type: ignore[arg-type]
    return list(specs.values()), blockers
