"""The fleet report from real inventories: the cached flagship (its OVA: sizing from the OVF), classic
and units samples are inspected once (native backend, well under a second each) and planned; around
them the fleet has members the engine produces too: a failed image, a VM not exported yet that only
RVTools knows, a blocked VM and one whose host name is hostile HTML. The report is checked in its
files (HTML, CSV, JSON) and in headless Chromium (DOM after parsing, a screenshot's pixels).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from migrate.fleet.exports import MEMBER_COLUMNS, plain_message
from migrate.fleet.report import CapacityOptions, write_fleet_report
from migrate.fleet.worker import member_facts
from migrate.inspect import inspect_images
from migrate.model.capacity import HostCost
from migrate.model.fleet import CrossVMEdge, FleetMember, FleetReport, MemberError, RVToolsSizing, SourceRef, Wave
from migrate.plan import make_plan
from migrate.report import chromium

HOSTILE = '<img src=x onerror="document.title=1"><script>document.body.dataset.pwned=1</script>'


def _member(name: str, image: Path, fleet: Path) -> FleetMember:
    """A member as the engine leaves it after inspect + plan: facts from the inventory, readiness and
    blockers from the plan (every blocker-severity item of every container)."""
    inv = inspect_images([image], "native")
    folder = fleet / "members" / name
    folder.mkdir(parents=True)
    (folder / "inventory.json").write_text(inv.to_json())
    plan = make_plan(inv)
    (folder / "plan.json").write_text(plan.to_json())
    blockers = [f"{b.kind}: {b.detail}" for c in plan.containers for b in c.fitness.blockers
                if b.severity == "blocker"]
    return FleetMember(name=name, sources=[SourceRef(kind="image", path=str(image))], image=str(image),
                       fingerprint="sha256:" + name, state="planned", readiness="blocked" if blockers else "ready",
                       blockers=blockers, inventory_path=f"members/{name}/inventory.json",
                       plan_path=f"members/{name}/plan.json", **member_facts(inv))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, flagship_images, classic_images, units_images):
    root = tmp_path_factory.mktemp("fleet")
    shop = _member("shop-vm01", flagship_images["ova"], root)
    classic = _member("classic-web01", classic_images["qcow2"], root)
    units = _member("units01", units_images["overlay"] if "overlay" in units_images.files
                    else next(iter(units_images.files.values())), root)
    (root / "members" / "shop-vm01" / "stack").mkdir()
    (root / "members" / "shop-vm01" / "stack" / "compose.yaml").write_text("services: {}\n")
    shop.stack_path = "members/shop-vm01/stack"
    # blocked: the units guest as the planner would see it with a kernel module to load
    blocked = units.model_copy(update={
        "name": "legacy-vm07", "readiness": "blocked", "inventory_path": units.inventory_path, "plan_path": None,
        "blockers": ["kernel-module: loads vboxdrv (/etc/modules-load.d/vbox.conf)",
                     "specific-bind: listens on 10.0.0.7:8080 only"]})
    other_blocked = classic.model_copy(update={
        "name": "legacy-vm08", "readiness": "blocked", "plan_path": None,
        "blockers": ["kernel-module: loads nvidia (/etc/modules)"]})
    failed = FleetMember(name="broken-vm09", image="/datastore/exports/broken-vm09.qcow2", state="failed",
                         readiness="failed",
                         error=MemberError(error_class="CorruptImage", exit_code=12,
                                           message="/datastore/exports/broken-vm09.qcow2: L1 table beyond the end"))
    rv_only = FleetMember(name="erp-vm10", state="no-image", readiness="not-inspected",
                          sources=[SourceRef(kind="rvtools", path="/datastore/rvtools.xlsx", row=10)],
                          sizing=RVToolsSizing(vm="erp-vm10", cpus=8, memory_mib=32768, provisioned_mib=204800,
                                               os="Microsoft Windows Server 2019 (64-bit)", powerstate="poweredOn",
                                               dns_name="erp-vm10.corp.example", ip_addresses=["10.0.0.10"]))
    # a hostile guest: its host name and a blocker detail are HTML and a spreadsheet formula
    hostile = units.model_copy(update={
        "name": "evil-vm11", "hostnames": [HOSTILE], "readiness": "blocked", "plan_path": None,
        "blockers": [f"gui: {HOSTILE}", '=HYPERLINK("http://evil.example/x","click"): formula']})
    # the classic VM had no OVF: RVTools gives its sizing
    classic.sizing = RVToolsSizing(vm="classic-web01", cpus=4, memory_mib=8192, provisioned_mib=40960,
                                   ip_addresses=["10.0.0.21", "10.0.0.22"])
    members = [shop, classic, units, blocked, other_blocked, failed, rv_only, hostile]
    edges = [CrossVMEdge(source="classic-web01", target="shop-vm01", matched_by="hostname", address="shop-vm01",
                         port=5432, via="DATABASE_URL", evidence="/etc/app.env", target_evidence="guest hostname"),
             # a VM only RVTools knows is a target through the address RVTools reported for it
             CrossVMEdge(source="shop-vm01", target="erp-vm10", matched_by="ip", address="10.0.0.10", port=8080,
                         via="proxy_pass upstream", evidence="/etc/nginx/sites-enabled/shop",
                         target_evidence="RVTools vInfo row 10: Primary IP Address"),
             # the hostile guest's file names and values are text in the edges table too
             CrossVMEdge(source="evil-vm11", target="classic-web01", matched_by="fqdn", address=HOSTILE,
                         via=HOSTILE, evidence=f"/etc/{HOSTILE}", target_evidence=f"/etc/hosts {HOSTILE}")]
    waves = [Wave(number=1, members=["classic-web01", "shop-vm01"], reason="ready; connected (DATABASE_URL)"),
             Wave(number=2, members=["units01"], reason="blocked: moves once its blockers are resolved")]
    report = FleetReport(fleet="Acme datastore 7", members=members, edges=edges, waves=waves)
    out = root / "report"
    paths = write_fleet_report(report, root, out, capacity=CapacityOptions(
        cores=16, memory_gib=64, headroom=0.2, reserve=1, cost_per_host=HostCost(amount=7000, currency="EUR")))
    return report, root, paths


def test_files_and_exports(fleet):
    report, root, paths = fleet
    assert {p.name for p in paths.values()} == {"report.html", "fleet-report.json", "members.csv", "waves.csv",
                                                "blockers.csv"}
    again = FleetReport.from_json(paths["json"].read_text())
    assert again.to_json() == report.to_json()
    rows = list(csv.DictReader(paths["members_csv"].open()))
    assert [r["name"] for r in rows] == sorted(m.name for m in report.members)
    assert list(rows[0]) == MEMBER_COLUMNS
    by = {r["name"]: r for r in rows}
    # real facts from the real inventories
    assert by["shop-vm01"]["distro"] == "debian" and by["shop-vm01"]["os_version"] == "12"
    assert {"nginx", "postgresql", "redis"} <= set(by["shop-vm01"]["kinds"].split(";"))
    assert (by["shop-vm01"]["vcpus"], by["shop-vm01"]["memory_mib"]) == ("2", "2048")  # the OVF's sizing
    assert by["shop-vm01"]["sizing_source"] == "inventory"
    assert (by["erp-vm10"]["vcpus"], by["erp-vm10"]["sizing_source"]) == ("8", "RVTools")
    assert by["classic-web01"]["wave"] == "1" and by["units01"]["wave"] == "2" and by["legacy-vm07"]["wave"] == ""
    assert (by["broken-vm09"]["error_class"], by["broken-vm09"]["exit_code"]) == ("CorruptImage", "12")
    assert by["broken-vm09"]["image"] == "broken-vm09.qcow2"
    assert by["broken-vm09"]["error"] == "broken-vm09.qcow2: L1 table beyond the end"  # no local folder
    assert "/datastore/" not in paths["members_csv"].read_text()
    # the real planner's verdicts: the flagship and classic are ready, the units guest runs programs no
    # package provides (blocked)
    assert (by["shop-vm01"]["readiness"], by["classic-web01"]["readiness"]) == ("ready", "ready")
    assert by["units01"]["readiness"] == "blocked" and "no-package" in by["units01"]["blocker_kinds"]
    blockers = list(csv.DictReader(paths["blockers_csv"].open()))
    assert len(blockers) == sum(len(m.blockers) for m in report.members) >= 6
    assert sum(b["kind"] == "kernel-module" for b in blockers) == 2
    # a cell a spreadsheet would run as a formula is written as text
    raw = paths["blockers_csv"].read_text()
    assert "'=HYPERLINK" in raw and not re.search(r'(^|,)"?=HYPERLINK', raw, re.M)
    # guest-configured and RVTools-reported addresses in separate columns
    assert by["erp-vm10"]["addresses"] == "" and by["erp-vm10"]["rvtools_addresses"] == "10.0.0.10"
    assert by["erp-vm10"]["rvtools_dns_name"] == "erp-vm10.corp.example"
    assert by["classic-web01"]["rvtools_addresses"] == "10.0.0.21;10.0.0.22"
    assert by["classic-web01"]["addresses"] == ";".join(report_member(report, "classic-web01").addresses)
    assert by["shop-vm01"]["rvtools_addresses"] == "" and by["shop-vm01"]["rvtools_dns_name"] == ""
    waves = list(csv.DictReader(paths["waves_csv"].open()))
    assert [(w["wave"], w["member"]) for w in waves] == [("1", "classic-web01"), ("1", "shop-vm01"),
                                                         ("2", "units01")]


def test_html_counts_links_and_no_local_paths(fleet):
    report, root, paths = fleet
    html = paths["html"].read_text()
    cards = dict(re.findall(r'data-card="([a-z-]+)"><div class="value">([^<]+)<', html))
    assert cards["vms"] == "8"
    assert (cards["ready"], cards["blocked"], cards["failed"], cards["not-inspected"]) == ("2", "4", "1", "1")
    assert cards["waves"] == "2"
    # blockers by how many VMs each holds back: kernel-module (2 VMs) first
    table = re.search(r'data-table="blockers">.*?</table>', html, re.S).group(0)
    first = re.search(r"<tbody><tr><td>([^<]+)</td><td class=\"num\">(\d+)</td>", table)
    assert first.groups() == ("kernel-module", "2")
    # links are relative and point at the real documents
    hrefs = re.findall(r'href="([^"]+)"', html)
    docs = [h for h in hrefs if h.startswith("../")]
    assert "../members/shop-vm01/inventory.json" in docs and "../members/shop-vm01/stack" in docs
    for h in docs:
        assert (paths["html"].parent / h).exists(), h
    assert "/datastore/" not in html and str(root) not in html  # no local paths
    # the failed image is a row of the failures section with its stage
    failures = re.search(r'data-table="failures">.*?</table>', html, re.S).group(0)
    assert re.search(r"<tr><td>inspect</td><td>CorruptImage</td><td class=\"num\">12</td>", failures), failures
    # capacity: 3 sized VMs (the flagship from its OVF, two from RVTools; units and its copies have none)
    cap = re.search(r'id="capacity".*?</section>', html, re.S).group(0)
    assert "2 RVTools" in cap and "1 inventory" in cap


def report_member(report: FleetReport, name: str) -> FleetMember:
    return next(m for m in report.members if m.name == name)


def _edge_rows(html: str) -> list[list[str]]:
    table = re.search(r'data-table="edges">.*?</table>', html, re.S).group(0)
    rows = re.findall(r"<tr data-edge-row>(.*?)</tr>", table, re.S)
    return [[re.sub(r"<br><span class=\"note\">", " | ", c).replace("</span>", "")
             for c in re.findall(r"<td>(.*?)</td>", r, re.S)] for r in rows]


def test_edges_say_how_they_were_matched_and_why(fleet):
    """A consultant reviewing a wave sees why VM A was tied to VM B: the address and what carried it in
    the source guest (its file), how the address was matched, and why it is the target's address."""
    _, _, paths = fleet
    rows = _edge_rows(paths["html"].read_text())
    by = {(r[0], r[1]): r for r in rows}
    assert len(rows) == 3
    assert by[("shop-vm01", "erp-vm10")] == ["shop-vm01", "erp-vm10", "10.0.0.10:8080",
                                             "proxy_pass upstream | /etc/nginx/sites-enabled/shop", "IP address",
                                             "RVTools vInfo row 10: Primary IP Address"]
    assert by[("classic-web01", "shop-vm01")][2:] == ["shop-vm01:5432", "DATABASE_URL | /etc/app.env", "host name",
                                                      "guest hostname"]
    evil = by[("evil-vm11", "classic-web01")]
    assert evil[4] == "FQDN" and evil[5].startswith("/etc/hosts &lt;img src=x")


