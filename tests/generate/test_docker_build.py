"""Builds a generated image for real (needs dockerd, the local debian:bookworm-slim base image and the
Debian mirror; about a minute)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from migrate.generate import generate
from migrate.plan import make_plan
from migrate.rootfs import RootFS
from tests.generate.guest import PG_PASSWORD, make_guest
from tests.graph.conftest import load_fixture

pytestmark = [pytest.mark.docker]  # part of `make test`, which starts the engine (scripts/setup-host.sh)


def test_shop_image_builds_and_fills_secrets_at_start(tmp_path: Path, base_image: str) -> None:
    guest = make_guest(tmp_path / "guest")
    with RootFS.from_directory(guest) as fs:
        out = generate(make_plan(load_fixture("flagship-debian12"), reader=fs), tmp_path / "stack", fs).outdir
    tag = "migrate-test/shop:latest"
    subprocess.run(["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={base_image}", "-t", tag,
                    str(out / "shop")], check=True, capture_output=True,
                   timeout=900)
    try:
        history = subprocess.run(["docker", "history", "--no-trunc", tag], check=True, capture_output=True,
                                 text=True).stdout
        assert PG_PASSWORD not in history
        (tmp_path / "pw").write_text(PG_PASSWORD + "\n")
        (tmp_path / "rpw").write_text("r3dis")
        run = subprocess.run(
            ["docker", "run", "--rm", "-e", "DATABASE_URL=postgresql://shop:****@postgres:5432/shop",
             "-v", f"{tmp_path / 'pw'}:/run/secrets/postgres_shop_password:ro",
             "-v", f"{tmp_path / 'rpw'}:/run/secrets/redis_password:ro", tag],
            capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == "postgres:5432/shop"
        whoami = subprocess.run(["docker", "run", "--rm", "--entrypoint", "id", tag], capture_output=True,
                                text=True, timeout=60).stdout
        assert "uid=990(shop) gid=990(shop)" in whoami
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
