"""Two runs on one fleet, and kill -9, for plan and convert, with real `migrate` processes: a plan or
convert holds the fleet alone (a second run exits 43 naming the first: command, pid, host), a
killed one leaves nothing locked, no process converting on and no half-written stack, and a rerun
converts the rest only (counts equal to an uninterrupted run); a killed pool process costs the
convert nothing. `--strict` makes failed members exit 3 on inspect, plan and convert.

The fleet: app01..app03 (ready flagship clones), legacy01 (blocked) and broken01 (a truncated qcow2)
from the benchmark fleet, inspected and planned once per module and copied for each test."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys

import psutil
import pytest

from migrate.fleet.convert import plan_fleet
from migrate.fleet.engine import EngineOptions, run_inspect
from migrate.fleet.sources import add_sources
from migrate.fleet.store import FleetStore
from migrate.samples.fleet import build_fleet
from tests.fleet.smallfleet import ROOT, migrate_cli, start_cli, wait_for

pytestmark = pytest.mark.image

READY = ["app01", "app02", "app03"]
PICK = (*READY, "legacy01", "broken01")
EXPECTED = {"converted": 3, "failed": 1, "planned": 1}  # what one uninterrupted convert gives


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    bench = build_fleet()
    root = tmp_path_factory.mktemp("fleetlock") / "fleet"
    with FleetStore.create(root) as store:
        add_sources(store, [str(bench.images / f"{n}.qcow2") for n in PICK])
        run_inspect(store, EngineOptions(workers=1, backend="native", timeout=300))
        plan_fleet(store, backend="native", workers=1)
        assert sorted(m.name for m in store.members() if m.readiness == "ready") == READY
        store.checkpoint(truncate=True)
    return root


@pytest.fixture
def fleet(planned, tmp_path):
    dst = tmp_path / "fleet"
    shutil.copytree(planned, dst, symlinks=True)
    return dst


def _wait(cond, timeout=300.0, what="condition"):  # this module's patience
    return wait_for(cond, timeout, what)


def _runs(fleet):
    with FleetStore.open(fleet) as s:
        return s._db.execute("SELECT pid, command FROM runs").fetchall()


def _finish(proc, timeout=600):
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out, err


def _stacks(fleet):
    return sorted(p.parent.parent.name for p in (fleet / "members").glob("*/stack/compose.yaml"))


def _debris(fleet):
    return sorted(str(p.relative_to(fleet)) for p in (fleet / "members").glob("*/.*"))


def test_two_converts_at_once_one_converts_the_other_refuses(fleet):
    """Started together: exactly one converts (each ready member once), the other exits 43 at once,
    naming the fleet and the run that holds it, and writes nothing."""
    procs = [start_cli("fleet", "convert", str(fleet), "--backend", "native", "--workers", "1", "--json")
             for _ in range(2)]
    results = [_finish(p) for p in procs]
    codes = sorted(code for code, _o, _e in results)
    assert codes == [0, 43], [(c, e[-1500:]) for c, _o, e in results]
    (winner,) = [(p, o) for p, (c, o, _e) in zip(procs, results, strict=True) if c == 0]
    ((_c, _o, refusal),) = [r for r in results if r[0] == 43]
    assert f"{fleet}: fleet in use by `migrate fleet convert` (pid {winner[0].pid} on " in refusal, refusal
    assert "Traceback" not in refusal
    assert json.loads(winner[1])["converted"] == READY  # every ready member converted, once
    assert _stacks(fleet) == READY and _debris(fleet) == []
    with FleetStore.open(fleet) as s:
        assert s.counts() == EXPECTED and s.active_runs() == []


HOLDER = """
import sys, time
from migrate.fleet.store import FleetStore
with FleetStore.open(sys.argv[1]) as store, store.hold("convert"):
    print("holding", flush=True)
    time.sleep(300)
