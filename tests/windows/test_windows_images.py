"""The windows sample (an NTFS disk with real hives, built by libguestfs) through both backends.

Native reads NTFS with libfsntfs and must find every fact the sample's build recorded, in well under
a second; guestfs (ntfs-3g in the appliance, case-sensitive) must find the same facts, and agree with
libguestfs's own inspection of the same handle (product, version, arch, hostname, %SystemRoot%).
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from migrate.errors import GuestPathError
from migrate.inspect import inventory_of, open_vm
from migrate.model.inventory import Inventory
from migrate.samples import SampleImages, build_sample
from migrate.samples import windows as sample

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def windows_images() -> SampleImages:
    return build_sample("windows")


@pytest.fixture(scope="module")
def native_inventory(windows_images: SampleImages) -> tuple[Inventory, float]:
    t0 = time.perf_counter()
    with open_vm([windows_images["qcow2"]], "native") as vm:
        inv = inventory_of(vm)
    return inv, time.perf_counter() - t0


def facts_of(inv: Inventory) -> dict:
    """Every Windows fact of an inventory, backend-neutral (what both backends must agree on)."""
    return {
        "os": inv.os.model_dump(exclude={"evidence"}),
        "network": inv.network.model_dump(),
        "windows": inv.windows.model_dump() if inv.windows else None,
        "services": [s.model_dump() for s in inv.services],
        "programs": [p.model_dump() for p in inv.windows_programs],
        "iis": [s.model_dump() for s in inv.iis_sites],
        "sql": [i.model_dump() for i in inv.sqlserver_instances],
        "ports": [p.model_dump() for p in inv.ports],
        "persistent": [p.model_dump(exclude={"mode", "uid", "gid"}) for p in inv.persistent_paths],
        "connections": [c.model_dump() for c in inv.connections],
        "secrets": [s.model_dump() for s in inv.secrets],
        "unknowns": [u.model_dump() for u in inv.unknowns],
    }


def test_native_reads_every_fact(windows_images: SampleImages, native_inventory: tuple[Inventory, float]) -> None:
    inv, seconds = native_inventory
    facts = windows_images.facts
    assert seconds < 1.0, f"native inspect took {seconds:.2f}s"
    assert inv.backend == "native" and not inv.unknowns
    assert (inv.os.family, inv.os.version, inv.os.arch, inv.os.pretty_name) == (
        "windows", facts["version"], facts["arch"], facts["product_name"])
    assert inv.network.hostname == facts["hostname"]
    assert {h.address: h.names for h in inv.network.hosts} == facts["static_addresses"] | facts["hosts_file"]
    assert inv.network.nameservers == facts["nameservers"]
    assert inv.windows is not None
    assert (inv.windows.systemroot, inv.windows.current_control_set, inv.windows.build, inv.windows.domain,
            inv.windows.drivers) == (facts["systemroot"], facts["current_control_set"], facts["build"],
                                     facts["domain"], facts["drivers"])
    assert {s.name: s.windows_start for s in inv.services} == facts["services"]
    assert sorted(p.name for p in inv.windows_programs) == sorted(facts["programs"])
    sites = {s.name: [f"{b.protocol} {b.address or '*'}:{b.port}" + (f" {b.host}" if b.host else "")
                      for b in s.bindings] for s in inv.iis_sites}
    assert sites == facts["iis_sites"]
    assert {s.name: s.guest_path for s in inv.iis_sites} == {"Default Web Site": "/inetpub/wwwroot",
                                                             "Shop": "/Sites/Shop"}
    (sql,) = inv.sqlserver_instances
    want = facts["sqlserver"][sql.name]
    assert (sql.instance_id, sql.version, sql.tcp_ports) == (want["instance_id"], want["version"], [want["port"]])
    (fs,) = inv.filesystems
    assert (fs.fstype, fs.mountpoint, len(fs.uuid or "")) == ("ntfs", "/", 16)
    conns = {c.via.rsplit(" ", 1)[-1]: [c.scheme, c.host, c.port, c.database, c.username] for c in inv.connections}
    assert conns == {k: list(v) for k, v in facts["connections"].items()}
    assert len(inv.secrets) == 1 and sample.SECRET not in inv.to_json()


def check_links(rootfs, facts: dict) -> None:  # noqa: ANN001
    """ntfs-3g's links read as links, resolved inside the guest: a loop is no file, and a link that climbs
    out of the volume ends at the guest's root (no /etc/passwd there), never on the host."""
    for link, target in facts["links"].items():
        assert rootfs.lstat(link).kind == "symlink" and rootfs.readlink(link) == target
    assert rootfs.is_dir("/Documents and Settings") and rootfs.iterdir("/Documents and Settings") == [
        "/Documents and Settings/Public"]
    assert rootfs.stat("/Apps/loop1") is None
    assert rootfs.stat("/Apps/outside") is None  # the guest's /etc/passwd: there is no /etc on this volume
    with pytest.raises(GuestPathError, match="no such file"):
        rootfs.read_bytes("/Apps/outside")


