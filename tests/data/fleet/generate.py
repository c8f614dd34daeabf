"""Generate sample-fleet.csv: a plausible, synthetic fleet of 60 VMs (no real customer data).

Roles and sizes follow common VM templates (web 2 vCPU/4 GiB, app 4/8, database 8/32, cache 2/16,
batch 8/16, small utility VMs 1/2); utilization percentiles are drawn per role around what
virtualized fleets typically show (low average CPU, memory mostly allocated by the guest) with a
fixed seed, so the file is reproducible: `python tests/data/fleet/generate.py > tests/data/fleet/sample-fleet.csv`.
"""

import csv
import random
import sys

ROLES = [
    # role, count, vcpus, memory_gib, disk_gib, cpu p50 range (%), mem p50 range (%), replicas share a group
    ("web", 12, 2, 4, 40, (5, 20), (35, 55), True),
    ("app", 14, 4, 8, 60, (10, 30), (45, 70), True),
    ("db", 6, 8, 32, 500, (15, 40), (70, 88), False),
    ("cache", 6, 2, 16, 20, (3, 12), (55, 80), True),
    ("batch", 6, 8, 16, 200, (5, 25), (30, 60), False),
    ("util", 16, 1, 2, 30, (2, 10), (30, 60), False),
]


def main() -> None:
    rng = random.Random(20250105)
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["name", "vcpus", "memory_mib", "disk_gib", "cpu_p50", "cpu_p90", "cpu_p95", "cpu_peak",
                "mem_p50", "mem_p90", "mem_p95", "mem_peak", "group"])
    for role, count, vcpus, mem, disk, cpu_r, mem_r, grouped in ROLES:
        for i in range(1, count + 1):
            c50 = rng.uniform(*cpu_r)
            c90 = min(100, c50 * rng.uniform(1.8, 3.0))
            c95 = min(100, c90 * rng.uniform(1.05, 1.3))
            cpk = min(100, c95 * rng.uniform(1.2, 2.0))
            m50 = rng.uniform(*mem_r)
            m90 = min(100, m50 * rng.uniform(1.05, 1.2))
            m95 = min(100, m90 * rng.uniform(1.01, 1.06))
            mpk = min(100, m95 * rng.uniform(1.0, 1.1))
            group = f"{role}-{(i - 1) // 3 + 1}" if grouped else ""
            w.writerow([f"{role}-{i:02d}", vcpus, mem * 1024, disk, *(f"{v:.1f}" for v in (c50, c90, c95, cpk)),
                        *(f"{v:.1f}" for v in (m50, m90, m95, mpk)), group])


if __name__ == "__main__":
    main()
