"""pytest plugin: the sample guest images as session fixtures (registered from tests/conftest.py).

The images are real Debian 12 guests built by ``migrate.samples`` on first use and cached in
``$MIGRATE_SAMPLES_CACHE`` (default ``~/.cache/migrate/samples``); later sessions reuse them in
well under a second. A file lock in the cache keeps parallel workers from building twice. Builds
need root, debootstrap, qemu-img, e2fsprogs/xfsprogs, a loop device and libguestfs (flagship), and
a reachable Debian mirror; where any is missing the fixture fails with the reason.
"""

from __future__ import annotations

import os
import shutil

import pytest

from migrate.image.guestfs_backend import guestfs_environment
from migrate.samples import SampleBuildError, SampleImages, build_sample, make_bad_images

guestfs_environment()


def _unavailable(reason: str) -> None:
    """Image tests are part of the suite: a sample that cannot be built fails them (``make test-fast``
    deselects them by marker instead)."""
    pytest.fail(f"{reason} (scripts/setup-host.sh installs what the samples need)")


def _sample(name: str) -> SampleImages:
    missing = [t for t in ("debootstrap", "qemu-img", "mkfs.ext4", "mkfs.xfs", "sfdisk") if not shutil.which(t)]
    if missing:
        _unavailable(f"sample {name} needs {', '.join(missing)}")
    if os.geteuid() != 0:
        _unavailable(f"sample {name} is built with debootstrap/chroot, which need root")
    try:
        return build_sample(name, progress=lambda msg: print(f"[samples] {msg}", flush=True))
    except SampleBuildError as exc:
        _unavailable(f"sample {name} could not be built: {str(exc)[:500]}")
        raise


@pytest.fixture(scope="session")
def flagship_images() -> SampleImages:
    """Debian 12 shop VM (nginx, app, PostgreSQL, Redis) on GPT+LVM: qcow2, vmdk-stream, ova, raw."""
    return _sample("flagship")


@pytest.fixture(scope="session")
def classic_images() -> SampleImages:
    """Debian 12 LAMP VM on MBR+ext4 in every format: vmdk, vmdk-2gb, vmdk-flat, vhd, vhdx, vdi, qcow2, raw."""
    return _sample("classic")


@pytest.fixture(scope="session")
def units_images() -> SampleImages:
    """Whole-disk ext4 guest full of units and jobs, as overlay.qcow2 on base.qcow2."""
    return _sample("units")


@pytest.fixture(scope="session")
def bad_images(tmp_path_factory) -> dict:
    """Small hostile/broken inputs by kind (see migrate.samples.bad), made in a few seconds."""
    return make_bad_images(tmp_path_factory.mktemp("bad-images"))
