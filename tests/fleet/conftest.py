"""The benchmark fleet run once for every test that needs it, the way a user runs it from the README:
`fleet add` (manifest + RVTools .xlsx) → `fleet inspect` → `fleet plan` → `fleet report --pdf`.

Inspecting and planning its 101 images costs minutes; two modules (the fleet's expectations, the report's
counts) read the same run instead of making one each."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_migrate(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=timeout,
                       cwd=ROOT)
    assert r.returncode == 0, (args, r.stdout[-2000:], r.stderr[-3000:])
    return r


@dataclass
class BenchFleetRun:
    bench: object  # migrate.samples.fleet.FleetManifest
    fleet: Path  # the fleet directory (fleet.db, members/)
    report: Path  # fleet report output (report.html, report.pdf, CSV/JSON exports)


@pytest.fixture(scope="session")
def bench_fleet_run(tmp_path_factory) -> BenchFleetRun:
    from migrate.samples.fleet import build_fleet

    bench = build_fleet(progress=lambda msg: print(f"[fleet] {msg}", flush=True))
    fleet = tmp_path_factory.mktemp("bench") / "estate"
    run_migrate("fleet", "add", str(fleet), "--manifest", str(bench.manifest), "--rvtools", str(bench.rvtools_xlsx))
    run_migrate("fleet", "inspect", str(fleet), "--workers", "2")
    run_migrate("fleet", "plan", str(fleet))
    run_migrate("fleet", "report", str(fleet), "--pdf", "--cost-per-host", "6000")
    return BenchFleetRun(bench=bench, fleet=fleet, report=fleet / "report")
