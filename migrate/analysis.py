"""The analyzer runner: orders analyzers by their requirements, isolates failures, merges findings."""

from __future__ import annotations

import re
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
    # analyzers filtered on the OS family run after every analyzer that can identify the OS
    identifiers = {a.name for a in analyzers if a.name == OS_ANALYZER or a.identifies_os}
    for a in sorted(analyzers, key=lambda a: a.name):
        requires = set(a.requires)
        if a.os_families is not None and a.name not in identifiers:
            requires |= identifiers
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
        # the first identified OS wins; an analyzer that found files but no family does not mask one that did
        if findings.os is not None and (self.merged.os is None or self.merged.os.family == "unknown"):
            self.merged.os = findings.os
        if findings.network is not None:
            self.network = findings.network
        if findings.windows is not None and self.merged.windows is None:
            self.merged.windows = findings.windows
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


# --- unknowns never quote the guest's files (issue 8, D7) -------------------------------------------
#
# An unknown is shown on the terminal, stored in inventory.json and copied into the stack. A parse
# error that quotes the line it choked on would put whatever that line held (a password hash from an
# htpasswd file pulled in by an `include`, a token) into all three. Analyzers are asked not to quote,
# and the runner enforces it for every analyzer, built-in or third-party: each word of an unknown's
# message that also occurs in a file the analyzer read during its run is replaced by "<...>", unless
# it is a plain keyword (lowercase like a directive, or Capitalised like Apache's), a number, or part
# of the unknown's own path. Known secret values are redacted first.

QUOTED = "<...>"
# whole-file reads one analyzer may make: far above what a real guest needs (on the flagship the
# busiest analyzers, dpkg and systemd, read 160 and 122 files), low enough that an include graph
# expanding without end stops within seconds instead of running for hours
MAX_READS_PER_ANALYZER = 20_000
MAX_SCRUB_FILES = 256
MAX_SCRUB_BYTES = 8 * 1024 * 1024
_WORD = re.compile(r"[^\s'\"`,;:()\[\]{}<>=/$|\\]+")
_KEYWORD = re.compile(r"[a-z_][a-z_-]{0,23}|\d{1,7}|[A-Z][a-z]{1,15}")


def _exception_text(exc: BaseException, rootfs: RootFS) -> str:
    """An exception's message without the host directory of a directory-backed guest."""
    text = str(exc)
    for fs in rootfs.mounts.values():
        host_root = getattr(fs, "root", None)
        if isinstance(host_root, str) and host_root not in ("", "/"):
            text = text.replace(host_root, "<guest>")
    return text


def _bad_name_unknowns(analyzer: str, rootfs: RootFS, since: int) -> list[Unknown]:
    return [Unknown(analyzer=analyzer, path=b.directory,
                    message=f"skipped a directory entry whose name {b.reason} (shown escaped: {b.name}); "
                            "the rest of the directory was read" if b.name else b.reason)
            for b in rootfs.bad_names[since:]]


def scrub_message(message: str, contents: list[bytes], keep: str = "") -> str:
    """``message`` with every word that occurs in ``contents`` replaced by QUOTED (see above)."""

    def sub(m: re.Match[str]) -> str:
        word = m.group(0)
        if _KEYWORD.fullmatch(word) or word in keep:
            return word
        needle = word.encode("utf-8", "surrogateescape")
        return QUOTED if any(needle in c for c in contents) else word

    return _WORD.sub(sub, message)


def scrub_unknowns(unknowns: list[Unknown], rootfs: RootFS, reads: set[str], ctx: Context) -> list[Unknown]:
    if not unknowns:
        return unknowns
    paths = sorted(reads | {u.path for u in unknowns if u.path})[:MAX_SCRUB_FILES]
    contents: list[bytes] = []
    for path in paths:
        try:
            contents.append(rootfs.read_bytes(path, max_bytes=MAX_SCRUB_BYTES))
        except Exception:  # noqa: BLE001, S112 - a file that cannot be read cannot be quoted either
            continue
    out = []
    seen: set[tuple[str | None, str]] = set()
    for u in unknowns:
        message = scrub_message(ctx.secrets.redact_text(u.message), contents, keep=u.path or "")
        if (u.path, message) in seen:  # the same problem met again (an include expanded twice) is one unknown
            continue
        seen.add((u.path, message))
        out.append(u.model_copy(update={"message": message}))
    return out


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
        bad_names_before = len(rootfs.bad_names)
        reads: set[str] = set()
        rootfs.read_log, rootfs.reads_left = reads, MAX_READS_PER_ANALYZER
        try:
            try:
                findings = analyzer.run(ctx)
            finally:
                rootfs.read_log = rootfs.reads_left = None
        except NotApplicable:
            result.runs.append(AnalyzerRun(name=analyzer.name, status="not-applicable",
                                           seconds=round(time.perf_counter() - started, 4)))
            continue
        except Exception as exc:  # one analyzer's failure never aborts the run
            where = traceback.extract_tb(exc.__traceback__)[-1]
            path = getattr(exc, "path", None)
            message = f"{type(exc).__name__}: {_exception_text(exc, rootfs)} (at {where.name}:{where.lineno})"
            failed = Unknown(analyzer=analyzer.name, path=path if isinstance(path, str) else None, message=message)
            findings = Findings(unknowns=[failed] + _bad_name_unknowns(analyzer.name, rootfs, bad_names_before))
            result.add(Findings(unknowns=scrub_unknowns(findings.unknowns, rootfs, reads, ctx)))
            result.runs.append(AnalyzerRun(name=analyzer.name, status="failed",
                                           seconds=round(time.perf_counter() - started, 4)))
            continue
        findings.unknowns = scrub_unknowns(
            findings.unknowns + _bad_name_unknowns(analyzer.name, rootfs, bad_names_before), rootfs, reads, ctx)
        ctx.results[analyzer.name] = findings
        if findings.os is not None and (ctx.os is None or ctx.os.family == "unknown"):
            ctx.os = findings.os
        result.add(findings)
        result.runs.append(AnalyzerRun(name=analyzer.name, status="ok", findings=findings.count(),
                                       seconds=round(time.perf_counter() - started, 4)))
    return result, ctx
