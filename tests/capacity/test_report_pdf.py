"""The capacity report as a deliverable (issue 10 §3): executive summary first with the numbers a
client reads (hosts today → after, the ratio defined in words, savings at a cost per host), no local
paths or internal ids, sections without data left out, and a PDF that really shows it (Chromium's
print-to-PDF, read back with pdftotext and rendered to pixels with pdftoppm)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from PIL import Image, ImageStat
from typer.testing import CliRunner

from migrate.capacity.fleet import from_inventories, load_csv
from migrate.capacity.plan import plan
from migrate.capacity.report import BENCH_PLOTS, executive, render_html, write_outputs
from migrate.cli import capacity as capacity_cli
from migrate.model.bench import BenchResults
from migrate.model.capacity import HostCost
from migrate.report import chromium

HERE = Path(__file__).parent
FLEET = HERE.parent / "data" / "fleet" / "sample-fleet.csv"
FLAGSHIP_INVENTORY = HERE.parent / "data" / "inventories" / "flagship-debian12.json"
INTERNAL_IDS = ("vms-today", "containers-in-vms", "containers-bare-metal")


def _summary_numbers(rep) -> tuple[int, int, int]:
    today = rep.scenario("vms-today").hosts_total
    after = rep.scenario("containers-bare-metal").hosts_total
    return today, after, today - after


@pytest.fixture(scope="module")
def pdf_report(tmp_path_factory):
    rep = plan(load_csv(FLEET), rule="moderate", fleet_source=str(FLEET.resolve()))
    rep.cost_per_host = HostCost(amount=9000, currency="EUR", period="year")
    out = tmp_path_factory.mktemp("cap-pdf")
    return rep, write_outputs(rep, out, pdf=True)


def test_executive_summary_comes_first_with_its_numbers(pdf_report):
    rep, paths = pdf_report
    today, after, saved = _summary_numbers(rep)
    assert saved > 0  # the sample fleet consolidates: the summary has something to say
    html = paths["html"].read_text()
    assert html.index('id="executive-summary"') < html.index("<figure")
    cards = dict(re.findall(r'data-card="([a-z-]+)"><div class="value">([^<]+)<', html))
    assert cards["hosts-today"] == str(today) and cards["hosts-after"] == str(after)
    assert cards["ratio"] == f"{today / after:.1f} : 1"
    assert cards["savings"] == f"EUR {saved * 9000:,.0f}".replace(",", "\u2009")
    assert "the number of hosts today divided by the number of hosts after" in html


def test_no_local_paths_or_internal_ids(pdf_report):
    rep, paths = pdf_report
    html = paths["html"].read_text()
    assert str(FLEET.parent) not in html and "sample-fleet.csv" in html
    for ident in INTERNAL_IDS:
        assert ident not in html, ident
    assert "Containers on bare metal" in html and "VMs today" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # self-contained: nothing to fetch


def test_pdf_shows_the_summary(pdf_report, tmp_path):
    rep, paths = pdf_report
    today, after, saved = _summary_numbers(rep)
    pdf = paths["pdf"]
    assert chromium.pdf_pages(pdf) >= 2
    text = re.sub(r"[ \u2009]+", " ", chromium.pdf_text(pdf))
    head = text[: text.index("Hosts needed against headroom")]
    assert "Executive summary" in head
    assert f"{today} hosts" in head and f"need {after} hosts" in head
    assert f"EUR {saved * 9000:,.0f}".replace(",", " ") in head
    assert "Consolidation ratio" in head
    assert str(FLEET.parent) not in text and "file://" not in text
    first = chromium.pdf_to_pngs(pdf, tmp_path / "pages", dpi=50)[0]
    with Image.open(first) as im:
        gray = im.convert("L")
        stat = ImageStat.Stat(gray)
        colors = im.convert("RGB").getcolors(maxcolors=1 << 18)
    assert stat.stddev[0] > 15  # text and cards, not a blank page
    # the summary cards' tinted background is in the PDF (backgrounds printed, not dropped)
    assert sum(n for n, (r, g, b) in colors if (r, g, b) == (0xF3, 0xF6, 0xF9)) > 2000


def test_sections_without_data_are_left_out(tmp_path):
    """Sizing from an inventory has no utilisation and there is no bench: no benchmark plots, no
    "allocated vs used" plot, no percentile columns; with bench results the benchmark plots appear."""
    fleet = from_inventories([FLAGSHIP_INVENTORY])
    html = render_html(plan(fleet, fleet_source=FLAGSHIP_INVENTORY.name))
    plots = set(re.findall(r'data-plot="([a-z-]+)"', html))
    assert plots == {"hosts", "packing"}
    assert "p90 %" not in html and "Benchmark" not in html
    assert "No bench results were given" in html
    bench = BenchResults.load(HERE / "data" / "bench-results-tiny.json")
    with_bench = render_html(plan(load_csv(FLEET), bench=bench, bench_source="bench.json"), bench)
    assert set(BENCH_PLOTS) <= set(re.findall(r'data-plot="([a-z-]+)"', with_bench))


def test_savings_without_a_cost_are_counted_in_hosts():
    rep = plan(load_csv(FLEET))
    ex = executive(rep)
    assert ex.savings_label == "hosts saved" and ex.savings_value == str(_summary_numbers(rep)[2])
    assert "--cost-per-host" in ex.savings_text


def test_cli_cost_from_project_config_and_pdf(tmp_path, monkeypatch):
    """migrate.yaml's cost_per_host is used when the option is absent; --currency overrides its field."""
    work = tmp_path / "engagement"
    work.mkdir()
    (work / ".git").mkdir()  # the config search stops at the project root
    (work / "migrate.yaml").write_text("cost_per_host:\n  amount: 1200\n  currency: CHF\n  period: month\n")
    monkeypatch.chdir(work)
    app = typer.Typer()
    app.callback()(lambda: None)
    capacity_cli.register(app)
    runner = CliRunner()
    r = runner.invoke(app, ["capacity", "--csv", str(FLEET), "-o", str(tmp_path / "a"), "--json"])
    assert r.exit_code == 0, r.output
    assert '"currency": "CHF"' in r.output and '"amount": 1200.0' in r.output
    r = runner.invoke(app, ["capacity", "--csv", str(FLEET), "-o", str(tmp_path / "b"), "--currency", "USD", "--pdf"])
    assert r.exit_code == 0, r.output
    text = chromium.pdf_text(tmp_path / "b" / "capacity.pdf")
    assert "USD" in text and "per month" in text and "CHF" not in text