def test_native_links(windows_images: SampleImages) -> None:
    with open_vm([windows_images["qcow2"]], "native") as vm:
        check_links(vm.guest.rootfs, windows_images.facts)


def test_guestfs_agrees_with_native_and_libguestfs(windows_images: SampleImages,
                                                     native_inventory: tuple[Inventory, float]) -> None:
    with open_vm([windows_images["qcow2"]], "guestfs") as vm:
        inv = inventory_of(vm)
        check_links(vm.guest.rootfs, windows_images.facts)
        identity = vm.guest.rootfs.identity  # what the backend's inspection said, cross-checked by the analyzer
        g = vm.guest.rootfs.mounts["/"].g  # the backend's own libguestfs handle: its inspection, no 2nd launch
        (root,) = g.inspect_get_roots()
        libguestfs = {
            "type": g.inspect_get_type(root), "product": g.inspect_get_product_name(root),
            "version": f"{g.inspect_get_major_version(root)}.{g.inspect_get_minor_version(root)}",
            "arch": g.inspect_get_arch(root), "hostname": g.inspect_get_hostname(root),
            "systemroot": g.inspect_get_windows_systemroot(root),
            "control_set": g.inspect_get_windows_current_control_set(root),
        }
    native, _ = native_inventory
    assert facts_of(inv) == facts_of(native)  # incl. no unknowns: the cross-check found no disagreement
    assert {k: identity.get(k) for k in ("type", "product_name", "version", "arch", "hostname")} == {
        "type": "windows", "product_name": inv.os.pretty_name, "version": inv.os.version, "arch": inv.os.arch,
        "hostname": inv.network.hostname}
    assert inv.backend == "guestfs"
    assert libguestfs == {"type": "windows", "product": inv.os.pretty_name, "version": inv.os.version,
                          "arch": inv.os.arch, "hostname": inv.network.hostname,
                          "systemroot": inv.windows.systemroot, "control_set": inv.windows.current_control_set}


def test_cli_inspect_strict_plan_and_convert(windows_images: SampleImages, tmp_path) -> None:  # noqa: ANN001
    """The CLI end to end: inspect --strict passes (nothing unknown), plan blocks every service, convert
    refuses with exit 20 and writes nothing; the guest's password is in no output."""
    image = windows_images["qcow2"]
    cli = [sys.executable, "-m", "migrate"]
    r = subprocess.run([*cli, "inspect", str(image), "--backend", "native", "--strict", "-o",
                        str(tmp_path / "inventory.json")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([*cli, "plan", str(tmp_path / "inventory.json"), "-o", str(tmp_path / "plan.yaml")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    plan_text = (tmp_path / "plan.yaml").read_text()
    assert plan_text.count("Windows containers are out of scope for Linux stacks") == 3 + 1  # 3 blockers + os
    r = subprocess.run([*cli, "convert", str(image), "-o", str(tmp_path / "stack")], capture_output=True, text=True)
    assert r.returncode == 20, r.stderr
    assert "no container to build" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "stack").exists()
    for f in tmp_path.rglob("*"):  # web.config's password is in no output
        assert not f.is_file() or sample.SECRET.encode() not in f.read_bytes(), f
