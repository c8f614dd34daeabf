"""pytest plugin: the sample guest images as session fixtures (registered from tests/conftest.py).

The images are real Debian 12 guests built by ``migrate.samples`` on first use and cached in
``$MIGRATE_SAMPLES_CACHE`` (default ``~/.cache/migrate/samples``); later sessions reuse them in
well under a second. A file lock in the cache keeps parallel workers from building twice. Builds
need root, debootstrap, qemu-img, e2fsprogs/xfsprogs, a loop device and libguestfs (flagship), and
a reachable Debian mirror; where any is missing the fixture skips with the reason.
"""

from __future__ import annotations

import os
import shutil

import pytest

from migrate.samples import SampleBuildError, SampleImages, build_sample, make_bad_images

os.environ.setdefault("LIBGUESTFS_BACKEND", "direct")
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    os.environ.setdefault("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")


def _sample(name: str) -> SampleImages:
    missing = [t for t in ("debootstrap", "qemu-img", "mkfs.ext4", "mkfs.xfs", "sfdisk") if not shutil.which(t)]
    if missing:
        pytest.skip(f"sample {name} needs {', '.join(missing)}")
    if os.geteuid() != 0:
        pytest.skip(f"sample {name} is built with debootstrap/chroot, which need root")
    try:
        return build_sample(name, progress=lambda msg: print(f"[samples] {msg}", flush=True))
    except SampleBuildError as exc:
        if os.environ.get("MIGRATE_SAMPLES_REQUIRED"):
            raise
        pytest.skip(f"sample {name} could not be built: {str(exc)[:500]}")


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
