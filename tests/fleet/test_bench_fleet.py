"""The benchmark fleet (migrate.samples.fleet) inspected for real, whole, once per module: every member's
OS, kinds, names, readiness, blockers and errors, every cross-VM edge and every wave equal what the
fleet's roster put in (expectations.json, derived from the roster, not from running the tool).

Cost: the fleet is cached (cold build about 3 min: the vmdk/vhdx/vdi/OVA exports; the 96 guest writes
take 17 s); inspecting 101 images on 2 Dask workers and planning 98 members take about 2-6 min
depending on the machine's load (see the report of F2 / docs/fleet.md)."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from migrate.fleet.rvtools import read_rvtools
from migrate.fleet.store import FleetStore
from migrate.fleet.waves import fleet_report
from migrate.image.confine import ChainRoot
from migrate.samples.fleet import FleetManifest

pytestmark = pytest.mark.image

FORMATS = {"qcow2", "vmdk", "vhdx", "vdi", "raw", "ova"}


@pytest.fixture(scope="module")
def bench(bench_fleet_run) -> FleetManifest:
    return bench_fleet_run.bench


@pytest.fixture(scope="module")
def inspected(bench_fleet_run):
    """The whole benchmark fleet as the README's commands leave it (tests/fleet/conftest.py: added with its
    manifest and RVTools export, inspected on 2 workers, planned), read back from its store."""
    root = bench_fleet_run.fleet
    with FleetStore.open(root) as store:
        members = store.members()
        report = fleet_report(store, root)
    failed = {m.name: m.error.stage for m in members if m.error}
    return root, failed, report


def test_the_fleet_has_every_format_broken_images_and_confined_chains(bench):
    exp = bench.expectations
    with open(bench.manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == exp["counts"]["images"] >= 100
    paths = [bench.dir / r["path"] for r in rows]
    assert all(p.is_file() for p in paths)
    assert {p.suffix.lstrip(".") for p in paths} == FORMATS
    assert sum(1 for v in exp["vms"].values() if v["error"]) == 3
    overlays = [p for p in paths if p.suffix == ".qcow2" and not exp["vms"][p.stem]["error"]]
    assert len(overlays) >= 80
    for p in overlays[::7]:  # the chain rule of migrate inspect accepts every backing file
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", "-U", p], check=True,
                                         capture_output=True).stdout)
        name = info["backing-filename"]
        assert not name.startswith("/")
        real = ChainRoot.of(p).resolve(name, str(p), what="backing file")
        assert Path(real).is_relative_to(bench.images / ".backing")
        assert p.stat().st_size < 4 << 20  # an overlay holds only what was written into it


def test_rvtools_export_has_real_headers_and_the_vms_without_disks(bench):
    exp = bench.expectations
    xlsx = {s.vm: s for _row, s in read_rvtools(bench.rvtools_xlsx)}
    csv_ = {s.vm: s for _row, s in read_rvtools(bench.rvtools_csv)}
    assert set(xlsx) == set(csv_) == set(exp["vms"])
    assert xlsx == csv_
    assert all(s.cpus and s.memory_mib and s.provisioned_mib and s.os and s.cluster and s.host for s in xlsx.values())
    no_image = sorted(n for n, v in exp["vms"].items() if v["image"] is None)
    assert len(no_image) == 6


def test_members_match_what_was_put_in(bench, inspected):
    _root, failed, report = inspected
    exp = bench.expectations
    assert sorted(failed.values()) == ["inspect"] * 3  # the three broken images; no plan failed
    members = {m.name: m for m in report.members}
    assert set(members) == set(exp["vms"])
    for name, want in exp["vms"].items():
        m = members[name]
        got = {"readiness": m.readiness, "kinds": m.kinds if not want["error"] else [],
               "blocker_kinds": sorted({b.split(":", 1)[0] for b in m.blockers}), "wave_hint": m.wave_hint,
               "owner": m.owner, "environment": m.environment,
               "error": {"error_class": m.error.error_class, "exit_code": m.error.exit_code} if m.error else None}
        assert got == {k: want[k] for k in got}, name
        if want["os"]:
            assert (m.os_family, m.distro, m.os_version) == (want["os"]["family"], want["os"]["distro"],
                                                             want["os"]["version"]), name
            assert want["hostname"] in m.hostnames, name
        if want["fqdn"]:
            assert want["fqdn"] in m.hostnames and m.addresses == [want["address"]], name
        if want["readiness"] == "blocked":
            assert all(": " in b for b in m.blockers), name  # "kind: detail"
    counts = {r: sum(m.readiness == r for m in report.members) for r in exp["counts"]["readiness"]}
    assert counts == exp["counts"]["readiness"]


def test_edges_and_waves_match_what_was_put_in(bench, inspected):
    _root, _failed, report = inspected
    exp = bench.expectations
    got = sorted((e.source, e.target, e.matched_by, e.address, e.port, e.evidence) for e in report.edges)
    want = sorted((e["source"], e["target"], e["matched_by"], e["address"], e["port"], e["evidence"])
                  for e in exp["edges"])
    assert got == want
    assert {e["matched_by"] for e in exp["edges"]} == {"hostname", "fqdn", "ip"}
    by_key = {(e.source, e.target, e.address): e.via for e in report.edges}
    for e in exp["edges"]:  # what carried it, as the analyzers name it
        assert all(word in by_key[(e["source"], e["target"], e["address"])] for word in e["via"].split()), e
    assert [(w.number, w.members) for w in report.waves] == [(w["number"], w["members"]) for w in exp["waves"]]
    assert all(w.reason for w in report.waves)
    assert "hint '1'" in report.waves[0].reason
