"""Benchmark: fleet inspection throughput on Dask vs a plain loop, and a projection to 10,000 VMs.

    .venv/bin/python benchmarks/fleet_speed.py                 # the benchmark fleet (sample "fleet")
    .venv/bin/python benchmarks/fleet_speed.py --images DIR    # any folder of images
    .venv/bin/python benchmarks/fleet_speed.py --synthetic 40  # overlays of the units sample

Runs, on the same images with the native backend:

1. a bare loop in this process: fingerprint + ``inspect_images`` per image (where the time goes);
2. an isolated loop in this process: ``inspect_member`` per image, i.e. the engine's per-image work
   (fork, caps, fingerprint, inspect, atomic inventory write) without Dask;
3. ``run_inspect`` on a fresh fleet with a LocalCluster of 1 and of 2 workers (everything: cluster
   start, claims, store writes).

Dask's overhead is (3, one worker) against (2), both one image at a time. Prints Markdown for
docs/benchmarks.md. Targets (issue 9): ≥ 1 image/s per core, 2 workers ≥ 1.7× one, Dask overhead
< 10 %, < 300 MB per worker.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from migrate.fleet.engine import EngineOptions, run_inspect
from migrate.fleet.fingerprint import fingerprint
from migrate.fleet.sources import AddResult, add_sources, scan
from migrate.fleet.store import FleetStore, member_slug
from migrate.fleet.worker import InspectTask, inspect_member, warm
from migrate.inspect import inspect_images


def _images(args: argparse.Namespace, tmp: Path) -> list[str]:
    if args.images:
        folder = Path(args.images)
    elif args.synthetic:
        from migrate.samples import build_sample

        base = build_sample("units")["base"]
        folder = tmp / "synthetic"
        folder.mkdir()
        os.link(base, folder / "base.qcow2")
        for i in range(args.synthetic):
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
                            f"vm{i:04d}.qcow2"], check=True, cwd=folder)
    else:
        from migrate.samples import build_sample

        folder = build_sample("fleet", progress=print)["images"]
    found = sorted(img.path for img in scan([str(folder)], AddResult()))
    return found[: args.limit] if args.limit else found


def _mib(kib: float) -> str:
    return f"{kib / 1024:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", help="folder of images (default: the benchmark fleet sample)")
    ap.add_argument("--synthetic", type=int, default=0, help="N overlays of the units sample instead")
    ap.add_argument("--limit", type=int, default=0, help="at most this many images")
    ap.add_argument("--workers", default="1,2", help="Dask worker counts to run (comma-separated)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as t:
        tmp = Path(t)
        images = _images(args, tmp)
        n = len(images)
        print(f"{n} images, {sum(os.path.getsize(p) for p in images) / 2**30:.2f} GiB of files; "
              f"CPUs available: {len(os.sched_getaffinity(0))}; load average {os.getloadavg()[0]:.1f}\n")

        # 1. bare loop: where the time goes
        fp_s, insp_s, failures = [], [], 0
        for p in images:
            t0 = time.perf_counter()
            with contextlib.suppress(Exception):  # broken images are part of the fleet
                fingerprint(p)
            t1 = time.perf_counter()
            try:
                inspect_images([Path(p)], "native")
            except Exception:  # noqa: BLE001
                failures += 1
            fp_s.append(t1 - t0)
            insp_s.append(time.perf_counter() - t1)
        bare = sum(fp_s) + sum(insp_s)
        loop_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        # 2. isolated loop: the engine's per-image work, no Dask
        store = FleetStore.create(tmp / "loop-fleet")
        warm()
        t0 = time.perf_counter()
        child_private = []
        for p in images:
            name = Path(p).stem
            r = inspect_member(InspectTask(name, p, str(store.root), f"members/{member_slug(name)}", backend="native"))
            child_private.append(r.peak_private_kib)
        isolated = time.perf_counter() - t0
        store.close()

        # 3. Dask
        runs = {}
        for w in [int(x) for x in args.workers.split(",")]:
            with FleetStore.create(tmp / f"dask-{w}") as s:
                add_sources(s, images)
                summary = run_inspect(s, EngineOptions(workers=w, backend="native"))
                s.checkpoint(truncate=True)
                db_bytes = sum(f.stat().st_size for f in s.root.glob("fleet.db*"))
                inv_bytes = sum(f.stat().st_size for f in (s.root / "members").rglob("inventory.json"))
            runs[w] = (summary, db_bytes, inv_bytes)

        print("| run | wall s | images/s | images/s per worker | peak RSS MiB |\n|---|---|---|---|---|")
        print(f"| bare loop (fingerprint + inspect, in-process) | {bare:.1f} | {n / bare:.2f} | | {_mib(loop_rss)} |")
        print(f"| isolated loop (fork per image, no Dask) | {isolated:.1f} | {n / isolated:.2f} | | "
              f"per image: private memory median {_mib(statistics.median(child_private))}, "
              f"max {_mib(max(child_private))} |")
        for w, (s, _db, _inv) in runs.items():
            peak = max(s.worker_peak_rss_kib.values()) if s.worker_peak_rss_kib else 0
            print(f"| Dask LocalCluster, {w} worker(s) | {s.seconds:.1f} | {n / s.seconds:.2f} | "
                  f"{n / s.seconds / w:.2f} | worker max {_mib(peak)} |")
        print()
        if 1 in runs:
            one = runs[1][0].seconds
            start = runs[1][0].startup_seconds
            print(f"- Dask overhead (1 worker vs isolated loop): {(one - isolated) / isolated * 100:+.1f} % in all; "
                  f"{(one - start - isolated) / isolated * 100:+.1f} % without the cluster start ({start:.1f} s)")
            if 2 in runs:
                print(f"- speed-up 2 workers vs 1: {one / runs[2][0].seconds:.2f}x")
        print(f"- per image (bare loop): fingerprint median {statistics.median(fp_s) * 1000:.0f} ms, "
              f"inspect median {statistics.median(insp_s) * 1000:.0f} ms, {failures} image(s) failed")
        w_max = max(runs)
        s, db, inv = runs[w_max]
        per_core = n / s.seconds / w_max
        for cores in (2, 16, 64):
            print(f"- 10,000 VMs on {cores} cores at the measured {per_core:.2f} images/s per worker: "
                  f"{10_000 / (per_core * cores) / 60:.0f} min")
        print(f"- store for 10,000 VMs: fleet.db ≈ {db / n * 10_000 / 2**20:.0f} MiB, inventories ≈ "
              f"{inv / max(1, s.inspected) * 10_000 / 2**30:.2f} GiB (measured {db / n / 1024:.1f} KiB and "
              f"{inv / max(1, s.inspected) / 1024:.0f} KiB per VM)")


if __name__ == "__main__":
    main()
