"""Graph pictures people can read: the application by default, SVG and PNG sized for a 16:9 slide.

Checked on the real flagship VM's inventory (tests/data/inventories) and on a corpus guest inspected
from its disk image, with Graphviz's real ``dot``."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from migrate.graph import application_view, build_graph, slide_rankdir, to_slide_dot
from tests.cli.conftest import run_migrate
from tests.graph.conftest import INVENTORIES, load_fixture

SLIDE_PX = (1280, 720)  # 13.33 x 7.5 in at 96 dpi
SVG_NS = "{http://www.w3.org/2000/svg}"


def _svg_facts(path: Path) -> tuple[float, float, list[str]]:
    root = ET.parse(path).getroot()
    width, height = (float(re.sub(r"[a-z]+$", "", root.get(k, "0"))) for k in ("width", "height"))
    titles = [g.find(f"{SVG_NS}title").text for g in root.iter(f"{SVG_NS}g") if g.get("class") == "node"]
    return width, height, titles


def _fits_slide(width: float, height: float) -> None:
    assert width <= SLIDE_PX[0] + 1 and height <= SLIDE_PX[1] + 1, (width, height)
    # scaled to fill the slide in one direction at least
    assert width >= SLIDE_PX[0] - 2 or height >= SLIDE_PX[1] - 2, (width, height)
    assert 1.5 <= width / height <= 1.9, (width, height)  # 16:9-ish: neither a strip nor a tower


def test_flagship_view_is_the_application():
    inv = load_fixture("flagship-debian12")
    full = build_graph(inv)
    view = application_view(full, inv)
    services = sorted(n.label.split("\n")[0] for n in view.nodes if n.kind == "service")
    assert services == ["nginx", "postgresql", "redis-server", "shop"]
    assert len(full.nodes) > 100 and len(view.nodes) <= 12
    assert {n.kind for n in view.nodes} <= {"service", "path", "external"}
    # ports folded into the labels, data shown, the VM's plumbing gone
    assert any(n.label == "shop\n8080/tcp" for n in view.nodes)
    assert any(n.id == "path:/var/lib/postgresql/15/main" for n in view.nodes)
    assert not any("systemd" in n.id or "ssh" in n.id for n in view.nodes)
    # the flagship is a chain nginx -> shop -> databases: top-down is closer to 16:9 than a strip
    assert slide_rankdir(view) == "TB"
    assert 'size="13.33,7.5!", ratio=0.5626' in to_slide_dot(view)


def test_flagship_svg_and_png_fit_a_slide(tmp_path):
    inv = INVENTORIES / "flagship-debian12.json"
    svg, png = tmp_path / "g.svg", tmp_path / "g.png"
    for out, fmt in ((svg, "svg"), (png, "png")):
        proc = run_migrate("graph", str(inv), "-f", fmt, "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        assert "8 of 147 nodes" in proc.stderr
    width, height, titles = _svg_facts(svg)
    assert sorted(titles) == sorted(n.id for n in application_view(build_graph(load_fixture("flagship-debian12")),
                                                                   load_fixture("flagship-debian12")).nodes)
    assert len(titles) == 8
    _fits_slide(width, height)  # dot gives the svg the same size as the png (at the graph's dpi)
    with Image.open(png) as im:
        _fits_slide(*im.size)
        assert abs(im.size[0] - width) <= 2 and abs(im.size[1] - height) <= 2
    proc = run_migrate("graph", str(inv), "-f", "svg", "--all", "-o", str(tmp_path / "all.svg"))
    assert proc.returncode == 0, proc.stderr
    w_all, h_all, titles_all = _svg_facts(tmp_path / "all.svg")
    assert len(titles_all) == 147
    _fits_slide(w_all, h_all)


def test_png_needs_output_and_no_half_file(tmp_path):
    proc = run_migrate("graph", str(INVENTORIES / "flagship-debian12.json"), "-f", "svg")
    assert proc.returncode == 2 and "--format svg needs -o FILE" in proc.stderr


@pytest.mark.image
def test_corpus_guest_from_its_image(tmp_path):
    from tests.images_fixtures import _sample

    lamp = _sample("corpus-lamp")
    out = tmp_path / "lamp.png"
    proc = run_migrate("graph", str(lamp.files["vmdk"]), "-f", "png", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    shown, total = map(int, re.search(r"\((\d+) of (\d+) nodes", proc.stderr).groups())
    assert 3 <= shown <= 15 and total > 60, proc.stderr
    with Image.open(out) as im:
        _fits_slide(*im.size)
    proc = run_migrate("graph", str(lamp.files["vmdk"]), "-f", "svg", "-o", str(tmp_path / "lamp.svg"))
    _, _, titles = _svg_facts(tmp_path / "lamp.svg")
    assert len(titles) == shown
    assert any(t.startswith("service:apache2") for t in titles) and any("mariadb" in t for t in titles), titles