"""


def test_every_other_run_is_refused_while_a_convert_holds_the_fleet(fleet):
    """A process in the middle of a convert (held on purpose, so the window is not a race against a
    fast convert): plan, inspect and convert exit 43 naming it, and change nothing; once it is killed
    (-9) the next run takes the fleet over at once."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(fleet)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, start_new_session=True)
    try:
        assert holder.stdout.readline() == "holding\n"
        assert _runs(fleet) == [(holder.pid, "convert")]
        others = {argv: start_cli("fleet", argv[0], str(fleet), "--backend", "native", *argv[1:])
                  for argv in (("plan", "--again"), ("inspect", "--retry-failed", "--workers", "1"), ("convert",))}
        for argv, other in others.items():
            code, _out, err = _finish(other, timeout=120)
            assert code == 43, (argv, err[-2000:])
            assert f"{fleet}: fleet in use by `migrate fleet convert` (pid {holder.pid} on " in err, err
            assert "Traceback" not in err
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(30)
    with FleetStore.open(fleet) as s:
        assert s.counts() == {"failed": 1, "planned": 4}  # the refused runs changed nothing
    r = migrate_cli("fleet", "convert", str(fleet), "--backend", "native", "--workers", "1", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["converted"] == READY
    with FleetStore.open(fleet) as s:
        assert s.counts() == EXPECTED and s.active_runs() == []


def test_convert_killed_mid_run_then_rerun_converts_the_rest(fleet):
    """kill -9 of the coordinator after its first stack: its pool process dies with it, its run row
    does not keep the fleet locked, and the rerun converts the members not done yet, once each."""
    proc = start_cli("fleet", "convert", str(fleet), "--backend", "native", "--workers", "1", "--json")
    try:
        with FleetStore.open(fleet) as watch:
            _wait(lambda: watch.counts().get("converted", 0) >= 1, what="a first stack")
            pool = psutil.Process(proc.pid).children(recursive=True)
            os.kill(proc.pid, signal.SIGKILL)  # the coordinator alone
            proc.wait(30)
            done = sorted(m.name for m in watch.members(state="converted"))
            assert 1 <= len(done) < len(READY), done
            assert pool, "the convert started no pool process"
            # its pool processes die with it (PR_SET_PDEATHSIG): none converts on behind the next run
            _gone, alive = psutil.wait_procs(pool, timeout=10)
            assert not alive, [p.cmdline() for p in alive]
            assert [pid for pid, _cmd in _runs(fleet)] == [proc.pid]  # the dead run's row is still there
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    # what a kill in the middle of writing a stack leaves (generate writes it beside, then swaps it in)
    half = fleet / "members" / "app03" / ".stack.tmp-killed"
    half.mkdir(parents=True, exist_ok=True)
    (half / "compose.yaml").write_text("services: {}\n")
    rerun = migrate_cli("fleet", "convert", str(fleet), "--backend", "native", "--workers", "1", "--json",
                        timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    doc = json.loads(rerun.stdout)
    assert doc["converted"] == [n for n in READY if n not in done] and doc["kept"] == done
    assert _stacks(fleet) == READY and _debris(fleet) == []
    with FleetStore.open(fleet) as s:
        assert s.counts() == EXPECTED and s.active_runs() == []
    again = migrate_cli("fleet", "convert", str(fleet), "--backend", "native", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["converted"] == []  # nothing left: nothing redone


def test_a_convert_process_killed_mid_member_is_retried(fleet):
    """kill -9 of the pool process converting a member (as the OOM killer would): the convert goes on,
    runs the members without a result again one at a time, and ends as an uninterrupted run does."""
    proc = start_cli("fleet", "convert", str(fleet), "--backend", "native", "--workers", "1", "--json")
    try:
        with FleetStore.open(fleet) as watch:
            _wait(lambda: watch.counts().get("converted", 0) >= 1, what="a first stack")
        (worker,) = [p for p in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(p.cmdline())]
        worker.kill()
        code, out, err = _finish(proc)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert code == 0, err[-2000:]
    assert json.loads(out)["converted"] == READY and json.loads(out)["failed"] == {}
    assert _stacks(fleet) == READY and _debris(fleet) == []
    with FleetStore.open(fleet) as s:
        assert s.counts() == EXPECTED and s.active_runs() == []


def test_strict_makes_failed_members_an_exit_code(fleet):
    """Default: a batch that ran exits 0 with its failed rows listed; --strict: exit 3 naming how many
    failed and which, with their error class (inspect: the truncated broken01; plan and convert: a
    member whose image vanished after inspection)."""
    r = migrate_cli("fleet", "inspect", str(fleet), "--workers", "1", "--backend", "native", "--json")
    assert r.returncode == 0, r.stderr
    r = migrate_cli("fleet", "inspect", str(fleet), "--workers", "1", "--backend", "native", "--strict")
    assert r.returncode == 3, r.stderr
    assert f"{fleet}: 1 member(s) failed to inspect (--strict): broken01 (CorruptImage)" in r.stderr, r.stderr
    assert "broken01" in r.stdout  # the summary and the failed table are printed first
    with FleetStore.open(fleet) as s:  # app02's and app03's images vanish after they were inspected
        for name in ("app02", "app03"):
            m = s.get(name)
            s.upsert_member(m.model_copy(update={"image": str(fleet / f"{name}-vanished.qcow2")}))
    r = migrate_cli("fleet", "convert", str(fleet), "--backend", "native", "--workers", "1", "--json", "--strict")
    assert r.returncode == 3, r.stderr[-2000:]
    assert json.loads(r.stdout)["converted"] == ["app01"]
    assert "2 member(s) failed to convert (--strict): app02 (ImageNotFound), app03 (ImageNotFound)" in r.stderr
    r = migrate_cli("fleet", "plan", str(fleet), "--backend", "native", "--workers", "1", "--again", "--strict")
    assert r.returncode == 3, r.stderr[-2000:]
    assert "2 member(s) failed to plan (--strict): app02 (ImageNotFound), app03 (ImageNotFound)" in r.stderr
    r = migrate_cli("fleet", "plan", str(fleet), "--backend", "native", "--workers", "1")
    assert r.returncode == 0, r.stderr[-2000:]  # without --strict: the failures are rows, the run succeeded


HOLDING = """
import sys, time
from migrate.fleet.store import FleetStore
with FleetStore.open(sys.argv[1]) as store, store.hold(sys.argv[2]):
    print("holding", flush=True)
    time.sleep(300)
"""


@pytest.mark.parametrize("command", ["convert", "plan", "inspect"])
def test_fleet_add_is_refused_while_a_run_holds_the_fleet(fleet, tmp_path, command):
    """`fleet add` merges, renames and resets member rows: while a plan or convert (or an inspect, which
    writes the rows it claimed) holds the fleet, it exits 43 naming that run and changes nothing; once
    the run is gone (kill -9) the same add goes through and leaves no run behind."""
    new = tmp_path / "new"
    new.mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", new / "extra01.qcow2", "64M"], check=True)
    with FleetStore.open(fleet) as s:
        before = [(m.name, m.state, m.image) for m in s.members()]
    holder = subprocess.Popen([sys.executable, "-c", HOLDING, str(fleet), command], stdout=subprocess.PIPE,
                              text=True, cwd=ROOT, start_new_session=True)
    try:
        assert holder.stdout.readline() == "holding\n"
        r = migrate_cli("fleet", "add", str(fleet), str(new / "extra01.qcow2"), timeout=120)
        assert r.returncode == 43, r.stderr[-2000:]
        assert f"{fleet}: fleet in use by `migrate fleet {command}` (pid {holder.pid} on " in r.stderr, r.stderr
        assert "`fleet add` runs alone on a fleet" in r.stderr and "Traceback" not in r.stderr
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(30)
    with FleetStore.open(fleet) as s:
        assert [(m.name, m.state, m.image) for m in s.members()] == before
    r = migrate_cli("fleet", "add", str(fleet), str(new / "extra01.qcow2"), "--json", timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["added"] == ["extra01"]
    with FleetStore.open(fleet) as s:
        assert s.get("extra01").state == "pending" and s.active_runs() == []
