"""The capacity report's plots, checked on the drawn matplotlib figures (issue 10 §3): full width,
every legend outside every plot area, and series told apart by line style and marker (not colour
alone), with markers of different sizes where lines can coincide."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.capacity import report as cr
from migrate.capacity.fleet import load_csv
from migrate.capacity.plan import plan
from migrate.model.bench import BenchResults

HERE = Path(__file__).parent
BENCH = BenchResults.load(HERE / "data" / "bench-results-tiny.json")
REP = plan(load_csv(HERE.parent / "data" / "fleet" / "sample-fleet.csv"), bench=BENCH)

FIGURES = {
    "hosts": lambda: cr.figure_hosts(REP),
    "packing": lambda: cr.figure_packing(REP),
    "ecdf": lambda: cr.figure_ecdf(REP),
    "timeseries": lambda: cr.figure_timeseries(BENCH),
    "memory": lambda: cr.figure_memory(BENCH),
}


@pytest.fixture(params=sorted(FIGURES))
def figure(request):
    import matplotlib.pyplot as plt

    fig = FIGURES[request.param]()
    assert fig is not None, request.param
    fig.canvas.draw()
    yield request.param, fig
    plt.close(fig)


def test_full_width_and_legends_outside_the_data(figure):
    name, fig = figure
    assert fig.get_size_inches()[0] >= 10, name
    renderer = fig.canvas.get_renderer()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends, name
    for leg in legends:
        box = leg.get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), (name, [t.get_text() for t in leg.get_texts()])


def test_hosts_series_differ_in_style_and_marker_not_only_colour():
    import matplotlib.pyplot as plt

    fig = cr.figure_hosts(REP)
    try:
        for ax in fig.axes:
            rules = [ln for ln in ax.get_lines() if ln.get_label().startswith("containers")]
            assert len(rules) == 3
            assert len({ln.get_linestyle() for ln in rules}) == 3
            assert len({ln.get_marker() for ln in rules}) == 3
            # hollow markers of decreasing size: where two rules give the same count, both stay visible
            assert len({ln.get_markersize() for ln in rules}) == 3
            assert all(ln.get_markerfacecolor() == "none" for ln in rules)
            today = [ln for ln in ax.get_lines() if ln.get_label() == "VMs today"]
            assert len(today) == 1 and today[0].get_zorder() < min(ln.get_zorder() for ln in rules)
            assert today[0].get_linewidth() > max(ln.get_linewidth() for ln in rules)  # a band under the rules
        assert [ax.get_title() for ax in fig.axes] == ["Containers in VMs", "Containers on bare metal"]
    finally:
        plt.close(fig)
