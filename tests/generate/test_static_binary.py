"""A statically linked executable gets a FROM scratch runtime stage."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from migrate.generate import generate
from migrate.model.base import Evidence
from migrate.model.inventory import Inventory, PersistentPath, Port, Service, User
from migrate.plan import is_static_elf, make_plan
from migrate.rootfs import RootFS
from tests.generate.dockerfile import parse, stages
from tests.graph.conftest import load_fixture

BUSYBOX = Path("/usr/bin/busybox")


def elf(*, interp: bool, e_type: int = 2) -> bytes:
    """A minimal 64-bit little-endian ELF header with one or two program headers."""
    phdrs = [1] + ([3] if interp else [])
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", e_type, 62, 1, 0, 64, 0, 0, 64, 56, len(phdrs), 64, 0, 0)
    return header + b"".join(struct.pack("<II", t, 0) + bytes(48) for t in phdrs)


def test_is_static_elf() -> None:
    assert is_static_elf(elf(interp=False))
    assert not is_static_elf(elf(interp=True))
    assert not is_static_elf(b"#!/bin/sh\necho hi\n")
    assert not is_static_elf(elf(interp=False, e_type=1))  # a relocatable object
    # real binaries: Debian's busybox-static (scripts/setup-host.sh installs it) and this interpreter
    assert is_static_elf(BUSYBOX.read_bytes()), f"{BUSYBOX} should be busybox-static"
    assert not is_static_elf(Path(sys.executable).resolve().read_bytes())


def inventory_with_static_service() -> Inventory:
    inv = load_fixture("alpine319")
    ev = Evidence(analyzer="test", path="/etc/init.d/edge")
    inv.services.append(Service(name="edge", manager="openrc", state="enabled", user="edge", uid=1000, gid=1000,
                                exec_start=["/usr/local/bin/busybox", "httpd", "-f", "-p", "9000", "-h", "/srv/www"],
                                evidence=[ev]))
    inv.users.append(User(name="edge", uid=1000, gid=1000, home="/srv/www", evidence=ev))
    inv.ports.append(Port(service="edge", port=9000, evidence=ev))
    inv.persistent_paths.append(PersistentPath(path="/srv/www", service="edge", reason="served files", uid=1000,
                                               gid=1000, mode=0o755, evidence=ev))
    return inv


@pytest.fixture
def guest(tmp_path: Path) -> Path:
    root = tmp_path / "guest"
    (root / "usr/local/bin").mkdir(parents=True)
    binary = root / "usr/local/bin/busybox"
    shutil.copy(BUSYBOX, binary)
    os.chmod(binary, 0o755)
    (root / "etc").mkdir()
    (root / "etc/redis.conf").write_text("port 6379\n")
    return root


def test_scratch_runtime(tmp_path: Path, guest: Path) -> None:
    with RootFS.from_directory(guest) as fs:
        plan = make_plan(inventory_with_static_service(), reader=fs)
        edge = plan.container("edge")
        assert edge.base.runtime == "scratch" and not edge.packages.items
        assert edge.healthcheck.kind == "none"
        out = generate(plan, tmp_path / "stack", fs).outdir
    ins = parse((out / "edge/Dockerfile").read_text())
    build, runtime = stages(ins)
    assert build[0].args == "${BASE_IMAGE} AS build" and runtime[0].args == "scratch"
    assert "RUN" not in [i.name for i in runtime]
    assert next(i for i in runtime if i.name == "USER").args == "1000:1000"
    prep = next(i for i in build if i.name == "RUN").args
    assert "/rootfs/etc/passwd" in prep and "edge:x:1000:1000" in prep and "/rootfs/srv/www" in prep
    assert (out / "edge/rootfs/usr/local/bin/busybox").stat().st_mode & 0o111
    compose = yaml.safe_load((out / "compose.yaml").read_text())
    assert "healthcheck" not in compose["services"]["edge"]
    proc = subprocess.run(["docker", "stack", "config", "-c", "compose.yaml"], cwd=out, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.docker
def test_scratch_image_builds_and_runs_as_the_guest_user(tmp_path: Path, guest: Path, base_image: str) -> None:
    with RootFS.from_directory(guest) as fs:
        out = generate(make_plan(inventory_with_static_service(), reader=fs), tmp_path / "stack", fs).outdir
    tag = "migrate-test/edge:latest"
    # the build stage only needs a shell and coreutils: the local Debian base image
    subprocess.run(["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={base_image}", "-t", tag,
                    str(out / "edge")], check=True, capture_output=True, timeout=600)
    try:
        proc = subprocess.run(["docker", "run", "--rm", "--entrypoint", "/usr/local/bin/busybox", tag, "id"],
                              capture_output=True, text=True, timeout=60)
        assert proc.stdout.strip().startswith("uid=1000(edge) gid=1000(edge)"), proc.stdout + proc.stderr
        layers = subprocess.run(["docker", "history", "-q", tag], capture_output=True, text=True, check=True)
        assert layers.stdout.strip(), "the image has layers"
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
