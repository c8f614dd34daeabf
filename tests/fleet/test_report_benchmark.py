"""The fleet report of the benchmark fleet (migrate.samples.fleet: 101 images + 6 VMs known only to
RVTools), made the way a user makes it: `fleet add` (manifest + RVTools .xlsx), `fleet inspect`,
`fleet plan`, `fleet report --pdf`. The fleet's expectations (derived from how it was built, not from
running the tool) must be what the report says: readiness counts, each VM's blocker kinds, the waves,
the cross-VM edges; and the PDF shows the overview's numbers."""

from __future__ import annotations

import csv
import json
import re

import pytest

from migrate.report import chromium

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def reported(bench_fleet_run):
    return bench_fleet_run.bench.expectations, bench_fleet_run.report


def test_counts_blockers_waves_and_edges_are_the_expected_ones(reported):
    exp, out = reported
    html = (out / "report.html").read_text()
    cards = dict(re.findall(r'data-card="([a-z-]+)"><div class="value">([^<]+)<', html))
    assert cards["vms"] == str(exp["counts"]["vms"])
    for readiness, n in exp["counts"]["readiness"].items():
        assert cards[readiness] == str(n), readiness
    assert cards["waves"] == str(len(exp["waves"]))
    rows = {r["name"]: r for r in csv.DictReader((out / "members.csv").open())}
    assert set(rows) == set(exp["vms"])
    for name, vm in exp["vms"].items():
        row = rows[name]
        assert row["readiness"] == vm["readiness"], name
        assert sorted(filter(None, row["blocker_kinds"].split(";"))) == sorted(vm["blocker_kinds"]), name
        if vm["error"]:
            assert (row["error_class"], int(row["exit_code"])) == (vm["error"]["error_class"],
                                                                   vm["error"]["exit_code"]), name
    waves: dict[int, list[str]] = {}
    for r in csv.DictReader((out / "waves.csv").open()):
        waves.setdefault(int(r["wave"]), []).append(r["member"])
    assert {n: sorted(ms) for n, ms in waves.items()} == {w["number"]: sorted(w["members"]) for w in exp["waves"]}
    doc = json.loads((out / "fleet-report.json").read_text())
    got = sorted((e["source"], e["target"], e["matched_by"]) for e in doc["edges"])
    assert got == sorted((e["source"], e["target"], e["matched_by"]) for e in exp["edges"])
    # top blockers: each kind with the number of VMs it holds back, as the expectations count them
    held: dict[str, int] = {}
    for vm in exp["vms"].values():
        for kind in vm["blocker_kinds"]:
            held[kind] = held.get(kind, 0) + 1
    table = re.search(r'data-table="blockers">.*?</table>', html, re.S).group(0)
    shown = dict(re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td>", table))
    assert {k: int(v) for k, v in shown.items()} == held
    # every VM has sizing (its OVF or its RVTools row): nobody left out of the capacity counts
    assert "without sizing" not in html


def test_pdf_and_screenshot(reported, tmp_path):
    exp, out = reported
    text = chromium.pdf_text(out / "report.pdf")
    assert "Fleet report: estate" in text
    overview = re.sub(r"\s+", " ", text[: text.index("Readiness")])
    for n in (exp["counts"]["vms"], *exp["counts"]["readiness"].values()):
        assert f" {n} " in f" {overview} ", n
    png = chromium.screenshot(out / "report.html", tmp_path / "shot.png", width=1280, height=1600)
    from PIL import Image, ImageStat

    with Image.open(png) as im:
        assert ImageStat.Stat(im.convert("L")).stddev[0] > 20
