"""Make a Debian base image locally, for machines that cannot reach a container registry.

On a normal machine ``docker build`` pulls ``debian:bookworm-slim`` as usual and none of this is
needed. Where no registry is reachable (CI here), ``migrate base-image debian:bookworm-slim`` builds
the same thing from the Debian mirror the machine already uses: ``debootstrap --variant=minbase``
into a temporary directory, the clean-ups the official *-slim images apply (no docs, man pages or
locales from later package installs, no apt caches), then ``docker import`` under the requested tag.
The generated Dockerfiles take it through ``ARG BASE_IMAGE``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from migrate.docker_engine import Engine
from migrate.errors import ExternalToolError, UsageError

Progress = Callable[[str], None]

DEFAULT_BASE_IMAGE = "debian:bookworm-slim"

# Debian release numbers to codenames, for tags such as debian:12-slim.
DEBIAN_RELEASES = {"10": "buster", "11": "bullseye", "12": "bookworm", "13": "trixie"}
DEBIAN_CODENAMES = set(DEBIAN_RELEASES.values()) | {"sid"}

# What the official debian:*-slim images configure (debuerreotype's "slimify" and apt settings).
DPKG_SLIM = """# written by migrate base-image, as in the official debian:*-slim images
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""
APT_CONF = {
    "docker-clean": (
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
        '/var/cache/apt/*.bin || true"; };\n'
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
        '/var/cache/apt/*.bin || true"; };\n'
        'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n'
    ),
    "docker-autoremove-suggests": 'Apt::AutoRemove::SuggestsImportant "false";\n',
    "docker-no-languages": 'Acquire::Languages "none";\n',
    "docker-gzip-indexes": 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n',
}


@dataclass(frozen=True)
class BaseImageSpec:
    ref: str  # debian:bookworm-slim
    suite: str  # bookworm
    slim: bool


@dataclass
class BaseImageResult:
    ref: str
    image_id: str
    created: bool  # False: it existed and was kept
    seconds: float
    size_bytes: int
    mirror: str | None = None


def parse_ref(ref: str) -> BaseImageSpec:
    """``debian:<codename|number>[-slim]`` -> what to debootstrap. Other distributions cannot be
    made from a Debian mirror and are refused with a clear message."""
    m = re.fullmatch(r"(?:docker\.io/)?(?:library/)?debian:([a-z0-9]+)(-slim)?", ref)
    if not m:
        raise UsageError(f"cannot make {ref!r} locally: only debian:<release>[-slim] images "
                         "(e.g. debian:bookworm-slim) can be built from a Debian mirror")
    release, slim = m.group(1), bool(m.group(2))
    suite = DEBIAN_RELEASES.get(release, release)
    if suite not in DEBIAN_CODENAMES:
        raise UsageError(f"unknown Debian release {release!r} in {ref!r}")
    return BaseImageSpec(ref=ref, suite=suite, slim=slim)


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True)
    if proc.returncode != 0:
        out = (proc.stdout[-2000:] + proc.stderr[-4000:]).decode(errors="replace")
        raise ExternalToolError(f"{what} failed (exit {proc.returncode})", output=out,
                                path=" ".join(argv[:3]))


def _slimify(tree: Path, slim: bool) -> None:
    dpkg_dir = tree / "etc/dpkg/dpkg.cfg.d"
    apt_dir = tree / "etc/apt/apt.conf.d"
    dpkg_dir.mkdir(parents=True, exist_ok=True)
    apt_dir.mkdir(parents=True, exist_ok=True)
    for name, text in APT_CONF.items():
        (apt_dir / name).write_text(text)
    if slim:
        (dpkg_dir / "docker").write_text(DPKG_SLIM)
        share = tree / "usr/share"
        for sub in ("man", "groff", "info", "lintian", "linda"):
            d = share / sub
            if d.is_dir():
                for child in d.iterdir():
                    _rm(child)
        doc = share / "doc"
        if doc.is_dir():
            for pkg in doc.iterdir():
                if pkg.is_dir() and not pkg.is_symlink():
                    for child in pkg.iterdir():
                        if child.name != "copyright":
                            _rm(child)
                elif not pkg.is_symlink():
                    _rm(pkg)
        locale = share / "locale"
        if locale.is_dir():
            for child in locale.iterdir():
                if child.name != "locale.alias":
                    _rm(child)
    for junk in ("var/cache/apt", "var/lib/apt/lists"):
        d = tree / junk
        if d.is_dir():
            for p in d.rglob("*"):
                if p.is_file() and p.name != "lock":
                    p.unlink()
    for p in (tree / "var/log").rglob("*"):
        if p.is_file():
            p.unlink()
    for p in ("etc/machine-id",):
        f = tree / p
        if f.exists():
            f.write_text("")
    for p in ("etc/hostname", "etc/resolv.conf"):
        with contextlib.suppress(FileNotFoundError):
            (tree / p).unlink()


def _rm(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink(missing_ok=True)


def make_base_image(ref: str = DEFAULT_BASE_IMAGE, *, force: bool = False, mirror: str | None = None,
                    engine: Engine | None = None, progress: Progress | None = None,
                    workdir: Path | None = None) -> BaseImageResult:
    """Ensure the local engine has ``ref``; build it with debootstrap unless it exists (or ``force``)."""
    say = progress or (lambda _m: None)
    spec = parse_ref(ref)
    engine = engine or Engine()
    t0 = time.monotonic()
    existing = engine.image(ref)
    if existing is not None and not force:
        return BaseImageResult(ref, existing.id, False, time.monotonic() - t0, existing.size)
    if os.geteuid() != 0:
        raise UsageError("making a base image needs root (debootstrap creates device nodes and chowns files)")
    if shutil.which("debootstrap") is None:
        raise ExternalToolError("debootstrap is not installed (apt-get install debootstrap)")
    if mirror is None:
        from migrate.samples import debian_mirror

        mirror = debian_mirror()
    with tempfile.TemporaryDirectory(prefix="migrate-base-", dir=workdir) as tmp:
        tree = Path(tmp) / "tree"
        say(f"debootstrap --variant=minbase {spec.suite} from {mirror}")
        _run(["debootstrap", "--variant=minbase", "--components=main", spec.suite, str(tree), mirror],
             "debootstrap")
        say("applying the slim image settings")
        _slimify(tree, spec.slim)
        tarball = Path(tmp) / "rootfs.tar"
        say("packing the root tree")
        _run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", str(tree), "-cf", str(tarball),
              "."], "tar")
        say(f"docker import as {ref}")
        changes = [
            'CMD ["bash"]',
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            f'LABEL org.opencontainers.image.title="{ref}" '
            f'org.opencontainers.image.description="Debian {spec.suite} minbase made locally by migrate base-image" '
            f'org.opencontainers.image.source="{mirror}"',
        ]
        image_id = engine.import_tarball(tarball, ref, changes=changes)
    info = engine.image(ref)
    return BaseImageResult(ref, image_id, True, time.monotonic() - t0, info.size if info else 0, mirror)
