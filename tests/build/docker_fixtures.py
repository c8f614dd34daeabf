"""Session fixtures shared by the Docker-engine tests (tests/build, data_migration, verify, e2e).

Each of those directories' conftest.py imports them. ``base_image`` makes debian:bookworm-slim
locally with ``migrate base-image`` (debootstrap + docker import, ~1-2 min once per machine) because
no registry is reachable here; it is kept afterwards, like a pulled image would be.
"""

from __future__ import annotations

import os

import pytest

BASE_IMAGE = os.environ.get("MIGRATE_BASE_IMAGE", "debian:bookworm-slim")


@pytest.fixture(scope="session")
def docker_engine():
    from migrate.docker_engine import DockerUnavailable, Engine

    try:
        return Engine()
    except DockerUnavailable as exc:  # `make test` starts dockerd; `make test-fast` deselects these tests
        pytest.fail(f"no Docker engine ({exc}): run scripts/setup-host.sh, or `make test-fast` without Docker")


@pytest.fixture(scope="session")
def base_image(docker_engine) -> str:
    from migrate.baseimage import make_base_image

    make_base_image(BASE_IMAGE, engine=docker_engine, progress=lambda m: print(f"[base-image] {m}", flush=True))
    return BASE_IMAGE