def test_hostile_strings_are_escaped(fleet):
    _, _, paths = fleet
    html = paths["html"].read_text()
    assert "<script>document" not in html and "<img src=x" not in html
    assert "&lt;script&gt;document.body.dataset.pwned=1&lt;/script&gt;" in html


def test_viewed_in_headless_chromium(fleet, tmp_path):
    """The page as a browser shows it: every section heading, the right counts, the hostile host name
    inert (no element it tried to create, no attribute its script tried to set), a non-blank screenshot."""
    _, _, paths = fleet
    dom = chromium.dump_dom(paths["html"], timeout=120)
    for heading in ("Overview", "Migration waves", "Capacity", "VMs", "Exports"):
        assert f"<h2>{heading}</h2>" in dom, heading
    for heading in ("Readiness", "VMs by operating system and release", "VMs by server kind", "Top blockers",
                    "Members with errors", "Connections between VMs"):
        assert f"<h3>{heading}</h3>" in dom, heading
    assert dom.count("data-member-row") == 8
    assert "data-pwned" not in dom and "<img src=\"x\"" not in dom
    assert "<title>Fleet report: Acme datastore 7</title>" in dom
    png = chromium.screenshot(paths["html"], tmp_path / "shot.png", width=1280, height=1400, timeout=120)
    _assert_drawn(png)


