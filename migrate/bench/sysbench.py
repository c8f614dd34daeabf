"""Parse sysbench's text output, both the 1.0.x report (Debian 12 ships 1.0.20) and the 1.1/master
report, which replaced "General statistics: total time" by a "Throughput:" block with
"events/s (eps)" and "time elapsed" (see akopytov/sysbench tests/t/*.t and src/sysbench.c,
report_cumulative)."""

from __future__ import annotations

import re

from migrate.model.bench import IntervalReport, SysbenchResult

_NUM = r"([0-9]+(?:\.[0-9]+)?)"
_VERSION = re.compile(r"^sysbench ([0-9][^\s]*)")
_INTERVAL = re.compile(r"^\[\s*" + _NUM + r"s\s*\]\s*(.*)$")
_THDS = re.compile(r"thds:\s*([0-9]+)")
_EPS = re.compile(r"\beps:\s*" + _NUM)
_TPS = re.compile(r"\btps:\s*" + _NUM)
_LAT = re.compile(r"lat \(ms,([0-9]+)%\):\s*" + _NUM)
_MIBS = re.compile(_NUM + r"\s*MiB/sec")
_QPS = re.compile(r"\bqps:\s*" + _NUM + r"(?:\s*\(r/w/o:\s*" + _NUM + "/" + _NUM + "/" + _NUM + r"\))?")
_ERR = re.compile(r"\berr/s:\s*" + _NUM)
_RECONN = re.compile(r"\breconn/s:\s*" + _NUM)


def _float(rx: str, text: str) -> float | None:
    m = re.search(rx, text, re.MULTILINE)
    return float(m.group(1)) if m else None


def detect_test(text: str) -> str | None:
    if "Prime numbers limit" in text or "CPU speed:" in text:
        return "cpu"
    if "memory speed test" in text or "MiB transferred" in text:
        return "memory"
    if "File operations:" in text or "fsyncs/s" in text:
        return "fileio"
    if "SQL statistics:" in text:
        return "oltp"
    if "General statistics:" in text or "Throughput:" in text:
        return "threads"
    return None


