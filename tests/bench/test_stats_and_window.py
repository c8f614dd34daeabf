from migrate.bench import stats
from migrate.bench.arms import split_console
from migrate.bench.runner import round_order, window
from migrate.model.bench import ArmRun, InstanceRun, IntervalReport, SysbenchResult


def test_jain():
    assert stats.jain([1, 1, 1, 1]) == 1.0
    assert abs(stats.jain([1, 0, 0, 0]) - 0.25) < 1e-12
    assert stats.jain([]) is None


def test_ratio_ci_contains_value_and_no_difference():
    a = [100, 101, 99, 100, 102, 98]
    iv = stats.ratio_ci(a, a)
    assert iv.value == 1.0 and iv.low <= 1.0 <= iv.high
    g = stats.gain_ci(a, a)
    assert stats.verdict(g) == "no difference"
    assert stats.verdict(stats.gain_ci([200, 201, 199], [100, 101, 99])) == "gain"


def test_round_order_interleaves():
    assert round_order(["R", "A", "B", "C"], 2) == [["R", "B", "A", "C"], ["C", "A", "B", "R"]]


def _inst(i, eps):
    return InstanceRun(index=i, result=SysbenchResult(intervals=[IntervalReport(t=t, eps=e) for t, e in eps]))


def test_window_uses_common_seconds_after_warmup():
    run = ArmRun(arm="B", workload="cpu", round=0, n=2, label="x",
                 instances=[_inst(0, [(1, 5), (2, 10), (3, 10), (4, 10)]), _inst(1, [(1, 5), (2, 20), (4, 20)])])
    secs, totals = window(run, warmup_s=1)
    assert secs == [2, 4] and totals == [30, 30]


def test_split_console():
    text = "noise\nMB-BEGIN 0\na\nb\nMB-END 0\nMB-BEGIN 1\nc\nMB-END 1\nMB-DONE\n"
    assert split_console(text) == {0: "a\nb\n", 1: "c\n"}
