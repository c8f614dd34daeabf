"""Benchmark: `migrate convert` (inspect + graph + plan + generate) per sample guest, in one run.

    .venv/bin/python benchmarks/convert_speed.py [--samples flagship,corpus-lamp,...] [--repeat 3]

The flagship is the comparison: it is the guest the planner was first written for, and issue 13's budget
is "under 2 s per guest". Each row is the best of ``--repeat`` in-process runs (wall and CPU seconds of
``migrate.generate.convert`` on the cached export), so start-up of the interpreter is not counted.
Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from migrate.generate import convert
from migrate.samples import build_sample

# the export each guest is converted from (a guest with two disks gives both)
INPUTS = {
    "flagship": ["qcow2"], "corpus-lamp": ["vmdk"], "corpus-tomcat": ["vhdx", "vhdx-2"],
    "corpus-nginx-tls": ["qcow2"], "corpus-lemp": ["vhdx", "vhdx-data"], "corpus-edge": ["vdi"],
    "corpus-infra": ["ova"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", default=",".join(INPUTS))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print("| guest | input | wall (best) | CPU (best) |\n|---|---|---|---|")
    for name in args.samples.split(","):
        images = build_sample(name)
        paths = [Path(images[kind]) for kind in INPUTS[name]]
        walls, cpus = [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                w0, c0 = time.perf_counter(), time.process_time()
                convert(paths, Path(tmp) / "stack")
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
        print(f"| {name} | {' + '.join(p.name for p in paths)} | {min(walls):.2f} s | {min(cpus):.2f} s |")


if __name__ == "__main__":
    main()
