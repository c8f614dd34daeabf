"""`migrate inspect` on the real flagship guest (Debian 12, GPT + LVM, ext4 + xfs) in every export.

This is issue 2's "done means": Debian 12, the four services with their ports, sshd VM-only, the
persistent paths, and the passwords only as redacted secrets; and both backends agree.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from migrate.inspect import inspect_images
from migrate.model.inventory import Inventory

pytestmark = pytest.mark.image

EXPORTS = ["qcow2", "vmdk-stream", "ova"]


@pytest.fixture(scope="module")
def native_inventories(flagship_images) -> dict[str, Inventory]:
    return {kind: inspect_images([flagship_images.files[kind]], "native") for kind in EXPORTS}


def by_role(inv: Inventory, role: str):
    found = [s for s in inv.services if s.role == role]
    assert found, f"no service with role {role}: {[(s.name, s.role) for s in inv.services]}"
    return found[0]


def ports_of(inv: Inventory, service: str) -> set[int]:
    return {p.port for p in inv.ports if p.service == service and p.port}


@pytest.mark.parametrize("kind", EXPORTS)
def test_flagship_inventory(native_inventories, flagship_images, kind):
    inv = native_inventories[kind]
    facts = flagship_images.facts
    assert (inv.os.family, inv.os.distro, inv.os.version) == ("debian", "debian", "12")
    assert inv.network.hostname == facts["hostname"]
    expected_ports = {"nginx": 80, "app": 8080, "postgresql": 5432, "redis": 6379}
    for role, port in expected_ports.items():
        svc = by_role(inv, role)
        assert port in ports_of(inv, svc.name), (role, svc.name, inv.ports)
        assert not svc.vm_only
    ssh = by_role(inv, "sshd")
    assert ssh.vm_only and ssh.vm_only_reason
    app = by_role(inv, "app")
    assert app.user == "shop" and app.uid == facts["users"]["shop"]["uid"]
    paths = {p.path for p in inv.persistent_paths}
    assert {"/var/lib/postgresql/15/main", "/var/lib/redis", "/var/lib/shop"} <= paths
    mounts = {f.mountpoint: f.fstype for f in inv.filesystems if f.mountpoint}
    assert mounts == facts["filesystems"]
    redacted = {s.redacted for s in inv.secrets}
    assert any("postgresql://shop:****@" in r for r in redacted), redacted
    assert any("redis://:****@" in r for r in redacted), redacted
    text = inv.to_json()
    for password in facts["secrets"]:
        assert password not in text
    if kind == "ova":
        assert (inv.sizing.vcpus, inv.sizing.memory_mib) == (2, 2048)
        assert inv.name == facts["vm"]["name"]


def test_cli_writes_inventory_and_summary(flagship_images, tmp_path):
    out = tmp_path / "inventory.json"
    proc = subprocess.run([sys.executable, "-m", "migrate", "inspect", str(flagship_images.files["qcow2"]),
                           "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    inv = Inventory.load(out)
    assert inv.os.distro == "debian"
    for password in flagship_images.facts["secrets"]:
        assert password not in proc.stdout + proc.stderr + out.read_text()
    assert "Secrets (redacted)" in proc.stdout and "****" in proc.stdout
    assert json.loads(out.read_text())["kind"] == "inventory"


def comparable(inv: Inventory) -> dict:
    data = json.loads(inv.to_json())
    for key in ("backend", "filesystems", "analyzers", "images"):
        data.pop(key)
    return data


def test_backends_agree_on_the_inventory(native_inventories, flagship_images):
    guestfs_inv = inspect_images([flagship_images.files["qcow2"]], "guestfs")
    assert comparable(guestfs_inv) == comparable(native_inventories["qcow2"])
    assert {f.mountpoint for f in guestfs_inv.filesystems if f.mountpoint} == set(flagship_images.facts["filesystems"])
