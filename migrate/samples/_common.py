"""Plumbing shared by the sample builders: cache layout, locking, the Debian mirror, subprocesses.

The samples are real guests built from real Debian packages, so building them is slow (minutes) and
must happen once per machine: every result lives in a content-addressed cache entry whose key is a
hash of the recipe (its parameters and the source of the code that builds it). Entries are built in
a temporary directory beside the final one and renamed into place, so a crash never leaves a
half-built entry that a later run would trust.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from migrate.errors import ExternalToolError

Progress = Callable[[str], None]


class SampleBuildError(ExternalToolError):
    """A sample image could not be built (a tool failed, the mirror is unreachable...): exit 22, not
    the 1 the CLI keeps for bugs."""


def _noop(_msg: str) -> None:
    pass


def sample_cache_dir() -> Path:
    """Where built samples live: ``$MIGRATE_SAMPLES_CACHE`` or ``~/.cache/migrate/samples``."""
    env = os.environ.get("MIGRATE_SAMPLES_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "migrate" / "samples"


# --------------------------------------------------------------------------------------------------
# Debian mirror


def _mirror_from_sources_list(text: str) -> str | None:
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        parts = line.split()[1:]
        while parts and parts[0].startswith("["):  # options: [arch=amd64 signed-by=...]
            opt = parts.pop(0)
            while not opt.endswith("]") and parts:
                opt = parts.pop(0)
        if parts and re.match(r"^(https?|file)://", parts[0]) and "security" not in parts[0]:
            return parts[0]
    return None


def _mirror_from_deb822(text: str) -> str | None:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.lstrip().startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            if "security" not in uri and "bookworm" in fields.get("suites", "bookworm"):
                return uri
    return None


def debian_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine already uses (``$MIGRATE_DEBIAN_MIRROR`` overrides).

    Never hard-coded: CI and developer machines sit behind different mirrors or proxies.
    """
    env = os.environ.get("MIGRATE_DEBIAN_MIRROR")
    if env:
        return env
    candidates: list[tuple[Path, Callable[[str], str | None]]] = [(apt_dir / "sources.list", _mirror_from_sources_list)]
    d = apt_dir / "sources.list.d"
    if d.is_dir():
        for p in sorted(d.iterdir()):
            if p.suffix == ".list":
                candidates.append((p, _mirror_from_sources_list))
            elif p.suffix == ".sources":
                candidates.append((p, _mirror_from_deb822))
    for path, parse in candidates:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        uri = parse(text)
        if uri and "debian" in uri:
            return uri
    for path, parse in candidates:  # a mirror whose URL does not say "debian" (e.g. a proxy)
        try:
            uri = parse(path.read_text(errors="replace"))
        except OSError:
            continue
        if uri:
            return uri
    raise SampleBuildError("no Debian mirror found in /etc/apt/sources.list{,.d}; set MIGRATE_DEBIAN_MIRROR")


# --------------------------------------------------------------------------------------------------
# Recipes, results, cache entries


@dataclass(frozen=True)
class Recipe:
    """What to build: a builder function plus the parameters that define the result."""

    name: str
    description: str
    build: Callable[..., dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    modules: tuple[ModuleType, ...] = ()

    def key(self) -> str:
        h = hashlib.sha256()
        h.update(self.name.encode())
        h.update(json.dumps(self.params, sort_keys=True, default=str).encode())
        for mod in self.modules:
            h.update(inspect.getsource(mod).encode())
        return h.hexdigest()[:16]


@dataclass
class SampleImages:
    """One built sample: its cache directory, the exported files by kind, and what the guest holds."""

    name: str
    dir: Path
    files: dict[str, Path]
    facts: dict[str, Any]

    def __getitem__(self, kind: str) -> Path:
        return self.files[kind]


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    input: bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    capture: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    argv = [os.fspath(c) for c in cmd]
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        argv,
        input=input,
        env=full_env,
        cwd=cwd,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or b"")[-3000:].decode(errors="replace")
        out = (proc.stdout or b"")[-1500:].decode(errors="replace")
        raise SampleBuildError(f"command failed ({proc.returncode}): {' '.join(argv)}\n{out}\n{tail}")
    return proc


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock, so two pytest workers never build the same entry twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def cached_entry(
    cache_dir: Path,
    entry_name: str,
    make: Callable[[Path], None],
    *,
    progress: Progress = _noop,
) -> tuple[Path, bool]:
    """Return ``cache_dir/entry_name``, calling ``make(tmpdir)`` first if it does not exist yet.

    The second element says whether a build happened. ``make`` fills a fresh temp dir on the same
    filesystem, which is renamed into place only when it returns.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / entry_name
    if (final / ".complete").exists():
        return final, False
    with file_lock(cache_dir / f".{entry_name}.lock"):
        if (final / ".complete").exists():
            return final, False
        if final.exists():  # an entry without its marker is debris from an interrupted rename
            shutil.rmtree(final)
        for debris in cache_dir.glob(f".{entry_name}.*.tmp"):  # builders killed before cleaning up
            shutil.rmtree(debris, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry_name}.", suffix=".tmp", dir=cache_dir))
        try:
            t0 = time.monotonic()
            make(tmp)
            (tmp / ".complete").write_text(f"built in {time.monotonic() - t0:.1f}s\n")
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        progress(f"{entry_name}: built in {time.monotonic() - t0:.1f}s")
        return final, True


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def qemu_img_info(path: Path) -> dict[str, Any]:
    out = run(["qemu-img", "info", "--output=json", path]).stdout
    return json.loads(out)


def dir_used_bytes(path: Path) -> int:
    """Bytes allocated by a tree (what ``du -s --block-size=1`` says), without following links."""
    out = run(["du", "-s", "-x", "--block-size=1", path]).stdout.split()[0]
    return int(out)
