"""The corpus harness itself: a failed step counts as predicted only when the plan carried a blocker
for every container the failure names (issue 13 item 10: no silent failure)."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.corpus.harness import CorpusRun, Step


def _run(tmp_path, containers, error: str) -> CorpusRun:
    run = CorpusRun("g", [], {}, tmp_path)
    run.out.mkdir(parents=True)
    (run.out / "plan.yaml").write_text(yaml.safe_dump({"containers": containers, "jobs": []}))
    run.steps = [Step("convert", True, 0.1), Step("up", False, 1.0, error)]
    return run


def blocked(name: str) -> dict:
    return {"name": name, "fitness": {"blockers": [{"kind": "no-package", "severity": "blocker", "detail": "x"}]}}


def test_predicted_only_when_each_failing_container_has_a_blocker(tmp_path) -> None:
    error = "not healthy after 240s: httpd (exited: exit 1), cache (exited: exit 0)"
    run = _run(tmp_path / "a", [blocked("cache"), {"name": "httpd", "fitness": {"blockers": []}}], error)
    ok, hits = run.predicted(run.failed)
    assert not ok and hits == ["cache: no-package: x"]
    with pytest.raises(pytest.fail.Exception, match="not predicted"):
        run.conclude()
    run = _run(tmp_path / "b", [blocked("cache"), blocked("httpd")], error)
    assert run.predicted(run.failed)[0]
    with pytest.raises(pytest.xfail.Exception, match="predicted by the plan"):
        run.conclude()
    result = json.loads((tmp_path / "b" / "corpus-result-compose.json").read_text())
    assert result["failed_step"] == "up" and result["predicted"] is True


def test_warnings_do_not_predict_and_a_clean_run_passes(tmp_path) -> None:
    warn = {"name": "httpd", "fitness": {"blockers": [{"kind": "forking", "severity": "warning", "detail": "w"}]}}
    run = _run(tmp_path / "c", [warn], "httpd (exited: exit 1)")
    assert run.predicted(run.failed) == (False, [])
    run.steps = [Step("convert", True, 0.1)]
    run.conclude()  # nothing failed: returns
