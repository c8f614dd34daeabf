"""Hostile strings in the new outputs (docs/security.md, "Fleets"): the fleet report's spreadsheet
exports and graph pictures drawn by Graphviz carry host names, blocker details and labels the guests
chose. A spreadsheet must never run one as a formula, whatever list separator it splits on, and a
label must stay text in the SVG (no element, no attribute, no host file Graphviz would embed)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from defusedxml import ElementTree

from migrate.fleet import exports
from migrate.graph import render, to_dot, to_slide_dot
from migrate.model.fleet import FleetMember, FleetReport, Wave
from migrate.model.graph import GraphEdge, GraphNode, ServiceGraph

FORMULA = ("=", "+", "-", "@")
DDE = "=cmd|' /C calc'!A0"


def _hostile_report() -> FleetReport:
    m = FleetMember(name="web01", state="inspected", readiness="blocked",
                    hostnames=["web01", "=HYPERLINK(1)", " @SUM(1)"], addresses=["10.0.0.5", "-1+1"],
                    kinds=["nginx", "+1"], blockers=[f"kernel-module: x;{DDE}", f"no-package: a\t{DDE}"],
                    owner=f"ops;{DDE}", environment="\n=1+1")
    return FleetReport(fleet="f", members=[m], waves=[Wave(number=1, members=["web01"], reason=f"r;{DDE}")])


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_no_export_cell_is_a_formula_whatever_the_separator(delimiter: str) -> None:
    """Read as a spreadsheet set to ``delimiter`` would: no cell starts with a formula character.
    Before quoting every text cell, ``web01;=HYPERLINK(1)`` split into a formula cell under ``;``."""
    report = _hostile_report()
    texts = {"members.csv": exports.members_csv(report), "blockers.csv": exports.blockers_csv(report.members),
             "waves.csv": exports.waves_csv(report)}
    for name, text in texts.items():
        cells = [c for row in csv.reader(io.StringIO(text), delimiter=delimiter) for c in row]
        bad = [c for c in cells if c.lstrip(" \t\r\n").startswith(FORMULA)]
        assert not bad, f"{name}: {bad}"
    # and the data is all still there for a program reading the CSV as written
    rows = list(csv.DictReader(io.StringIO(texts["members.csv"])))
    assert rows[0]["hostnames"] == "web01;'=HYPERLINK(1); '@SUM(1)"
    assert rows[0]["environment"] == "\n'=1+1"  # a line break before the formula does not hide it
    assert rows[0]["owner"] == f"ops;'{DDE}"


LABELS = [
    'db" image="/etc/hostname" shape="none',  # breaking out of the quoted label into attributes
    "db\\\" image=\"/etc/hostname",  # a backslash before the quote
    "db\\",  # a trailing backslash that would escape the closing quote
    '<script>alert(1)</script><img src=x onerror="alert(2)">',
    "]; evil [shapefile=\"/etc/hostname\"]; x [label=\"",
]


@pytest.mark.parametrize("draw", [to_dot, to_slide_dot])
def test_graph_labels_stay_text_in_graphviz_svg(tmp_path: Path, draw) -> None:  # type: ignore[no-untyped-def]
    nodes = [GraphNode(id=f"service:{i}", kind="service", label=label) for i, label in enumerate(LABELS)]
    edges = [GraphEdge(source="service:0", target=f"service:{i}", kind="depends-on") for i in range(1, len(LABELS))]
    graph = ServiceGraph(source_vm='vm" image="/etc/hostname', nodes=nodes, edges=edges)
    out = tmp_path / "graph.svg"
    render(draw(graph), out, "svg")
    svg = out.read_text()
    root = ElementTree.fromstring(svg.encode())  # well-formed, no entity tricks
    tags = {el.tag.rsplit("}", 1)[-1] for el in root.iter()}
    assert not tags & {"image", "script", "img", "foreignObject", "a"}, tags
    attrs = {k.rsplit("}", 1)[-1].lower() for el in root.iter() for k in el.attrib}
    assert not any(a.startswith("on") or a == "href" for a in attrs), attrs
    assert "/etc/hostname" not in "".join(el.get("{http://www.w3.org/1999/xlink}href", "") for el in root.iter())
    texts = "".join(t for el in root.iter() for t in [el.text or ""])
    for label in LABELS:  # every label drawn as the text it is (Graphviz may wrap on spaces)
        assert label.split(" ")[0].rstrip("\\") in texts
    assert len([el for el in root.iter() if el.get("class") == "node"]) == len(LABELS)


def test_fleet_outputs_hold_no_guest_secret(flagship_images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The flagship's PostgreSQL and Redis passwords, through a whole fleet run with JSON logs and -v:
    in no byte of fleet.db (and its WAL), the member folders (inventory, plan, stack), the report
    (HTML, JSON, CSVs, the PDF's text) or any command's output."""
    import subprocess

    from tests.fleet.smallfleet import migrate_cli

    fleet, report = tmp_path / "fleet", tmp_path / "report"
    logs = []
    for args in (["fleet", "add", str(fleet), str(flagship_images["qcow2"])],
                 ["fleet", "inspect", str(fleet), "--workers", "1"], ["fleet", "plan", str(fleet)],
                 ["fleet", "convert", str(fleet)], ["fleet", "report", str(fleet), "-o", str(report), "--pdf"]):
        r = migrate_cli("--log-format", "json", "-v", *args)
        assert r.returncode == 0, r.stderr
        logs.append(r.stdout + r.stderr)
    pdf_text = subprocess.run(["pdftotext", "-layout", str(report / "report.pdf"), "-"], capture_output=True,
                              check=True).stdout
    blobs = {"logs": "\n".join(logs).encode(), "report.pdf text": pdf_text}
    for root in (fleet, report):
        blobs.update({str(p): p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()})
    assert any(b"shop-vm01" in b for b in blobs.values())  # the scan reads what the run wrote
    assert str(fleet / "fleet.db") in blobs and (report / "report.html").is_file()
    secrets = flagship_images.facts["secrets"]
    assert secrets
    leaks = [(name, s) for name, blob in blobs.items() for s in secrets if s.encode() in blob]
    assert leaks == []


