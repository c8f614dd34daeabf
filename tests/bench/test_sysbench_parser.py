"""The parser on real Debian sysbench 1.0.20 output and on 1.1/master-format samples (see data/README.md)."""

from pathlib import Path

import pytest

from migrate.bench.sysbench import command, parse

DATA = Path(__file__).parent / "data"


def load(name: str):
    return parse((DATA / name).read_text())


def test_cpu_1020():
    r = load("sysbench-1.0.20-cpu.txt")
    assert (r.version, r.report_format, r.test, r.threads) == ("1.0.20", "1.0", "cpu", 1)
    assert [i.t for i in r.intervals] == [1.0, 2.0, 3.0]
    assert r.intervals[0].eps == 3508.83 and r.intervals[0].lat_ms == 0.31 and r.intervals[0].lat_pct == 95
    assert r.events_per_second == 3283.64
    assert r.total_time_s == 3.0009 and r.total_events == 9855
    assert r.latency_ms == {"min": 0.27, "avg": 0.30, "max": 8.32, "p95": 0.35, "sum": 2995.64}
    assert (r.fairness_events_avg, r.fairness_time_avg) == (9855.0, 2.9956)
    assert r.options["prime_limit"] == "10000"


def test_memory_1020_interval_in_mib():
    r = load("sysbench-1.0.20-memory.txt")
    assert r.test == "memory" and r.events_per_second == 764072.19 and r.mib_per_s == 2984.66
    # 1.0.20 prints MiB/sec per interval; events/s derived from the 4 KiB block size
    assert r.intervals[0].mib_per_s == 3078.12
    assert r.intervals[0].eps == pytest.approx(3078.12 * 1024 / 4)
    assert r.options["block_size"] == "4KiB"


def test_threads_1020():
    r = load("sysbench-1.0.20-threads.txt")
    assert r.test == "threads" and r.threads == 2 and len(r.intervals) == 3
    assert r.intervals[0].threads == 2
    assert r.events_per_second == pytest.approx(r.total_events / r.total_time_s)
    assert r.fairness_events_stddev is not None


def test_cpu_upstream_format():
    r = load("sysbench-1.1-cpu.txt")
    assert r.report_format == "1.1" and r.version.startswith("1.1.0")
    assert r.events_per_second == 3362.0133 and r.total_time_s == 3.0005 and r.total_events == 10088
    assert len(r.intervals) == 3 and r.latency_ms["p95"] == 0.35


def test_memory_upstream_format():
    r = load("sysbench-1.1-memory.txt")
    assert r.report_format == "1.1" and r.test == "memory"
    assert r.events_per_second == 1523874.4117 and r.total_events == 262144 and r.mib_per_s == 5952.63
    assert r.intervals == []


def test_truncated_output_keeps_intervals():
    text = (DATA / "sysbench-1.0.20-cpu.txt").read_text().split("CPU speed:")[0]
    r = parse(text)
    assert len(r.intervals) == 3 and r.total_events is None and r.events_per_second is None


def test_command():
    assert command("cpu", 20) == ["cpu", "--threads=1", "--time=20", "--report-interval=1", "run"]
    assert "--memory-total-size=0" in command("memory", 5)
    with pytest.raises(ValueError):
        command("oltp-nope", 5)
