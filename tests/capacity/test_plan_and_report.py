import csv
import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from migrate.capacity.fleet import load_csv
from migrate.capacity.plan import DEFAULTS, plan, size
from migrate.capacity.report import BENCH_PLOTS, PLOTS, TABLES, render_html, write_outputs
from migrate.cli import capacity as capacity_cli
from migrate.errors import InvalidDocument, UsageError
from migrate.model.capacity import CapacityReport, FleetVM

FLEET = Path(__file__).parents[1] / "data" / "fleet" / "sample-fleet.csv"


def test_sample_fleet_is_plausible():
    vms = load_csv(FLEET)
    assert len(vms) >= 50
    assert all(v.cpu_p90 is not None and v.mem_p95 is not None for v in vms)
    assert len({v.name for v in vms}) == len(vms)


def test_sizing_rules_by_hand():
    vm = FleetVM(name="x", vcpus=4, memory_mib=8192, cpu_p90=20, cpu_p95=30, mem_p90=50, mem_p95=60)
    assert size(vm, "like-for-like")[:2] == (4.0, 8192.0)
    cpu, mem, _ = size(vm, "moderate")  # (20 % + 15 %) × 4 cores; (50 % + 15 %) × 8 GiB
    assert cpu == pytest.approx(1.4) and mem == pytest.approx(8192 * 0.65)
    cpu, mem, _ = size(vm, "aggressive")  # 30 % × 4; (60 % + 5 %) × 8 GiB
    assert cpu == pytest.approx(1.2) and mem == pytest.approx(8192 * 0.65)
    bare = FleetVM(name="y", vcpus=2, memory_mib=1024)
    assert size(bare, "moderate")[:2] == (2.0, 1024.0)


def test_plan_small_fleet_by_hand():
    # 4 VMs of 4 vCPU / 8 GiB on hosts of 8 cores / 32 GiB, no headroom, N+1:
    # today 2 per host (CPU) → 2 hosts + 1; containers (aggressive, p95 25 %) 1 core each → 1 host + 1
    fleet = [FleetVM(name=f"v{i}", vcpus=4, memory_mib=8192, cpu_p95=25, mem_p95=40) for i in range(4)]
    rep = plan(fleet, rule="aggressive", cores=8, memory_gib=32, headroom=0.0, reserve=1)
    assert rep.scenario("vms-today").hosts_total == 3
    bm = rep.scenario("containers-bare-metal")
    assert bm.hosts_needed == 1 and bm.hosts_total == 2
    item = bm.items[0]
    assert item.cpu == pytest.approx(1.0)
    assert item.memory_mib == pytest.approx(8192 * 0.45 - DEFAULTS.vm_fixed_mib + DEFAULTS.container_fixed_mib, abs=0.1)


def test_bad_inputs(tmp_path):
    with pytest.raises(UsageError):
        plan([FleetVM(name="a", vcpus=1, memory_mib=1)], rule="wild")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,vcpus,memory_mib,cpu_p90\na,2,1024,180\n")
    with pytest.raises(InvalidDocument):
        load_csv(bad)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    rep = plan(load_csv(FLEET), rule="moderate", fleet_source=FLEET.name)
    out = tmp_path_factory.mktemp("cap")
    return rep, write_outputs(rep, out)


def test_report_has_every_table_and_plot(report):
    rep, paths = report
    text = paths["html"].read_text()
    for t in TABLES:
        assert f'data-table="{t}"' in text
    for p in PLOTS:
        m = re.search(rf'<figure data-plot="{p}".*?</figure>', text, re.S)
        # without bench results the benchmark sections are left out, not shown empty
        assert bool(m) == (p not in BENCH_PLOTS), p
        if m:
            assert "Basis:" in m.group(0)
    assert text.count("<svg") == len(PLOTS) - len(BENCH_PLOTS)
    assert "Literature" in text and "defaults" in text
    assert not re.search(r'(src|href)="(https?:)?//', text)  # self-contained: nothing to fetch


def test_json_and_csv_outputs(report):
    rep, paths = report
    again = CapacityReport.load(paths["json"])
    assert again.to_json() == rep.to_json()
    rows = list(csv.reader(paths["summary_csv"].open()))
    assert [r[0] for r in rows[1:]] == ["VMs today", "Containers in VMs", "Containers on bare metal"]
    wl = list(csv.DictReader(paths["workloads_csv"].open()))
    assert len(wl) == 3 * len(rep.fleet)


def test_report_with_bench_results_has_all_svgs(tmp_path):
    bench_json = Path(__file__).parent / "data" / "bench-results-tiny.json"
    from migrate.model.bench import BenchResults

    b = BenchResults.load(bench_json)
    rep = plan(load_csv(FLEET), bench=b, bench_source=bench_json.name)
    text = render_html(rep, b)
    assert text.count("<svg") == len(PLOTS)
    assert rep.overheads.sources["container_fixed_mib"].startswith("measured")
    if b.context.accel == "tcg":
        assert rep.overheads.sources["vm_cpu_efficiency"].startswith("default")


def test_cli(tmp_path):
    app = typer.Typer()
    app.callback()(lambda: None)  # keep `capacity` a subcommand, as in the main app
    capacity_cli.register(app)
    r = CliRunner().invoke(app, ["capacity", "--csv", str(FLEET), "-o", str(tmp_path), "--rule", "aggressive",
                                 "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["rule"] == "aggressive"
    assert (tmp_path / "capacity.html").exists()