def _assert_drawn(png: Path) -> None:
    from PIL import Image, ImageStat

    with Image.open(png) as im:
        assert im.size == (1280, 1400)
        gray = im.convert("L")
        stat = ImageStat.Stat(gray)
        dark = sum(gray.histogram()[:128]) / (im.size[0] * im.size[1])
    assert stat.stddev[0] > 20, stat.stddev  # not a blank page: text, cards and the bar chart
    assert 0.005 < dark < 0.5, dark


def test_empty_fleet_has_no_capacity_and_no_waves(tmp_path):
    """A fleet nobody inspected yet still gives a report (sections say what is missing)."""
    report = FleetReport(fleet="new", members=[FleetMember(name="a"), FleetMember(name="b", state="no-image")])
    paths = write_fleet_report(report, tmp_path, tmp_path / "out")
    html = paths["html"].read_text()
    assert "No VM has sizing yet" in html and "No waves were planned" in html
    assert 'data-table="blockers"' not in html and 'data-table="failures"' not in html
    assert json.loads(paths["json"].read_text())["fleet"] == "new"


def test_error_messages_lose_the_local_folder():
    m = FleetMember(name="b", image="/srv/datastore/images/b.qcow2", state="failed", readiness="failed",
                    error=MemberError(error_class="ChainMemberOutside", exit_code=30,
                                      message="/srv/datastore/images/b.qcow2: backing file '/etc/passwd' is outside "
                                              "the image's folder /srv/datastore/images"))
    assert plain_message(m) == "b.qcow2: backing file '/etc/passwd' is outside the image's folder images"


