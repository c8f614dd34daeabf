"""``python -m migrate.samples build NAME [--cache DIR]``: build (or find) a sample, print its files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from migrate.samples import SAMPLES, build_sample, make_bad_images, sample_cache_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m migrate.samples", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build a sample (cached) and print the paths of its images")
    b.add_argument("name", choices=[*sorted(SAMPLES), "all"])
    b.add_argument("--cache", type=Path, default=None, help=f"cache dir (default {sample_cache_dir()})")
    b.add_argument("--json", action="store_true", help="print files and facts as JSON")
    bad = sub.add_parser("bad", help="write the bad-input fixtures into DIR")
    bad.add_argument("dir", type=Path)
    sub.add_parser("list", help="list the recipes")
    args = parser.parse_args(argv)

    def progress(msg: str) -> None:
        print(f"[samples] {msg}", file=sys.stderr, flush=True)

    if args.cmd == "list":
        for name, recipe in sorted(SAMPLES.items()):
            print(f"{name}\t{recipe.description}")
        return 0
    if args.cmd == "bad":
        for kind, path in sorted(make_bad_images(args.dir).items()):
            print(f"{kind}\t{path}")
        return 0
    names = sorted(SAMPLES) if args.name == "all" else [args.name]
    for name in names:
        images = build_sample(name, args.cache, progress=progress)
        if args.json:
            print(json.dumps({"name": name, "dir": str(images.dir),
                              "files": {k: str(v) for k, v in images.files.items()},
                              "facts": images.facts}, indent=2, sort_keys=True))  # fmt: skip
        else:
            for kind, path in sorted(images.files.items()):
                print(f"{name}\t{kind}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
