"""Load the HTML report in Debian's headless chromium: it must parse and keep every plot as an SVG."""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from migrate.capacity.fleet import load_csv
from migrate.capacity.plan import plan
from migrate.capacity.report import PLOTS, write_outputs
from migrate.model.bench import BenchResults

HERE = Path(__file__).parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="apt-get install -y chromium")
def test_report_loads_in_headless_chromium(tmp_path):
    bench = BenchResults.load(HERE / "data" / "bench-results-tiny.json")
    rep = plan(load_csv(HERE.parent / "data" / "fleet" / "sample-fleet.csv"), bench=bench)
    html = write_outputs(rep, tmp_path, bench)["html"]
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120)
    dom = out.stdout
    assert "<h1>Capacity report</h1>" in dom, out.stderr[-2000:]
    for p in PLOTS:
        fig = re.search(rf'<figure data-plot="{p}".*?</figure>', dom, re.S)
        assert fig and "<svg" in fig.group(0), p
        assert re.search(r"<(path|rect|use)\b", fig.group(0)), p  # the plot has drawn marks
    assert dom.count("<table") == 5