def test_links_never_leave_the_fleet(tmp_path):
    """A document path from the store is data: one that climbs out of the fleet gets no link."""
    (tmp_path / "fleet").mkdir()
    (tmp_path / "secret.json").write_text("{}")
    m = FleetMember(name="x", state="planned", readiness="ready", inventory_path="../secret.json",
                    plan_path="/etc/passwd")
    paths = write_fleet_report(FleetReport(fleet="f", members=[m]), tmp_path / "fleet", tmp_path / "fleet" / "r")
    html = paths["html"].read_text()
    assert "secret.json" not in html.split('id="vms"')[1].split("</table>")[0]
    assert "passwd" not in html


def test_failures_section_holds_every_member_error_with_its_stage(tmp_path):
    """The failures section is every member whose row holds an error, whatever its state: a build error
    recorded by `fleet convert --build` on a converted member (the real store, record_builds), a plan
    error on a member still inspected, an inspect failure. Each row names its stage; the title says
    what the section holds, not "Failed inspections"."""
    from migrate.fleet.convert import FleetBuildResult, record_builds
    from migrate.fleet.store import FleetStore

    boom = MemberError(error_class="BuildFailed", exit_code=23, message="redis: failed at step 3/18", stage="build")
    with FleetStore.create(tmp_path / "fleet") as store:
        store.upsert_members([
            FleetMember(name="app01", state="converted", readiness="ready"),
            FleetMember(name="app02", state="converted", readiness="ready"),
            FleetMember(name="db01", state="inspected", readiness="not-inspected",
                        error=MemberError(error_class="EncryptedVolume", exit_code=31, message="needs a key",
                                          stage="plan")),
            FleetMember(name="broken", state="failed", readiness="failed",
                        error=MemberError(error_class="CorruptImage", exit_code=12, message="L1 table")),
        ])
        record_builds(store, ["app01", "app02"], FleetBuildResult(
            ["debian:bookworm-slim"], 2, 2, 0, [], {n: boom.message for n in ("app01", "app02")}, 0.1,
            {"app01": boom, "app02": boom}))
        members = store.members()
    assert [m.state for m in members if m.name.startswith("app")] == ["converted", "converted"]
    paths = write_fleet_report(FleetReport(fleet="f", members=members), tmp_path / "fleet", tmp_path / "out")
    html = paths["html"].read_text()
    section = re.search(r'<section data-section="failures">.*?</section>', html, re.S).group(0)
    assert "<h3>Members with errors</h3>" in section and "Failed inspections" not in html
    assert re.search(r"<thead><tr><th>stage</th><th>error</th>", section)
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tbody>(.*?)</tbody>", section)[0]
            .split("</tr>") if r]
    # stages in pipeline order: inspect, plan, build
    assert [r[:4] for r in rows] == [["inspect", "CorruptImage", "12", "1"], ["plan", "EncryptedVolume", "31", "1"],
                                     ["build", "BuildFailed", "23", "2"]]
    assert rows[2][5] == "app01, app02"
