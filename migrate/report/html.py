"""Shared pieces of the HTML reports: one Jinja environment, the page style (screen and print), inline
SVG plots from matplotlib, writing the files and the PDF export.

Every string in a report may come from a guest (host names, service names, blocker details), so the
environment autoescapes everything; templates never use ``|safe`` on data, only on SVG that
matplotlib drew from numbers and labels it escaped itself. The page carries a Content-Security-Policy
that forbids scripts and remote loads: even if a string slipped through, the browser would not run
it, and a report opened from a share fetches nothing.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from migrate.errors import OutputError
from migrate.fsutil import ConfinedDir

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"

# Distinct in colour, line style and marker, so series stay apart in grey print and where they overlap.
SERIES_STYLES = (
    {"color": "#1f4e79", "ls": "-", "marker": "o"},
    {"color": "#c55a11", "ls": "--", "marker": "s"},
    {"color": "#548235", "ls": "-.", "marker": "^"},
    {"color": "#7030a0", "ls": ":", "marker": "D"},
    {"color": "#7f6000", "ls": (0, (5, 1, 1, 1)), "marker": "v"},
    {"color": "#404040", "ls": (0, (1, 1)), "marker": "x"},
)
PALETTE = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6", "#a5a5a5", "#843c0c")

STYLE = """
:root{--ink:#1b1f24;--muted:#57606a;--rule:#d0d7de;--accent:#1f4e79;--bg-soft:#f3f6f9}
*{box-sizing:border-box}
html{font-family:"DejaVu Sans","Liberation Sans",Arial,sans-serif;color:var(--ink);font-size:14px;line-height:1.45}
body{margin:0 auto;padding:24px 32px;max-width:1180px}
header.report-head{border-bottom:3px solid var(--accent);margin-bottom:18px;padding-bottom:8px}
header.report-head h1{margin:0;font-size:26px;color:var(--accent)}
header.report-head p{margin:4px 0 0;color:var(--muted)}
h2{font-size:19px;color:var(--accent);border-bottom:1px solid var(--rule);padding-bottom:3px;margin:28px 0 10px}
h3{font-size:15px;margin:16px 0 6px}
p.lead{font-size:15px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{flex:1 1 140px;border:1px solid var(--rule);border-radius:6px;padding:10px 14px;background:var(--bg-soft)}
.card .value{font-size:26px;font-weight:bold;color:var(--accent)}
.card .label{font-size:12px;color:var(--muted)}
table{border-collapse:collapse;width:100%;margin:8px 0 14px;font-size:12px}
th,td{border:1px solid var(--rule);padding:3px 7px;text-align:left;vertical-align:top}
th{background:var(--bg-soft)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:14px 0;width:100%}
figure svg{width:100%;height:auto;display:block}
figcaption{font-size:11px;color:var(--muted);margin-top:4px}
.note{font-size:12px;color:var(--muted)}
.box{border:1px dashed #999;padding:6px 14px;background:#fafafa}
.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:11px;border:1px solid var(--rule)}
.badge.ready{background:#e2f0d9}.badge.blocked{background:#fce4d6}.badge.failed{background:#f8cbad}
.badge.not-inspected{background:#ededed}
a{color:var(--accent)}
code{font-family:"DejaVu Sans Mono",monospace;font-size:12px}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:24px}
@page{size:A4;margin:14mm 12mm}
@media print{
  html{font-size:11px;print-color-adjust:exact;-webkit-print-color-adjust:exact}
  body{padding:0;max-width:none}
  h2{break-after:avoid}
  figure,.cards,tr,section.keep{break-inside:avoid}
  thead{display:table-header-group}
  a{color:inherit;text-decoration:none}
  .screen-only{display:none}
}
"""


def environment() -> Environment:
    env = Environment(loader=PackageLoader("migrate.templates", "."), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html", "html.j2"], default_for_string=True, default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(STYLE=STYLE, CSP=CSP)
    env.filters["num"] = _num
    return env


def _num(value: Any, digits: int = 0) -> str:
    """Thousands separated, fixed digits: 12 345.6."""
    if value is None:
        return "—"
    return f"{float(value):,.{digits}f}".replace(",", "\u2009")


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def relative_link(target: Path, from_dir: Path, within: Path) -> str | None:
    """A URL-quoted relative link from ``from_dir`` to ``target``, or None when ``target`` is not inside
    ``within`` (a document path from a store is data: it never points a reader outside the fleet)."""
    import os

    within = within.resolve()
    resolved = (within / target).resolve() if not target.is_absolute() else target.resolve()
    if not resolved.is_relative_to(within):
        return None
    rel = os.path.relpath(resolved, from_dir.resolve())
    return quote(Path(rel).as_posix())


def plt():
    """pyplot on the Agg backend with deterministic SVG ids."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    pyplot.rcParams.update({"svg.hashsalt": "migrate", "font.size": 10, "font.family": "DejaVu Sans",
                            "axes.spines.top": False, "axes.spines.right": False})
    return pyplot


def svg(fig: Any) -> str:
    """The figure as an inline <svg> element (no XML prolog, no date)."""
    import matplotlib.pyplot as pyplot

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    pyplot.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def write_files(outdir: Path, files: Mapping[str, str | bytes]) -> dict[str, Path]:
    """Every file written below ``outdir`` without following links (names come from the fleet)."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write report: {exc.strerror}", path=str(outdir)) from exc
    with ConfinedDir(outdir) as out:
        for name, data in files.items():
            out.write_bytes(name, data.encode() if isinstance(data, str) else data)
    return {name: outdir / name for name in files}


def export_pdf(page: Path, outdir: Path, name: str, *, timeout: float = 180) -> Path:
    """``page`` printed by headless Chromium, placed in ``outdir`` as ``name`` once complete."""
    from migrate.report.chromium import print_pdf

    with tempfile.TemporaryDirectory(prefix="migrate-pdf-") as tmp:
        pdf = print_pdf(page, Path(tmp) / "report.pdf", timeout=timeout)
        return write_files(outdir, {name: pdf.read_bytes()})[name]
