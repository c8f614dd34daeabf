"""End to end on this machine, tiny: every arm with 1 instance for 3 s (the quick profile is a benchmark,
not a test). VM arms run under TCG here."""

import gzip
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import typer
from typer.testing import CliRunner

from migrate.bench.artifact import ensure_artifact
from migrate.bench.runner import run_bench
from migrate.cli import bench as bench_cli
from migrate.model.bench import BenchResults, BenchSettings

pytestmark = [pytest.mark.docker, pytest.mark.slow_vm]


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory) -> BenchResults:
    s = BenchSettings(profile="tiny", n=1, duration_s=5, warmup_s=0, workloads=["cpu"], arms=["R", "B", "A", "C"],
                      rounds=1, memory_mib=128)
    res = run_bench(s, accel="auto", idle_policy="flag")
    path = tmp_path_factory.mktemp("bench") / "results.json"
    path.write_text(res.to_json())
    res.__dict__["_path"] = path
    return res


def test_artifact_has_closure_and_console():
    art = ensure_artifact()
    assert (art.rootfs / "usr/bin/sysbench").is_file() and (art.rootfs / "usr/sbin/runc").is_file()
    assert (art.rootfs / "usr/lib/x86_64-linux-gnu/libluajit-5.1.so.2").is_file()
    blob = gzip.decompress(art.initramfs.read_bytes())
    assert b"dev/console\0" in blob and b"init\0" in blob and b"ctr/config.tmpl\0" in blob


def test_all_arms_ok_and_labelled(tiny_results: BenchResults):
    res = tiny_results
    assert [(r.arm, r.ok, r.error) for r in res.runs] == [(a, True, None) for a in "RBAC"]
    assert res.context.accel in ("kvm", "tcg")
    if res.context.accel == "tcg":
        for r in res.runs:
            if r.arm in "AC":
                assert "accel=tcg (emulated)" in r.label
        assert any("emulated" in w for w in res.warnings)
    b = res.arm_summary("B")
    assert b.efficiency is not None and 0.2 < b.efficiency.value < 2.0
    assert res.arm_summary("R").efficiency.value == pytest.approx(1.0)
    assert any(g.name == "B vs A" for g in res.gains)
    for r in res.runs:
        assert r.samples and {s.phase for s in r.samples} >= {"load"}
        assert r.footprint is not None and r.instances[0].result.events_per_second > 0
    assert res.arm_summary("A").fixed_mem_per_instance_mib > res.arm_summary("B").fixed_mem_per_instance_mib


def test_results_roundtrip(tiny_results: BenchResults):
    again = BenchResults.load(tiny_results.__dict__["_path"])
    assert again.to_json() == tiny_results.to_json()
    assert json.loads(again.to_json())["kind"] == "bench-results"


def test_cli_summary_and_bare_run(tiny_results: BenchResults, tmp_path):
    app = typer.Typer()
    bench_cli.register(app)
    runner = CliRunner()
    r = runner.invoke(app, ["bench-summary", str(tiny_results.__dict__["_path"])])
    assert r.exit_code == 0, r.output
    assert "efficiency vs R" in r.output and "utilization gain" in r.output
    out = tmp_path / "r.json"
    r = runner.invoke(app, ["bench", "--profile", "tiny", "--arms", "R", "--idle-check", "skip", "-o", str(out),
                            "--json"])
    assert r.exit_code == 0, r.output
    assert BenchResults.load(out).runs[0].ok


def _leftovers(run_marker: str) -> tuple[list[str], list[str]]:
    import docker

    cs = [c.name for c in docker.from_env().containers.list(all=True, filters={"label": "migrate.bench.run"})]
    qemu = subprocess.run(["pgrep", "-f", run_marker], capture_output=True, text=True).stdout.split()
    return cs, qemu


def test_ctrl_c_cleans_up(tmp_path):
    """SIGINT in the middle of the VM arm: every container and VM of the run is gone afterwards."""
    code = ("from migrate.bench.runner import run_bench\nfrom migrate.model.bench import BenchSettings\n"
            "run_bench(BenchSettings(profile='t', n=2, duration_s=60, warmup_s=0, workloads=['cpu'], "
            "arms=['B', 'A'], rounds=1, memory_mib=128), accel='tcg', idle_policy='skip')\n")
    p = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, cwd=os.getcwd())
    try:
        deadline = time.monotonic() + 120
        seen_b = seen_vm = False
        while time.monotonic() < deadline and not seen_vm:
            seen_b = seen_b or bool(_leftovers("mbmode=vm")[0])
            seen_vm = bool(_leftovers("mbmode=vm mbn=1 mbargs=cpu,--threads=1,--time=60")[1])
            time.sleep(0.3)
        assert seen_b and seen_vm
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    cs, qemu = _leftovers("mbmode=vm mbn=1 mbargs=cpu,--threads=1,--time=60")
    assert cs == [] and qemu == []
