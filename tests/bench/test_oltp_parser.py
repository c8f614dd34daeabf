"""OLTP (oltp_read_write, pgsql driver) output of Debian's sysbench 1.0.20 captured on this machine,
and the OLTP bench's analysis on parsed runs (no database, no Docker)."""

from pathlib import Path

from migrate.bench.oltp import (
    RATIOS,
    OltpOptions,
    format_oltp,
    public_command,
    round_orders,
    run_args,
    summarise_oltp,
    sysbench_args,
)
from migrate.bench.sysbench import parse
from migrate.model.bench import BenchContext, BenchResults, BenchSettings, OltpBench, OltpRun

DATA = Path(__file__).parent / "data"
HOST = DATA / "sysbench-1.0.20-oltp_read_write-pgsql.txt"
CTR = DATA / "sysbench-1.0.20-oltp_read_write-pgsql-container.txt"


def test_oltp_read_write_1020_final_report():
    r = parse(HOST.read_text())
    assert (r.version, r.report_format, r.test, r.threads) == ("1.0.20", "1.0", "oltp", 2)
    assert r.transactions_per_s == 498.32 and r.queries_per_s == 9987.66
    assert r.queries == {"read": 35000, "write": 9970, "other": 5016, "total": 49986}
    assert (r.ignored_errors, r.ignored_errors_per_s, r.reconnects) == (6, 1.20, 0)
    assert r.total_events == 2494 and r.total_time_s == 5.0042
    assert r.latency_ms == {"min": 1.31, "avg": 4.01, "max": 1009.38, "p95": 5.88, "sum": 9996.31}
    assert (r.fairness_events_avg, r.fairness_events_stddev) == (1247.0, 95.0)


def test_oltp_read_write_1020_intervals():
    r = parse(HOST.read_text())
    assert [i.t for i in r.intervals] == [1.0, 2.0, 3.0, 4.0, 5.0]
    first, second = r.intervals[0], r.intervals[1]
    assert (first.threads, first.eps, first.qps, first.lat_ms, first.lat_pct) == (2, 8.99, 211.73, 10.46, 95)
    assert first.qps_rwo == [153.80, 36.95, 20.97]
    assert (second.err_per_s, second.reconn_per_s) == (1.0, 0.0)
    assert [i.err_per_s for i in r.intervals] == [0.0, 1.0, 3.0, 2.0, 0.0]


def test_oltp_container_capture():
    r = parse(CTR.read_text())
    assert r.test == "oltp" and r.threads == 1 and len(r.intervals) == 5
    assert all(i.eps and i.qps and i.lat_ms for i in r.intervals)
    assert r.transactions_per_s and r.queries_per_s and "p95" in r.latency_ms
    assert "migrate_bench" not in CTR.read_text().split("SQL statistics")[1]


def test_same_options_in_every_arm_and_interleaving():
    o = OltpOptions(threads=3, duration_s=7, tables=2, table_size=100)
    a = sysbench_args(o, "127.0.0.1", 1, "pw") + run_args(o)
    b = sysbench_args(o, "10.0.0.2", 5432, "pw") + run_args(o)
    def same(argv):
        return [x for x in argv if "host" not in x and "port" not in x]

    assert same(a) == same(b)
    assert "--threads=3" in a and "--time=7" in a and "--report-interval=1" in a and a[0] == "oltp_read_write"
    assert "--db-driver=pgsql" in a and "--pgsql-db=migrate_bench" in a
    assert "pw" not in public_command(o)
    assert round_orders(["x", "y", "z"], 3) == [["x", "y", "z"], ["z", "y", "x"], ["x", "y", "z"]]


def _run(arm: str, rnd: int, scale: float) -> OltpRun:
    text = HOST.read_text()
    res = parse(text)
    for i in res.intervals:
        i.eps = i.eps * scale
        i.qps = i.qps * scale
    return OltpRun(arm=arm, round=rnd, result=res, raw_output=text, window_s=[3.0, 4.0, 5.0])


def test_summary_ratios_and_document_roundtrip():
    sec = OltpBench(stack_dir="/x", project="p", service="postgres", threads=2, duration_s=5, warmup_s=2,
                    rounds=2, tables=2, table_size=2000, arms=["vm-way", "published-port", "stack-network"])
    for rnd in range(2):
        sec.runs += [_run("vm-way", rnd, 1.0), _run("published-port", rnd, 0.5), _run("stack-network", rnd, 1.0)]
    sec.runs.append(OltpRun(arm="vm-way", round=2, ok=False, error="boom"))
    summarise_oltp(sec)
    vm = sec.arm_summary("vm-way")
    assert vm.seconds_used == 6 and vm.runs_ok == 2 and vm.runs_failed == 1
    assert abs(vm.tps.value - (638.01 + 626.00 + 612.86) / 3) < 1e-6
    assert vm.tps.low <= vm.tps.value <= vm.tps.high
    assert vm.p95_latency_ms == 5.57 and vm.p95_latency_final_ms == [5.88, 5.88]
    assert abs(vm.errors_per_s - 5 / 3) < 1e-9
    ratios = {(r.name, r.metric): r for r in sec.ratios}
    assert len(ratios) == 2 * len(RATIOS)
    nat = ratios[("published-port / vm-way", "tps")]
    assert abs(nat.value.value - 0.5) < 1e-9 and nat.verdict == "loss"
    assert ratios[("stack-network / vm-way", "tps")].verdict == "no difference"
    text = format_oltp(sec)
    assert "published-port / vm-way" in text and "TCG" in text and "VM way" in text
    # an optional section: old documents (without it) still load, new ones round-trip
    ctx = BenchContext(date="d", hostname="h", cpu_model="c", cores=2, mem_total_kib=1, kernel="k", accel="n/a",
                       accel_probe="n/a", cgroup="v2", sysbench="1.0.20")
    st = BenchSettings(profile="oltp", n=1, duration_s=5, warmup_s=2, workloads=["oltp"], arms=[], rounds=2,
                       memory_mib=0)
    old = BenchResults(context=ctx, settings=st)
    assert BenchResults.from_json(old.to_json()).oltp is None
    new = BenchResults(context=ctx, settings=st, oltp=sec)
    back = BenchResults.from_json(new.to_json())
    assert back.oltp.arm_summary("published-port").tps.value == sec.arm_summary("published-port").tps.value
