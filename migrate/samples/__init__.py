"""Sample guest images: real Debian 12 VMs built from real packages, laid out on disk like real VMs.

``build_sample(name)`` returns a :class:`SampleImages` from the cache (built on first use). The
images feed ``make demo`` and the image tests; ``facts`` says what each guest is known to contain so
tests can check what the analyzers find against the truth.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from migrate.samples import (
    classic,
    corpus_edge,
    corpus_infra,
    corpus_lamp,
    corpus_lemp,
    corpus_nginx_tls,
    corpus_tomcat,
    debootstrap,
    export,
    flagship,
    fleet,
    units,
    windows,
)
from migrate.samples._common import (
    Progress,
    Recipe,
    SampleBuildError,
    SampleImages,
    _noop,
    cached_entry,
    debian_mirror,
    sample_cache_dir,
)

__all__ = [
    "SAMPLES",
    "Recipe",
    "SampleBuildError",
    "SampleImages",
    "build_sample",
    "debian_mirror",
    "make_bad_images",
    "sample_cache_dir",
]

_SHARED = (debootstrap, export)  # the cache plumbing in _common does not shape the images


def _recipe(module) -> Recipe:  # type: ignore[no-untyped-def]
    r: Recipe = module.RECIPE
    return Recipe(r.name, r.description, r.build, r.params, (*_SHARED, module))


SAMPLES: dict[str, Recipe] = {r.name: r for r in (_recipe(flagship), _recipe(classic), _recipe(units))}
SAMPLES |= {r.name: r for r in map(_recipe, (corpus_lamp, corpus_tomcat, corpus_nginx_tls))}  # corpus F1
SAMPLES |= {r.name: r for r in map(_recipe, (corpus_lemp, corpus_edge, corpus_infra))}  # corpus F2
SAMPLES["fleet"] = fleet.recipe(SAMPLES)  # the benchmark fleet (issue 9): overlays over the samples above
SAMPLES |= {r.name: r for r in map(_recipe, (windows,))}  # NTFS + registry hives, no debootstrap


def build_sample(name: str, cache_dir: Path | None = None, *, progress: Progress | None = None) -> SampleImages:
    """The sample ``name`` (see ``SAMPLES``), built into ``cache_dir`` unless already cached there."""
    try:
        recipe = SAMPLES[name]
    except KeyError:
        raise SampleBuildError(f"unknown sample {name!r}; known: {', '.join(sorted(SAMPLES))}") from None
    cache = Path(cache_dir) if cache_dir is not None else sample_cache_dir()
    say = progress or _noop
    t0 = time.monotonic()

    def make(tmp: Path) -> None:
        files = recipe.build(tmp, cache, say)
        (tmp / "files.json").write_text(json.dumps(files, indent=2, sort_keys=True))

    entry, built = cached_entry(cache, f"{name}-{recipe.key()}", make, progress=say)
    if built:  # entries of older versions of this recipe are dead weight (gigabytes each)
        for old in cache.glob(f"{name}-*"):
            if old != entry and (old / ".complete").exists():
                shutil.rmtree(old, ignore_errors=True)
    else:
        say(f"{name}: cached at {entry} ({time.monotonic() - t0:.1f}s)")
    files = {k: entry / v for k, v in json.loads((entry / "files.json").read_text()).items()}
    facts = json.loads((entry / "facts.json").read_text())
    return SampleImages(name=name, dir=entry, files=files, facts=facts)


def make_bad_images(directory: Path) -> dict[str, Path]:
    from migrate.samples.bad import make_bad_images as _make

    return _make(directory)
