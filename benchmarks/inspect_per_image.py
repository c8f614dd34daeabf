"""Native inspect time per image, in-process, over the first N healthy qcow2 members of a folder (the
benchmark fleet's images by default). Run it with PYTHONPATH pointing at another checkout to time that
code on the same images in the same session (docs/benchmarks.md, section 8b)."""

from __future__ import annotations

import argparse
import glob
import statistics
import time
from pathlib import Path

import migrate
from migrate.inspect import inspect_images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("folder", nargs="?", help="folder of qcow2 images (default: the benchmark fleet's)")
    ap.add_argument("-n", type=int, default=20, help="how many images")
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    folder = args.folder
    if folder is None:
        from migrate.samples import build_sample

        folder = str(Path(build_sample("fleet")["manifest"]).parent / "images")
    images = [Path(i) for i in sorted(glob.glob(f"{folder}/*.qcow2")) if "broken" not in Path(i).name][: args.n]
    for image in images[:2]:  # warm the page cache and the imports
        inspect_images([image], "native")
    per_pass = []
    for _ in range(args.passes):
        start = time.perf_counter()
        for image in images:
            inspect_images([image], "native")
        per_pass.append((time.perf_counter() - start) / len(images) * 1000)
    print(f"{migrate.__file__}: {len(images)} images, ms per image by pass {[round(x) for x in per_pass]}, "
          f"median {round(statistics.median(per_pass))}")


if __name__ == "__main__":
    main()
