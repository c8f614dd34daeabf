"""Benchmark: `migrate inspect` per backend against virt-inspector, on the same image, same run.

    .venv/bin/python benchmarks/inspect_speed.py [--sample flagship] [--kinds qcow2,vmdk-stream,ova] [--repeat 3]

Wall time and peak RSS of each command come from GNU time-style accounting of the child process
(resource.getrusage of children). Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sample", default="flagship")
    ap.add_argument("--kinds", default="qcow2,vmdk-stream,ova")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-virt-inspector", action="store_true")
    args = ap.parse_args()

    from migrate.samples import build_sample

    images = build_sample(args.sample)
    env = dict(os.environ, LIBGUESTFS_BACKEND="direct", LIBGUESTFS_BACKEND_SETTINGS="force_tcg")
    migrate = [sys.executable, "-m", "migrate", "inspect", "--json"]
    rows = []
    for kind in args.kinds.split(","):
        image = str(images.files[kind])
        arms = [("migrate --backend native", migrate + ["--backend", "native", image], args.repeat),
                ("migrate --backend guestfs", migrate + ["--backend", "guestfs", image], 1)]
        if not args.no_virt_inspector and kind != "ova":
            arms.append(("virt-inspector", ["virt-inspector", "-a", image], 1))
        results = {}
        for label, cmd, n in arms:
            # each arm in its own child so RUSAGE_CHILDREN's max is per arm
            walls, peaks = [], []
            for _ in range(n):
                out = subprocess.run([sys.executable, __file__, "--_one", *cmd], env=env, capture_output=True,
                                     text=True, check=True).stdout.split()
                walls.append(float(out[0]))
                peaks.append(float(out[1]))
            results[label] = (statistics.median(walls), max(peaks), n)
        base = results.get("virt-inspector")
        for label, (wall, peak, n) in results.items():
            ratio = f"{base[0] / wall:.1f}x" if base and label != "virt-inspector" else ""
            rows.append(f"| {kind} | {label} | {wall:.2f} | {peak:.0f} | {n} | {ratio} |")
    print(f"machine: {platform.node()} {os.cpu_count()} cores, {platform.platform()}; "
          f"guestfs under TCG; date {time.strftime('%Y-%m-%d')}")
    print("| image | command | wall s (median) | peak RSS MiB | runs | speed-up vs virt-inspector |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--_one":
        wall, peak = run(sys.argv[2:], dict(os.environ))
        print(f"{wall:.4f} {peak:.1f}")
    else:
        main()
