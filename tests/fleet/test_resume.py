"""Resumability: kill -9 of the coordinator mid-run and of a Dask worker mid-image, then a rerun: nothing
lost, no result recorded twice, the same final counts as an uninterrupted run; two runs at once
cooperate (claims are atomic), each member inspected once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections import Counter

import psutil
import pytest

from migrate.fleet.engine import EngineOptions, run_inspect
from migrate.fleet.sources import add_sources
from migrate.fleet.store import FleetStore
from tests.fleet.smallfleet import make_overlays, start_cli, wait_for

N = 10
EXPECTED = {"failed": 1, "inspected": N}  # what an uninterrupted run gives (test_engine checks that)


@pytest.fixture
def fleet(tmp_path, units_images, bad_images):
    images = tmp_path / "images"
    make_overlays(images, units_images["base"], N)
    os.link(bad_images["truncated-qcow2"], images / "truncated.qcow2")
    with FleetStore.create(tmp_path / "fleet") as s:
        add_sources(s, [str(images)])
    return tmp_path / "fleet"


def _wait(cond, timeout=180.0, what="condition"):  # this module's patience
    return wait_for(cond, timeout, what)


def _kill_session(proc):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


def _assert_each_once(store):
    recorded = Counter(r.member for r in store.inspections() if r.outcome in ("inspected", "failed"))
    assert set(recorded) == {m.name for m in store.members()}
    assert set(recorded.values()) == {1}, recorded
    assert store.counts() == EXPECTED


def test_coordinator_killed_mid_run_resumes(fleet):
    proc = start_cli("fleet", "inspect", str(fleet), "--workers", "1", "--backend", "native", "--json")
    try:
        with FleetStore.open(fleet) as watch:
            _wait(lambda: watch.counts().get("inspected", 0) >= 3, what="three inspections")
            os.kill(proc.pid, signal.SIGKILL)  # the coordinator only; its workers die with the session below
            proc.wait(30)
    finally:
        _kill_session(proc)
    with FleetStore.open(fleet) as s:
        before = s.counts()
        assert before.get("inspected", 0) >= 3 and before != EXPECTED
        summary = run_inspect(s, EngineOptions(workers=1, backend="native"))
        assert summary.inspected + summary.failed == N + 1 - before.get("inspected", 0) - before.get("failed", 0)
        _assert_each_once(s)
        assert s.active_runs() == []


def test_worker_killed_mid_image_is_retried(fleet):
    proc = start_cli("fleet", "inspect", str(fleet), "--workers", "2", "--backend", "native", "--json")
    try:
        coordinator = psutil.Process(proc.pid)

        def image_child():  # coordinator → Dask worker process → forked child inspecting one image
            with FleetStore.open(fleet) as watch:
                if watch.counts().get("inspected", 0) < 1:
                    return None
            for worker in coordinator.children():
                for kid in worker.children():
                    with contextlib.suppress(OSError):
                        if os.getpgid(kid.pid) == kid.pid:  # the image's child leads its own group
                            return worker, kid
            return None

        worker, child = _wait(image_child, what="a worker inspecting an image")
        worker.kill()
        _wait(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, 10,
              "the image's child to die with its worker")
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    finally:
        _kill_session(proc)
    with FleetStore.open(fleet) as s:
        _assert_each_once(s)
    assert json.loads(out)["counts"] == EXPECTED


def test_two_runs_at_once_cooperate(fleet):
    runs = [start_cli("fleet", "inspect", str(fleet), "--workers", "1", "--backend", "native", "--json")
            for _ in range(2)]
    try:
        outs = [json.loads(p.communicate(timeout=300)[0] or "{}") for p in runs]
        assert [p.returncode for p in runs] == [0, 0], [p.stderr for p in runs]
    finally:
        for p in runs:
            _kill_session(p)
    assert sum(o["inspected"] + o["failed"] for o in outs) == N + 1
    with FleetStore.open(fleet) as s:
        _assert_each_once(s)
        assert set(s.attempts().values()) == {1}
