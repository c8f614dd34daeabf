"""migrate.report.chromium against Debian's real headless Chromium and poppler: what it renders is
checked in pixels and words, a page that never finishes is killed at the timeout, a failed render
leaves no file, and the report pages' Content-Security-Policy really stops scripts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

from migrate.errors import ExternalToolError
from migrate.report import chromium
from migrate.report.html import render

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><style>
@page{size:A4;margin:10mm} body{margin:0;font-family:sans-serif}
html{print-color-adjust:exact;-webkit-print-color-adjust:exact}
#block{position:absolute;left:100px;top:200px;width:300px;height:150px;background:rgb(200,30,40)}
</style></head><body><h1>Quarterly 4242</h1><div id="block"></div>
<div style="break-before:page"><p>second page 777</p></div></body></html>"""


@pytest.fixture
def page(tmp_path: Path) -> Path:
    p = tmp_path / "page.html"
    p.write_text(PAGE)
    return p


def test_screenshot_shows_the_page(page, tmp_path):
    png = chromium.screenshot(page, tmp_path / "shot.png", width=800, height=600, timeout=120)
    with Image.open(png) as im:
        assert im.size == (800, 600)
        rgb = im.convert("RGB")
        assert rgb.getpixel((250, 275)) == (200, 30, 40)  # inside the red block
        assert rgb.getpixel((600, 500)) == (255, 255, 255)  # outside it: the white page
        # the heading's text is drawn: dark pixels in the top band, none far below it
        top = rgb.crop((0, 0, 800, 80)).convert("L")
        assert top.getextrema()[0] < 80
        assert rgb.crop((500, 420, 800, 600)).convert("L").getextrema()[0] > 240


def test_pdf_pages_text_and_pixels(page, tmp_path):
    pdf = chromium.print_pdf(page, tmp_path / "out.pdf", timeout=120)
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert chromium.pdf_pages(pdf) == 2  # the CSS page break is honoured
    text = chromium.pdf_text(pdf)
    assert "Quarterly 4242" in text and "second page 777" in text
    assert "file://" not in text and str(page) not in text  # no header/footer with the local URL
    pngs = chromium.pdf_to_pngs(pdf, tmp_path / "pages", dpi=40)
    assert len(pngs) == 2
    with Image.open(pngs[0]) as first:
        colors = first.convert("RGB").getcolors(maxcolors=1 << 16)
    reddish = sum(n for n, (r, g, b) in colors if r > 150 and g < 90 and b < 90)
    assert reddish > 100  # the red block is printed (print-color-adjust: exact, as the reports set)


def test_a_page_that_never_finishes_is_killed_at_the_timeout(tmp_path):
    p = tmp_path / "loop.html"
    p.write_text("<html><body><h1>x</h1><script>while (true) {}</script></body></html>")
    t0 = time.monotonic()
    with pytest.raises(ExternalToolError, match="did not finish within 4 s"):
        chromium.dump_dom(p, timeout=4)
    assert time.monotonic() - t0 < 30


def test_a_failed_render_leaves_no_file(tmp_path):
    dest = tmp_path / "out.pdf"
    with pytest.raises(ExternalToolError, match="no such page"):
        chromium.print_pdf(tmp_path / "missing.html", dest)
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_report_pages_do_not_run_scripts(tmp_path):
    """Defence behind autoescaping: even markup that got into a report page cannot run."""
    html = render("report/base.html.j2", title="t", subtitle="s")
    injected = html.replace("</body>", '<p id="probe">static</p><script>document.getElementById("probe")'
                                        '.textContent = "ran"</script></body>')
    p = tmp_path / "r.html"
    p.write_text(injected)
    dom = chromium.dump_dom(p, timeout=120)
    assert '<p id="probe">static</p>' in dom
    # the same page without the policy does run it: the check above can fail
    p.write_text(injected.replace('http-equiv="Content-Security-Policy"', 'name="x"'))
    assert '<p id="probe">ran</p>' in chromium.dump_dom(p, timeout=120)