def parse(text: str) -> SysbenchResult:
    """Everything sysbench printed, as numbers. Unknown lines are ignored, never fatal: a report that
    lacks the final block (killed instance) still yields its interval lines."""
    res = SysbenchResult()
    lines = text.splitlines()
    for line in lines:
        m = _VERSION.match(line.strip())
        if m:
            res.version = m.group(1)
            break
    res.test = detect_test(text)
    thr = _float(r"^Number of threads:\s*([0-9]+)", text)
    res.threads = int(thr) if thr is not None else None
    block = _float(r"^\s*block size:\s*([0-9]+)KiB", text)

    for line in lines:
        m = _INTERVAL.match(line.strip())
        if not m:
            continue
        rest = m.group(2)
        rep = IntervalReport(t=float(m.group(1)))
        if (t := _THDS.search(rest)) is not None:
            rep.threads = int(t.group(1))
        if (e := _EPS.search(rest)) is not None or (e := _TPS.search(rest)) is not None:
            rep.eps = float(e.group(1))
        if (lat := _LAT.search(rest)) is not None:
            rep.lat_pct, rep.lat_ms = int(lat.group(1)), float(lat.group(2))
        if (mb := _MIBS.search(rest)) is not None:
            rep.mib_per_s = float(mb.group(1))
            if rep.eps is None and block:
                rep.eps = rep.mib_per_s * 1024.0 / block
        if (q := _QPS.search(rest)) is not None:
            rep.qps = float(q.group(1))
            if q.group(2) is not None:
                rep.qps_rwo = [float(q.group(2)), float(q.group(3)), float(q.group(4))]
        if (er := _ERR.search(rest)) is not None:
            rep.err_per_s = float(er.group(1))
        if (rc := _RECONN.search(rest)) is not None:
            rep.reconn_per_s = float(rc.group(1))
        res.intervals.append(rep)

    if "Throughput:" in text and "events/s (eps):" in text:
        res.report_format = "1.1"
        res.events_per_second = _float(r"events/s \(eps\):\s*" + _NUM, text)
        res.total_time_s = _float(r"time elapsed:\s*" + _NUM + "s", text)
    else:
        res.total_time_s = _float(r"total time:\s*" + _NUM + "s", text)
    ev = _float(r"total number of events:\s*([0-9]+)", text)
    res.total_events = int(ev) if ev is not None else None
    cpu_eps = _float(r"events per second:\s*" + _NUM, text)
    if res.events_per_second is None:
        ops = _float(r"Total operations:\s*[0-9]+\s*\(\s*" + _NUM + r" per second\)", text)
        res.events_per_second = cpu_eps or ops
        if res.events_per_second is None and res.total_events is not None and res.total_time_s:
            res.events_per_second = res.total_events / res.total_time_s
    tps = _float(r"transactions:\s*[0-9]+\s*\(\s*" + _NUM + r" per sec\.\)", text)
    if tps is not None:
        res.transactions_per_s = tps
    res.queries_per_s = _float(r"^\s*queries:\s*[0-9]+\s*\(\s*" + _NUM + r" per sec\.\)", text)
    sql = re.search(r"queries performed:\n((?:\s+(?:read|write|other|total):\s*[0-9]+\n?)+)", text)
    if sql:
        res.queries = {m.group(1): int(m.group(2))
                       for m in re.finditer(r"^\s*([a-z]+):\s*([0-9]+)", sql.group(1), re.MULTILINE)}
    m = re.search(r"ignored errors:\s*([0-9]+)\s*\(\s*" + _NUM + r" per sec\.\)", text)
    if m:
        res.ignored_errors, res.ignored_errors_per_s = int(m.group(1)), float(m.group(2))
    m = re.search(r"reconnects:\s*([0-9]+)", text)
    if m:
        res.reconnects = int(m.group(1))
    res.mib_per_s = _float(r"MiB transferred \(\s*" + _NUM + r" MiB/sec\)", text) or _float(
        _NUM + r" MiB/sec transferred", text)

    lat_block = re.search(r"Latency \(ms\):\n((?:\s+.+\n?)+)", text)
    if lat_block:
        for m in re.finditer(r"^\s*([0-9a-z]+)(?:th percentile)?:\s*" + _NUM, lat_block.group(1), re.MULTILINE):
            key = m.group(1)
            res.latency_ms["p" + key if key.isdigit() else key] = float(m.group(2))
    m = re.search(r"events \(avg/stddev\):\s*" + _NUM + "/" + _NUM, text)
    if m:
        res.fairness_events_avg, res.fairness_events_stddev = float(m.group(1)), float(m.group(2))
    m = re.search(r"execution time \(avg/stddev\):\s*" + _NUM + "/" + _NUM, text)
    if m:
        res.fairness_time_avg, res.fairness_time_stddev = float(m.group(1)), float(m.group(2))
    for key, rx in (("prime_limit", r"Prime numbers limit:\s*([0-9]+)"), ("block_size", r"block size:\s*(\S+)"),
                    ("operation", r"^\s*operation:\s*(\S+)"), ("scope", r"^\s*scope:\s*(\S+)")):
        m = re.search(rx, text, re.MULTILINE)
        if m:
            res.options[key] = m.group(1)
    return res


WORKLOADS: dict[str, list[str]] = {
    "cpu": ["cpu"],
    "memory": ["memory", "--memory-block-size=4K", "--memory-access-mode=rnd", "--memory-total-size=0"],
    "threads": ["threads"],
}


def command(workload: str, duration_s: int, threads: int = 1) -> list[str]:
    """sysbench argv without the program name. Debian's 1.0.20 has no --warmup-time: warm-up seconds
    are dropped at analysis time instead."""
    if workload not in WORKLOADS:
        raise ValueError(workload)
    return [*WORKLOADS[workload], f"--threads={threads}", f"--time={duration_s}", "--report-interval=1", "run"]
