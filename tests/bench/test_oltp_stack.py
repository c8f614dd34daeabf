"""`migrate bench --workload oltp --stack DIR` for real, small: the flagship VM image converted, its
PostgreSQL image built and its data imported (module-scoped fixture: convert ≈ 1 s, build of the
postgres service from cache ≈ 1 s or a few minutes cold, export + import ≈ 5 s), then sysbench
oltp_read_write for 5 s per arm, 1 thread, 1 round, against the bare "VM way" postgres, the published
port and the stack network. Asserts numbers in every arm, the migrated rows untouched, and nothing
left over (bench database, containers, bare postmaster, temp dirs)."""

from __future__ import annotations

import glob
import subprocess
import time
import uuid

import pytest

from migrate.bench.oltp import DB, OltpOptions, run_oltp
from migrate.model.bench import BenchResults

pytestmark = [pytest.mark.docker, pytest.mark.image]


@pytest.fixture(scope="module")
def imported_stack(flagship_images, tmp_path_factory, docker_engine, base_image):
    from migrate.build import build_stack
    from migrate.data import export_data, import_data
    from migrate.deploy import down
    from migrate.generate import convert
    from migrate.model.inventory import Inventory

    out = tmp_path_factory.mktemp("oltp") / "shop-vm01"
    convert([flagship_images["qcow2"]], out)
    build_stack(out, base_image=base_image, services=["postgres"], engine=docker_engine)
    export = out.parent / "data"
    export_data([flagship_images["qcow2"]], export, inventory=Inventory.load(out / "inventory.json"))
    project = f"oltptest-{uuid.uuid4().hex[:6]}"  # not the stack's name: other tests deploy shop-vm01
    report = import_data(export, project, stack_dir=out, base_image=base_image, engine=docker_engine)
    assert report.ok
    yield out, export, project, flagship_images.facts
    down(out, project=project, volumes=True, engine=docker_engine)


def _rows(engine, project: str) -> str:
    cid = engine.containers([f"com.docker.compose.project={project}", "com.docker.compose.service=postgres"],
                            all=False)[0]["Id"]
    r = engine.exec(cid, ["psql", "-X", "-tAc", "SELECT count(*) FROM items; SELECT datname FROM pg_database",
                          "-d", "shop"], user="postgres")
    return r.text


def test_oltp_bench_on_migrated_flagship(imported_stack, docker_engine) -> None:
    out, export, project, facts = imported_stack
    events: list[str] = []
    sec = run_oltp(out, OltpOptions(threads=1, duration_s=5, warmup_s=1, rounds=1, tables=2, table_size=1000,
                                    ready_timeout_s=240),
                   project=project, data_export=export, engine=docker_engine,
                   on_event=lambda k, m: events.append(m))
    assert sec.arms == ["vm-way", "published-port", "stack-network"]
    assert [r.arm for r in sec.runs] == sec.arms and all(r.ok for r in sec.runs), [r.error for r in sec.runs]
    for s in sec.summary:
        assert s.tps and s.tps.value > 0 and s.qps and s.qps.value > s.tps.value, s
        assert s.p95_latency_ms and s.seconds_used >= 3
    assert {r.name for r in sec.ratios} == {"published-port / vm-way", "stack-network / vm-way",
                                           "published-port / stack-network"}
    assert sec.server_versions["vm-way"].split()[2].split(".")[0] == "15"
    assert sec.server_versions["container"].split()[2] == sec.server_versions["vm-way"].split()[2]
    assert "emulator" in sec.vm_way_basis and sec.data_source
    password = facts["passwords"]["postgresql"]
    assert all(password not in r.raw_output for r in sec.runs)
    # the bench started PostgreSQL itself and removed it again; the volume (the data) is kept
    assert docker_engine.containers([f"com.docker.compose.project={project}"]) == []
    assert docker_engine.volume(f"{project}_postgres-data") is not None
    # no sysbench client container left (mb-* are consolidation-bench containers of other runs)
    assert [c for c in docker_engine.containers(["migrate.bench.run"]) if not c["Names"][0].startswith("/mb-")] == []
    assert not glob.glob("/var/tmp/migrate-bench-oltp-*")
    assert subprocess.run(["pgrep", "-f", "postgres -D /var/tmp/migrate-bench-oltp-"]).returncode == 1
    # the migrated data is untouched and the benchmark database is gone
    compose = ["-p", project, "-f", str(out / "compose.yaml")]
    res = docker_engine.compose(*compose, "up", "-d", "--no-build", "--pull", "never", "--no-deps", "postgres", cwd=out)
    assert res.returncode == 0, res.output
    try:
        text = ""
        for _ in range(120):
            text = _rows(docker_engine, project)
            if text.split() and text.split()[0].isdigit():
                break
            time.sleep(1)
        lines = text.split()
        assert lines[0] == str(facts["database"]["rows"]) and DB not in lines and "shop" in lines, text
    finally:
        docker_engine.compose(*compose, "down", "-t", "10", cwd=out)
    doc = BenchResults.model_validate({"context": {"date": "d", "hostname": "h", "cpu_model": "c", "cores": 2,
                                                   "mem_total_kib": 1, "kernel": "k", "accel": "n/a",
                                                   "accel_probe": "n/a", "cgroup": "v2", "sysbench": "s"},
                                       "settings": {"profile": "p", "n": 1, "duration_s": 5, "warmup_s": 1,
                                                    "workloads": ["oltp"], "arms": [], "rounds": 1,
                                                    "memory_mib": 0}, "oltp": sec.model_dump()})
    assert BenchResults.from_json(doc.to_json()).oltp.runs[0].result.transactions_per_s > 0
