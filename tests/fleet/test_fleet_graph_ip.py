"""The fleet edge by IP, end to end on real guests: a web VM (the flagship sample) whose DATABASE_URL,
REDIS_URL and nginx upstream name three other VMs only by IP address, none of which lists that address
in its /etc/hosts:

- db01 (flagship) has it in /etc/network/interfaces (ifupdown ``address`` + ``netmask``);
- cache01 (classic) has it in its systemd-networkd file (``[Network] Address=``);
- legacy-api has no exported disk at all: only its RVTools row reports the address.

Each VM is a qcow2 overlay over a cached sample image, edited natively (migrate.samples._fleet_write) the
way the benchmark fleet is made; the fleet is run through the CLI as a user runs it."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest

from migrate.samples._fleet_write import OverlayEditor
from tests.fleet.conftest import run_migrate

pytestmark = pytest.mark.image

RV_HEADER = ["VM", "Powerstate", "DNS Name", "CPUs", "Memory", "Provisioned MiB", "In Use MiB", "Primary IP Address",
             "OS according to the configuration file", "Datacenter", "Cluster", "Host"]
INTERFACES = "auto lo\niface lo inet loopback\n\nauto ens3\niface ens3 inet static\n    address 10.20.0.5\n" \
             "    netmask 255.255.255.0\n    gateway 10.20.0.1\n"


def _overlay(images: Path, base: Path, name: str) -> Path:
    local = images / f".base-{base.parent.name}.qcow2"
    if not local.exists():
        os.link(base, local)
    p = images / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", local.name, "-F", "qcow2", p.name],
                   check=True, cwd=images)
    return p


def _hosts(name: str) -> bytes:  # its own name only: the address must come from the interface configuration
    return f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n".encode()


@pytest.fixture(scope="module")
def ip_fleet(flagship_images, classic_images, tmp_path_factory):
    root = tmp_path_factory.mktemp("ipfleet")
    images, work = root / "images", root / "work"
    images.mkdir()
    flagship, classic = flagship_images.files["qcow2"], classic_images.files["qcow2"]
    with OverlayEditor(_overlay(images, flagship, "web01"), work) as ed:
        ed.write("/etc/hostname", b"web01\n")
        ed.write("/etc/hosts", _hosts("web01"))
        ed.edit("/etc/shop/shop.env", [("@localhost:5432/", "@10.20.0.5:5432/"),
                                       ("@127.0.0.1:6379/", "@10.20.0.6:6379/")])
        ed.edit("/etc/nginx/sites-available/shop", [("server 127.0.0.1:8080;", "server 10.20.0.7:8080;")])
    with OverlayEditor(_overlay(images, flagship, "db01"), work) as ed:
        ed.write("/etc/hostname", b"db01\n")
        ed.write("/etc/hosts", _hosts("db01"))
        ed.flush()
        subprocess.run(["debugfs", "-w", "-R", "mkdir /etc/network", ed.device], check=True, capture_output=True)
        ed.write("/etc/network/interfaces", INTERFACES.encode())
    with OverlayEditor(_overlay(images, classic, "cache01"), work) as ed:
        ed.write("/etc/hostname", b"cache01\n")
        ed.write("/etc/hosts", _hosts("cache01"))
        ed.edit("/etc/systemd/network/10-eth0.network", [("DHCP=yes\n", "Address=10.20.0.6/24\n")])
    rv = root / "vInfo.csv"
    with open(rv, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(RV_HEADER)
        for name, ip, dns in (("web01", "10.20.0.4", "web01.corp.example"), ("db01", "", ""), ("cache01", "", ""),
                              ("legacy-api", "10.20.0.7", "legacy-api.corp.example")):
            w.writerow([name, "poweredOn" if ip else "poweredOff", dns, 2, 2048, 20480, 8192, ip,
                        "Debian GNU/Linux 12 (64-bit)", "DC1", "CL-A", "esx01.corp.example"])
    fleet = root / "estate"
    run_migrate("fleet", "add", str(fleet), str(images), "--rvtools", str(rv))
    run_migrate("fleet", "inspect", str(fleet), "--workers", "2")
    run_migrate("fleet", "plan", str(fleet))
    run_migrate("fleet", "report", str(fleet))
    return fleet, json.loads((fleet / "report" / "fleet-report.json").read_text())


def test_static_addresses_are_read_from_two_different_sample_guests(ip_fleet):
    fleet, report = ip_fleet
    members = {m["name"]: m for m in report["members"]}
    assert set(members) == {"web01", "db01", "cache01", "legacy-api"}
    db = json.loads((fleet / members["db01"]["inventory_path"]).read_text())["network"]["addresses"]
    cache = json.loads((fleet / members["cache01"]["inventory_path"]).read_text())["network"]["addresses"]
    assert [(a["interface"], a["method"], a["address"], a["prefixlen"], a["evidence"]["path"], a["evidence"]["detail"])
            for a in db if a["method"] == "static"] == [
        ("ens3", "static", "10.20.0.5", 24, "/etc/network/interfaces", "line 6")]
    assert any(a["method"] == "dhcp" and a["evidence"]["path"] == "/etc/systemd/network/10-eth0.network" for a in db)
    assert [(a["method"], a["address"], a["prefixlen"], a["evidence"]["path"]) for a in cache] == [
        ("static", "10.20.0.6", 24, "/etc/systemd/network/10-eth0.network")]
    assert (members["db01"]["addresses"], members["cache01"]["addresses"]) == (["10.20.0.5"], ["10.20.0.6"])
    assert members["db01"]["address_evidence"] == {"10.20.0.5": "/etc/network/interfaces line 6"}


def test_connections_by_ip_reach_the_static_addresses_and_the_rvtools_only_vm(ip_fleet):
    _fleet, report = ip_fleet
    got = sorted((e["source"], e["target"], e["matched_by"], e["address"], e["port"], e["evidence"],
                  e["target_evidence"]) for e in report["edges"])
    assert [g[:6] for g in got] == [
        ("web01", "cache01", "ip", "10.20.0.6", 6379, "/etc/shop/shop.env"),
        ("web01", "db01", "ip", "10.20.0.5", 5432, "/etc/shop/shop.env"),
        ("web01", "legacy-api", "ip", "10.20.0.7", 8080, "/etc/nginx/sites-enabled/shop")]
    assert got[0][6].startswith("/etc/systemd/network/10-eth0.network line ")
    assert got[1][6] == "/etc/network/interfaces line 6"
    assert got[2][6] == "RVTools vInfo row 5: Primary IP Address"
    members = {m["name"]: m for m in report["members"]}
    assert members["legacy-api"]["state"] == "no-image" and members["legacy-api"]["readiness"] == "not-inspected"
    # the VM others call with no disk to convert yet holds back its group and is listed with it
    assert [w["members"] for w in report["waves"]] == [["cache01", "db01", "legacy-api", "web01"]]
    assert "legacy-api (not inspected: no disk image exported) holds back" in report["waves"][0]["reason"]
