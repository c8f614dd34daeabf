"""Vector first-fit-decreasing bin packing on (CPU, memory) with anti-affinity groups.

FFD sorts items by their largest normalised dimension and puts each in the first host where both
dimensions fit and no replica of the same group already runs; a new host is opened otherwise. It is
not optimal, but it is what people can check by hand, and within a few hosts of optimal on fleets.
"""

from __future__ import annotations

from migrate.model.capacity import HostPlacement, SizedItem

EPS = 1e-9


def pack(items: list[SizedItem], cpu_cap: float, mem_cap: float) -> tuple[list[HostPlacement], list[str]]:
    """Returns (hosts, names of items larger than one host). Deterministic: ties broken by name."""
    hosts: list[HostPlacement] = []
    groups: list[set[str]] = []
    too_big: list[str] = []

    def size(it: SizedItem) -> float:
        return max(it.cpu / cpu_cap, it.memory_mib / mem_cap)

    for it in sorted(items, key=lambda i: (-size(i), i.name)):
        if it.cpu > cpu_cap + EPS or it.memory_mib > mem_cap + EPS:
            too_big.append(it.name)
            continue
        for h, g in zip(hosts, groups, strict=True):
            if (h.cpu + it.cpu <= cpu_cap + EPS and h.memory_mib + it.memory_mib <= mem_cap + EPS
                    and not (it.group and it.group in g)):
                break
        else:
            h = HostPlacement(host=len(hosts) + 1)
            g = set()
            hosts.append(h)
            groups.append(g)
        h.items.append(it.name)
        h.cpu += it.cpu
        h.memory_mib += it.memory_mib
        if it.group:
            g.add(it.group)
    return hosts, sorted(too_big)