def test_formula_guard_is_linear() -> None:
    """A blocker detail of 20,000 line breaks took 9 s in the guard (its pattern's runs overlapped)."""
    import time

    start = time.monotonic()
    for text in ("\n" * 20_000, "; " * 50_000, ";\t" * 50_000 + "=1"):
        exports.cell(text)
    assert time.monotonic() - start < 1
    assert exports.cell(";\t" * 2 + "=1") == ";\t;\t'=1"


def _tangle(n: int) -> ServiceGraph:
    """n services, each depending on the next 8: dot needs seconds where a real VM takes milliseconds."""
    nodes = [GraphNode(id=f"service:s{i}", kind="service", label=f"s{i}") for i in range(n)]
    edges = [GraphEdge(source=f"service:s{i}", target=f"service:s{(i * 7 + k) % n}", kind="depends-on")
             for i in range(n) for k in range(1, 9)]
    return ServiceGraph(source_vm="vm", nodes=nodes, edges=edges)


def test_dot_past_its_time_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A guest's graph can be big enough for dot to take minutes: past DOT_TIMEOUT (lowered here) the
    drawing ends in ExternalToolError (22), nothing written, not in TimeoutExpired (an internal error)."""
    from migrate import graph as graph_mod
    from migrate.errors import ExternalToolError

    monkeypatch.setattr(graph_mod, "DOT_TIMEOUT", 0.2)
    big = _tangle(600)
    with pytest.raises(ExternalToolError, match="in 0.1 s"):
        graph_mod.slide_rankdir(big)
    out = tmp_path / "graph.svg"
    with pytest.raises(ExternalToolError, match="in 0.2 s") as err:
        render(to_slide_dot(big, rankdir="LR"), out, "svg")
    assert err.value.exit_code == 22
    assert list(tmp_path.iterdir()) == []  # no picture, no temporary file


CAPACITY_HEAD = "name,vcpus,memory_mib,disk_gib\n"


@pytest.mark.parametrize(("body", "words"), [
    (b"vm1,1e400,1024,10\n", "not a finite number"),  # was OverflowError: an internal error
    (b"vm1,inf,1024,10\n", "not a finite number"),
    (b"vm1,2,1024,nan\n", "not a finite number"),  # was accepted: NaN GiB in the report
    (b"vm1,2,1024,10\n\xff\xfe\n", "not UTF-8 text"),  # was UnicodeDecodeError
    (b"vm1,2," + b"9" * 200_000 + b",10\n", "field larger than field limit"),  # was csv.Error
])
def test_capacity_csv_refusals_are_clear(tmp_path: Path, body: bytes, words: str) -> None:
    from migrate.capacity.fleet import load_csv
    from migrate.errors import InvalidDocument

    path = tmp_path / "vms.csv"
    path.write_bytes(CAPACITY_HEAD.encode() + body)
    with pytest.raises(InvalidDocument, match=words) as err:
        load_csv(path)
    assert err.value.exit_code == 20 and str(path) in str(err.value)


def test_capacity_cli_refuses_infinite_sizes_with_20(tmp_path: Path) -> None:
    from tests.fleet.smallfleet import migrate_cli

    path = tmp_path / "vms.csv"
    path.write_text(CAPACITY_HEAD + "vm1,1e400,1024,10\n")
    r = migrate_cli("capacity", "--csv", str(path), "-o", str(tmp_path / "out"))
    assert r.returncode == 20 and "internal error" not in r.stderr and str(path) in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()
