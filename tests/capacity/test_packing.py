"""Packing cases small enough to check by hand."""

from migrate.capacity.packing import pack
from migrate.model.capacity import SizedItem


def items(*specs):
    return [SizedItem(name=n, cpu=c, memory_mib=m, group=g) for n, c, m, g in specs]


def test_ffd_classic_by_hand():
    # host 10 cores / 10 GiB; sizes by largest dimension: a 6, b 5, c 4, d 4, e 1
    # FFD: a→h1 (6), b→h2 (5), c→h1 (10), d→h2 (9), e→h2 (10) → 2 hosts
    hosts, big = pack(items(("a", 6, 1000, None), ("b", 5, 1000, None), ("c", 4, 1000, None),
                            ("d", 4, 1000, None), ("e", 1, 1000, None)), 10, 10240)
    assert big == []
    assert [h.items for h in hosts] == [["a", "c"], ["b", "d", "e"]]
    assert [h.cpu for h in hosts] == [10, 10]


def test_memory_is_the_binding_dimension():
    # 4 items of 1 core / 6 GiB on 16-core / 16 GiB hosts: memory allows 2 per host → 2 hosts
    hosts, _ = pack(items(*[(f"m{i}", 1, 6144, None) for i in range(4)]), 16, 16384)
    assert len(hosts) == 2 and all(len(h.items) == 2 for h in hosts)


def test_anti_affinity_spreads_replicas():
    # three small replicas of one group would fit one host; anti-affinity forces three hosts
    hosts, _ = pack(items(("w1", 1, 100, "web"), ("w2", 1, 100, "web"), ("w3", 1, 100, "web"),
                          ("x", 1, 100, None)), 8, 8192)
    assert len(hosts) == 3
    assert [sorted(h.items) for h in hosts] == [["w1", "x"], ["w2"], ["w3"]]


def test_too_big_reported():
    hosts, big = pack(items(("huge", 64, 100, None), ("ok", 1, 100, None)), 32, 8192)
    assert big == ["huge"] and len(hosts) == 1


def test_exact_fit_is_allowed():
    hosts, _ = pack(items(("a", 0.1, 100, None), ("b", 0.2, 100, None), ("c", 0.7, 100, None)), 1.0, 300)
    assert len(hosts) == 1
