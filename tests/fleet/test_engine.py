"""The fleet engine on a real Dask LocalCluster with real guests: one failed row per broken or hostile
image (with the exit code `migrate inspect` gives), inventories written, reruns skip unchanged
images by fingerprint and redo changed ones, per-image memory cap and timeout."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess

import pytest

from migrate.errors import EXIT_CODES
from migrate.fleet.engine import EngineOptions, run_inspect
from migrate.fleet.sources import add_sources
from migrate.fleet.store import FleetStore
from migrate.fleet.worker import InspectTask, inspect_member
from migrate.model.inventory import Inventory
from tests.fleet.smallfleet import chain_escape, fifo_backed, make_overlays, migrate_cli

OPTS = EngineOptions(workers=2, backend="native", timeout=120)


@pytest.fixture
def mixed_fleet(tmp_path, units_images, bad_images):
    """Four real guests, a guest full of hostile symlinks, a truncated qcow2, a qcow2 whose backing
    file is /etc/passwd, one whose backing file is a FIFO, and an image that vanishes between add and
    inspect."""
    images = tmp_path / "images"
    make_overlays(images, units_images["base"], 5)
    os.link(bad_images["truncated-qcow2"], images / "truncated.qcow2")
    os.link(bad_images["hostile"], images / "hostile.img")
    chain_escape(images)
    fifo_backed(images)
    store = FleetStore.create(tmp_path / "fleet")
    add_sources(store, [str(images)])
    (images / "vm05.qcow2").unlink()  # gone after add
    yield store, images
    store.close()


def test_failures_stay_in_their_rows_and_reruns_skip(mixed_fleet):
    store, images = mixed_fleet
    summary = run_inspect(store, OPTS)
    members = {m.name: m for m in store.members()}
    assert store.counts() == {"failed": 4, "inspected": 5}
    assert (summary.inspected, summary.failed) == (5, 4)
    codes = {n: (m.error.error_class, m.error.exit_code) for n, m in members.items() if m.error}
    assert codes == {"truncated": ("CorruptImage", 12), "escape": ("ChainMemberOutside", 30),
                     "fifo-backed": ("ChainMemberNotRegular", 31), "vm05": ("ImageNotFound", 10)}
    # the same exit codes as `migrate inspect` on each image
    for name in ("truncated", "escape", "fifo-backed"):
        proc = migrate_cli("inspect", "--backend", "native", "--json", members[name].image)
        assert proc.returncode == codes[name][1] == EXIT_CODES[codes[name][0]], proc.stderr
    # inventories written by the workers, with the facts kept in the store
    for name in ("vm01", "hostile"):
        m = members[name]
        inv = Inventory.from_json((store.root / m.inventory_path).read_text())
        assert m.inventory_path == f"members/{name}/inventory.json"
        assert (m.distro, m.os_family) == (inv.os.distro, inv.os.family) == ("debian", "debian")
        assert m.hostnames and m.hostnames[0] == inv.network.hostname
    assert not any(p.name.endswith(".tmp") for p in (store.root / "members").rglob("*"))
    assert all(len(store.inspections(n)) == 1 for n in members)

    # a rerun does nothing; a changed image is redone; a touched but unchanged one is not
    again = run_inspect(store, OPTS)
    assert (again.inspected, again.failed, again.unchanged) == (0, 0, 0)
    old_fp = members["vm01"].fingerprint
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 900M 64k", str(images / "vm01.qcow2")],
                   check=True, capture_output=True)
    os.utime(images / "vm02.qcow2")
    third = run_inspect(store, OPTS)
    assert (third.inspected, third.unchanged, third.stale) == (1, 1, 2)
    assert store.get("vm01").fingerprint != old_fp and store.get("vm02").state == "inspected"
    assert [len(store.inspections(n)) for n in ("vm01", "vm02")] == [2, 1]
    assert store.counts() == {"failed": 4, "inspected": 5}


def test_memory_cap_and_timeout_fail_only_that_image(tmp_path, units_images):
    images = make_overlays(tmp_path / "images", units_images["base"], 1)
    fleet = str(FleetStore.create(tmp_path / "fleet").root)
    capped = inspect_member(InspectTask("vm01", str(images[0]), fleet, "members/vm01", backend="native",
                                        memory_mib=1))
    assert capped.error["error_class"] == "ResourceBudgetExceeded" and capped.error["exit_code"] == 32
    slow = inspect_member(InspectTask("vm01", str(images[0]), fleet, "members/vm01", backend="native", timeout=0.01))
    assert slow.error["error_class"] == "TimeBudgetExceeded" and slow.error["exit_code"] == 33
    assert slow.seconds < 5
    fine = inspect_member(InspectTask("vm01", str(images[0]), fleet, "members/vm01", backend="native"))
    assert fine.ok and fine.fingerprint.startswith("fp1:") and json.loads(fine.stat_key)["files"][1].endswith(
        "base.qcow2")


def test_multi_disk_member_is_inspected_as_one_vm(tmp_path, units_images):
    images = tmp_path / "images"
    make_overlays(images, units_images["base"], 1)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(images / "data.qcow2"), "32M"], check=True)
    (images / "vms.csv").write_text("path,name\nvm01.qcow2,app01\ndata.qcow2,app01\n")
    with FleetStore.create(tmp_path / "fleet") as s:
        add_sources(s, [], manifest=images / "vms.csv")
        run_inspect(s, EngineOptions(workers=1, backend="native"))
        m = s.get("app01")
        assert m.state == "inspected", m.error
        inv = Inventory.from_json((s.root / m.inventory_path).read_text())
        assert [os.path.basename(i.path) for i in inv.images] == ["vm01.qcow2", "data.qcow2"]
        # the data disk is part of the fingerprint: changing it redoes the VM
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 64k", str(images / "data.qcow2")],
                       check=True, capture_output=True)
        again = run_inspect(s, EngineOptions(workers=1, backend="native"))
        assert again.inspected == 1 and s.get("app01").fingerprint != m.fingerprint


def test_attach_to_an_existing_dask_cluster(tmp_path, units_images):
    """`--scheduler` attaches to a cluster started apart from migrate (here: the `dask` CLI's scheduler
    and one worker process on ports the OS picks), whose workers read the same paths."""
    import sys
    import time

    images = tmp_path / "images"
    make_overlays(images, units_images["base"], 3)
    fleet = tmp_path / "fleet"
    assert migrate_cli("fleet", "add", str(fleet), str(images)).returncode == 0
    bad = migrate_cli("fleet", "inspect", str(fleet), "--scheduler", "tcp://127.0.0.1:9", "--json", timeout=120)
    assert bad.returncode == 2 and "cannot reach the Dask scheduler" in bad.stderr
    with FleetStore.open(fleet) as s:
        assert s.counts() == {"pending": 3} and s.active_runs() == []  # the failed run gave everything back
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    info = tmp_path / "scheduler.json"
    sched = subprocess.Popen([*dask, "--port", "0", "--no-dashboard", "--scheduler-file", str(info)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    worker = None
    try:
        end = time.monotonic() + 60
        while not info.exists() and time.monotonic() < end:
            time.sleep(0.1)
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                                   str(info), "--nthreads", "1", "--no-dashboard"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        address = json.loads(info.read_text())["address"]
        proc = migrate_cli("fleet", "inspect", str(fleet), "--scheduler", address, "--backend", "native", "--json")
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert (out["inspected"], out["workers"]) == (3, 1)
    finally:
        for p in (worker, sched):
            if p is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, 9)
                p.wait(30)


def test_cli_inspect_and_status(tmp_path, units_images, bad_images):
    images = tmp_path / "images"
    make_overlays(images, units_images["base"], 2)
    os.link(bad_images["truncated-qcow2"], images / "truncated.qcow2")
    fleet = tmp_path / "fleet"
    assert migrate_cli("fleet", "add", str(fleet), str(images)).returncode == 0
    proc = migrate_cli("fleet", "inspect", str(fleet), "--workers", "1", "--backend", "native", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["inspected"], out["failed"], out["counts"]) == (2, 1, {"failed": 1, "inspected": 2})
    status = json.loads(migrate_cli("fleet", "status", str(fleet), "--json").stdout)
    failed = [m for m in status["members"] if m["state"] == "failed"]
    assert failed[0]["error"]["exit_code"] == 12 and status["active_runs"] == 0
