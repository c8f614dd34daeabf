"""The analyzer runner: orders analyzers by their requirements, isolates failures, merges findings."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from graphlib import CycleError, TopologicalSorter

from migrate.analyzers import builtin_analyzers
from migrate.analyzers.base import OS_ANALYZER, Analyzer, Context, NotApplicable
from migrate.model.inventory import LIST_FIELDS, AnalyzerRun, Findings, NetworkIdentity, Service, Unknown
from migrate.rootfs import RootFS


def order_analyzers(analyzers: Sequence[Analyzer]) -> list[Analyzer]:
    by_name: dict[str, Analyzer] = {}
    for a in analyzers:
        if a.name in by_name:
            raise ValueError(f"two analyzers are named {a.name!r}")
        by_name[a.name] = a
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for a in sorted(analyzers, key=lambda a: a.name):
        requires = set(a.requires)
        if a.os_families is not None and a.name != OS_ANALYZER:
            requires.add(OS_ANALYZER)
        sorter.add(a.name, *sorted(r for r in requires if r in by_name))
    try:
        return [by_name[n] for n in sorter.static_order()]
    except CycleError as exc:
        raise ValueError(f"analyzer requirements form a cycle: {exc.args[1]}") from exc


def merge_service(into: Service, extra: Service) -> None:
    """Later analyzers enrich a service found earlier: lists are extended, set scalars win."""
    for name in Service.model_fields:
        value = getattr(extra, name)
        current = getattr(into, name)
        if isinstance(value, list):
            setattr(into, name, current + [v for v in value if v not in current])
        elif isinstance(value, dict):
            setattr(into, name, {**current, **value})
        elif value not in (None, "unknown", False) and name != "name":
            setattr(into, name, value)


class AnalysisResult:
    def __init__(self) -> None:
        self.merged = Findings()
        self.network = NetworkIdentity()
        self.runs: list[AnalyzerRun] = []

    def add(self, findings: Findings) -> None:
        if findings.os is not None and self.merged.os is None:
            self.merged.os = findings.os
        if findings.network is not None:
            self.network = findings.network
        for field in LIST_FIELDS:
            if field == "services":
                continue
            getattr(self.merged, field).extend(getattr(findings, field))
        for svc in findings.services:
            existing = next((s for s in self.merged.services if s.name == svc.name), None)
            if existing is None:
                self.merged.services.append(svc.model_copy(deep=True))
            else:
                merge_service(existing, svc)


def run_analyzers(rootfs: RootFS, ctx: Context | None = None, *, analyzers: Sequence[Analyzer] | None = None,
                  progress: Callable[[str], None] | None = None) -> tuple[AnalysisResult, Context]:
    ctx = ctx or Context(rootfs=rootfs)
    result = AnalysisResult()
    for analyzer in order_analyzers(list(analyzers) if analyzers is not None else builtin_analyzers()):
        if progress:
            progress(analyzer.name)
        started = time.perf_counter()
        family = ctx.os.family if ctx.os else "unknown"
        if analyzer.os_families is not None and family not in analyzer.os_families:
            result.runs.append(AnalyzerRun(name=analyzer.name, status="skipped"))
            continue
        try:
            findings = analyzer.run(ctx)
        except NotApplicable:
            result.runs.append(AnalyzerRun(name=analyzer.name, status="not-applicable",
                                           seconds=round(time.perf_counter() - started, 4)))
            continue
        except Exception as exc:  # one analyzer's failure never aborts the run
            where = traceback.extract_tb(exc.__traceback__)[-1]
            message = ctx.secrets.redact_text(f"{type(exc).__name__}: {exc} (at {where.name}:{where.lineno})")
            result.add(Findings(unknowns=[Unknown(analyzer=analyzer.name, path=getattr(exc, "path", None),
                                                  message=message)]))
            result.runs.append(AnalyzerRun(name=analyzer.name, status="failed",
                                           seconds=round(time.perf_counter() - started, 4)))
            continue
        ctx.results[analyzer.name] = findings
        if findings.os is not None and ctx.os is None:
            ctx.os = findings.os
        result.add(findings)
        result.runs.append(AnalyzerRun(name=analyzer.name, status="ok", findings=findings.count(),
                                       seconds=round(time.perf_counter() - started, 4)))
    return result, ctx
