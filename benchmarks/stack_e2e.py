"""Benchmark: the whole chain on the flagship sample, each step timed in one run.

    .venv/bin/python benchmarks/stack_e2e.py [--keep]

convert, build with an empty layer cache (--no-cache) and again with nothing changed (warm), data
export and import, up to healthy (Compose), verify; then the stack's image bytes (distinct layers)
beside the VM's used bytes. Needs the Docker engine and the local base image (`migrate base-image`).
Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--keep", action="store_true", help="leave the stack running")
    args = ap.parse_args()

    from migrate.build import build_stack
    from migrate.data import export_data, import_data
    from migrate.deploy import down, load_stack, up
    from migrate.generate import convert
    from migrate.model.inventory import Inventory
    from migrate.samples import build_sample
    from migrate.verify import verify_stack

    sample = build_sample("flagship")
    image = sample.files["qcow2"]
    rows: list[tuple[str, float, str]] = []
    sizes = None
    with tempfile.TemporaryDirectory(prefix="migrate-bench-") as tmp:
        out, secrets, data = Path(tmp) / "stack", Path(tmp) / "secrets.env", Path(tmp) / "data"
        t = time.perf_counter()
        convert([image], out, secrets_out=secrets)
        rows.append(("convert (inspect + graph + plan + generate)", time.perf_counter() - t, ""))
        os.chmod(secrets, 0o600)
        cold = build_stack(out, nocache=True)
        rows.append(("build, cold layer cache (--no-cache)", cold.seconds, f"{len(cold.services)} images"))
        first = build_stack(out)
        rows.append(("build again right after the --no-cache build", first.seconds,
                     f"{first.total_cached} cached steps"))
        warm = build_stack(out)
        rows.append(("build, warm cache, nothing changed", warm.seconds, f"{warm.total_cached} cached steps"))
        t = time.perf_counter()
        export_data([image], data, inventory=Inventory.load(out / "inventory.json"))
        rows.append(("data export", time.perf_counter() - t, ""))
        project = load_stack(out).name
        t = time.perf_counter()
        import_data(data, project, stack_dir=out, force=True)
        rows.append(("data import + verify volumes", time.perf_counter() - t, ""))
        try:
            result = up(out, secrets_file=secrets, timeout=420)
            rows.append(("up to healthy (Compose)", result.seconds_to_healthy, ""))
            t = time.perf_counter()
            report = verify_stack(out, secrets_file=secrets)
            rows.append(("verify (probes, edges, secret scan of every layer)", time.perf_counter() - t,
                         f"{len(report.checks)} checks, {len(report.failed)} failed"))
            sizes = report.images
        finally:
            if not args.keep:
                down(out, volumes=True)
    used = sample.facts["sizes"]["tree_bytes"]
    print(f"date {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores")
    print("| step | seconds | note |\n|---|---|---|")
    for name, secs, note in rows:
        print(f"| {name} | {secs:.1f} | {note} |")
    if sizes is not None:
        print(f"\nimages: {', '.join(f'{k} {v / 1e6:.0f} MB' for k, v in sorted(sizes.images.items()))}")
        print(f"distinct layer bytes {sizes.unique_layer_bytes / 1e6:.0f} MB, "
              f"naive sum {sizes.sum_bytes / 1e6:.0f} MB; VM used bytes {used / 1e6:.0f} MB; "
              f"ratio {sizes.unique_layer_bytes / used:.2f}")


if __name__ == "__main__":
    main()
