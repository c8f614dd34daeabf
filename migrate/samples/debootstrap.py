"""Debian root trees from debootstrap, cached as tarballs (one per package set), and chroot helpers.

debootstrap runs in two stages (``--foreign`` then ``--second-stage`` inside the chroot) so that a
``policy-rc.d`` forbidding service starts is in place before any maintainer script runs: without it
the postinst of cron, postgresql, redis... would start real daemons inside the build chroot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from migrate.samples._common import (
    Progress,
    SampleBuildError,
    _noop,
    cached_entry,
    debian_mirror,
    run,
)

SUITE = "bookworm"
POLICY_RC_D = "#!/bin/sh\n# written by migrate.samples: never start services inside the build chroot\nexit 101\n"
CHROOT_ENV = {
    "DEBIAN_FRONTEND": "noninteractive",
    "LC_ALL": "C.UTF-8",
    "LANG": "C.UTF-8",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
}
TAR_OPTS = ["--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls", "--sparse"]


def _mounts_under(root: Path) -> list[str]:
    root_s = os.path.realpath(root)
    found = []
    with open("/proc/self/mounts") as fh:
        for line in fh:
            target = line.split()[1].replace("\\040", " ")
            if target == root_s or target.startswith(root_s + "/"):
                found.append(target)
    return found


def unmount_all(root: Path) -> None:
    """Unmount everything below ``root``, deepest first (leftovers of debootstrap or a crash)."""
    for target in sorted(_mounts_under(root), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False)


@contextlib.contextmanager
def chroot_mounts(tree: Path) -> Iterator[Path]:
    """/proc and a /dev/shm tmpfs inside ``tree`` for as long as the block runs, then unmounted."""
    mounted: list[Path] = []
    try:
        for sub, argv in (
            ("proc", ["mount", "-t", "proc", "proc"]),
            ("dev/shm", ["mount", "-t", "tmpfs", "-o", "mode=1777", "shm"]),
        ):
            target = tree / sub
            target.mkdir(parents=True, exist_ok=True)
            run([*argv, target])
            mounted.append(target)
        yield tree
    finally:
        for target in reversed(mounted):
            subprocess.run(["umount", "-l", target], check=False)
        unmount_all(tree)


def chroot(tree: Path, argv: Sequence[str], *, input: bytes | None = None) -> bytes:
    return run(["chroot", tree, *argv], input=input, env=CHROOT_ENV).stdout


def tarball_entry_name(packages: Sequence[str], variant: str = "minbase") -> str:
    import hashlib
    import inspect

    h = hashlib.sha256()
    h.update(f"{SUITE}/{variant}/{','.join(sorted(packages))}".encode())
    h.update(f"{POLICY_RC_D}{TAR_OPTS}".encode())
    h.update(inspect.getsource(rootfs_tarball).encode())  # only the builder: editing helpers is free
    return f"rootfs-{SUITE}-{h.hexdigest()[:16]}"


def rootfs_tarball(
    packages: Sequence[str],
    cache_dir: Path,
    *,
    variant: str = "minbase",
    progress: Progress = _noop,
) -> Path:
    """A tar (numeric owners, xattrs) of a Debian root with ``packages``; built once per package set.

    debootstrap's second stage drops the policy-rc.d again; :func:`extract` puts it back.
    """
    name = tarball_entry_name(packages, variant)

    def make(tmp: Path) -> None:
        tree = tmp / "tree"
        tree.mkdir()
        mirror = debian_mirror()
        debs = cache_dir / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        progress(f"debootstrap {SUITE} ({len(packages)} extra packages) from {mirror}")
        try:
            run(
                [
                    "debootstrap",
                    "--foreign",
                    f"--variant={variant}",
                    "--components=main",
                    f"--include={','.join(sorted(packages))}",
                    f"--cache-dir={debs}",
                    SUITE,
                    tree,
                    mirror,
                ]
            )
            sbin = tree / "usr/sbin"
            (sbin / "policy-rc.d").write_text(POLICY_RC_D)
            (sbin / "policy-rc.d").chmod(0o755)
            progress("debootstrap second stage (configuring packages)")
            run(["chroot", tree, "/debootstrap/debootstrap", "--second-stage"], env=CHROOT_ENV)
        except SampleBuildError as exc:
            log = tree / "debootstrap/debootstrap.log"
            if log.exists():
                tail = log.read_text(errors="replace")[-3000:]
                raise SampleBuildError(f"{exc}\n--- debootstrap.log ---\n{tail}") from exc
            raise
        finally:
            unmount_all(tree)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (tree / junk).glob("*"):
                if p.is_file() and p.name not in ("lock",):
                    p.unlink()
        shutil.rmtree(tree / "debootstrap", ignore_errors=True)
        run(["tar", *TAR_OPTS, "-C", tree, "-cf", tmp / "rootfs.tar", "."])
        shutil.rmtree(tree)

    entry, _ = cached_entry(cache_dir, name, make, progress=progress)
    return entry / "rootfs.tar"


def extract(tarball: Path, tree: Path) -> None:
    """Unpack a rootfs tarball, with a policy-rc.d in place (the recipe removes it when done)."""
    tree.mkdir(parents=True, exist_ok=True)
    run(["tar", *TAR_OPTS, "-C", tree, "-xf", tarball])
    policy = tree / "usr/sbin/policy-rc.d"
    policy.write_text(POLICY_RC_D)
    policy.chmod(0o755)
