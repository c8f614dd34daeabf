"""The fleet report's exports for spreadsheets: members.csv, waves.csv, blockers.csv, fleet-report.json.

Cells hold strings from the guests (host names, blocker details) and from RVTools. A spreadsheet
treats a cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab / carriage return before them) as a
formula, so a hostile host name such as ``=HYPERLINK("http://…")`` would run when the client opens
the file. Such cells are written with a leading apostrophe, the convention spreadsheets read as "this
is text" (OWASP's CSV injection advice); numbers the report itself computed are left as numbers.
A spreadsheet set to another list separator (``;`` in most European locales, or tab) splits
``web01;=cmd|' /C calc'!A0`` into cells, the second a formula, and loses track of the quotes, so a
line break can start a row: inside a cell, a formula character after ``;``, a tab or a line break
(and any spaces or quotes) gets the apostrophe too. Text cells are quoted as well.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import PurePath

from migrate.model.fleet import FleetMember, FleetReport

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# the separator, then spaces or quotes (never another separator: overlapping runs made a cell of
# 20,000 line breaks cost 9 s)
_INNER_FORMULA = re.compile(r"""([;\t\r\n][ "']*)(?=[=+\-@])""")

MEMBER_COLUMNS = [
    "name", "state", "readiness", "wave", "os_family", "distro", "os_version", "kinds", "hostnames", "addresses",
    "rvtools_dns_name", "rvtools_addresses", "blockers", "blocker_kinds", "error_class", "exit_code", "error",
    "owner", "environment", "wave_hint", "vcpus", "memory_mib", "sizing_source", "image", "inventory", "plan", "stack",
]


def cell(value: object) -> object:
    """A CSV cell that a spreadsheet cannot mistake for a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    text = str(value)
    text = _INNER_FORMULA.sub(r"\1'", text)
    return "'" + text if text.lstrip(" \n").startswith(FORMULA_START) else text


def to_csv(head: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC)  # text quoted (separators inside stay inside)
    w.writerow(head)
    for row in rows:
        w.writerow([cell(c) for c in row])
    return buf.getvalue()


def blocker_kind(blocker: str) -> str:
    """"kind: detail" → "kind" (the member keeps blockers as plain strings)."""
    kind, sep, _ = blocker.partition(":")
    return kind.strip() if sep else blocker.strip()


def blocker_detail(blocker: str) -> str:
    kind, sep, detail = blocker.partition(":")
    return detail.strip() if sep else ""


def plain_message(m: FleetMember) -> str:
    """The member's error message without the local folder of its image: the report and its exports go
    to a client, and the folder says nothing the image's file name does not."""
    msg = m.error.message if m.error else ""
    if m.image:
        folder = PurePath(m.image).parent
        if str(folder) not in ("", ".", "/"):
            msg = msg.replace(f"{folder}/", "").replace(str(folder), folder.name)
    return msg


def wave_of(report: FleetReport) -> dict[str, int]:
    return {name: w.number for w in report.waves for name in w.members}


def members_csv(report: FleetReport, sizing: dict[str, tuple[int, int, str]] | None = None,
                image_names: dict[str, str] | None = None) -> str:
    """One row per member. ``sizing``: name → (vcpus, memory MiB, where it came from). ``addresses`` are the
    static addresses configured in the guest; ``rvtools_dns_name`` and ``rvtools_addresses`` what RVTools
    reported for the VM (a separate column: the fleet graph matches connections to both)."""
    waves = wave_of(report)
    sizing = sizing or {}
    rows = []
    for m in report.canonical().members:
        err = m.error
        vcpus, mem, src = sizing.get(m.name, (None, None, None))
        rv = m.sizing  # what VMware Tools reported from the running guest (RVTools vInfo/vNetwork)
        rows.append([
            m.name, m.state, m.readiness, waves.get(m.name), m.os_family, m.distro, m.os_version, ";".join(m.kinds),
            ";".join(m.hostnames), ";".join(m.addresses), rv.dns_name if rv else None,
            ";".join(rv.ip_addresses) if rv else None, len(m.blockers),
            ";".join(sorted({blocker_kind(b) for b in m.blockers})), err.error_class if err else None,
            err.exit_code if err else None, plain_message(m) if err else None, m.owner, m.environment, m.wave_hint,
            vcpus, mem, src, (image_names or {}).get(m.name), m.inventory_path, m.plan_path, m.stack_path,
        ])
    return to_csv(MEMBER_COLUMNS, rows)


def waves_csv(report: FleetReport) -> str:
    rows = [[w.number, name, w.reason] for w in report.canonical().waves for name in sorted(w.members)]
    return to_csv(["wave", "member", "reason"], rows)


def blockers_csv(members: Iterable[FleetMember]) -> str:
    rows = [[m.name, m.readiness, blocker_kind(b), blocker_detail(b)]
            for m in sorted(members, key=lambda m: m.name) for b in m.blockers]
    return to_csv(["member", "readiness", "kind", "detail"], rows)


def report_json(report: FleetReport) -> str:
    return report.canonical().to_json()
