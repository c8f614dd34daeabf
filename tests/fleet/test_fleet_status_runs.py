"""`fleet status` names the runs working on a fleet (command, pid, host, since, heartbeat age), in its
table and in --json: a real process holding the fleet as a convert does, then the same process killed
with -9 (its row stays until the next run enters: shown as gone, not active)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

from migrate.fleet.store import FleetStore
from migrate.model.fleet import FleetMember
from tests.fleet.smallfleet import ROOT, migrate_cli

HOLDING = """
import sys, time
from migrate.fleet.store import FleetStore
with FleetStore.open(sys.argv[1]) as store, store.hold(sys.argv[2]):
    print("holding", flush=True)
    time.sleep(300)
"""


def _status(fleet, *args):
    r = migrate_cli("fleet", "status", str(fleet), *args, env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"})
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_status_names_the_run_holding_the_fleet_and_a_dead_one_as_gone(tmp_path):
    fleet = tmp_path / "fleet"
    with FleetStore.create(fleet) as store:
        store.upsert_member(FleetMember(name="vm1", image=str(tmp_path / "vm1.qcow2")))
    assert json.loads(_status(fleet, "--json"))["runs"] == []
    assert "Runs on this fleet" not in _status(fleet)
    t0 = time.time()
    holder = subprocess.Popen([sys.executable, "-c", HOLDING, str(fleet), "convert"], stdout=subprocess.PIPE,
                              text=True, cwd=ROOT, start_new_session=True)
    try:
        assert holder.stdout.readline() == "holding\n"
        doc = json.loads(_status(fleet, "--json"))
        assert doc["active_runs"] == 1, doc
        (run,) = doc["runs"]
        assert (run["command"], run["pid"], run["host"], run["gone"]) == ("convert", holder.pid,
                                                                         socket.gethostname(), False)
        assert 0 <= run["heartbeat_age_s"] < 60
        since = time.mktime(time.strptime(run["since"][:19], "%Y-%m-%dT%H:%M:%S"))
        assert t0 - 2 <= since <= time.time() + 1, run["since"]
        text = _status(fleet)
        assert "Runs on this fleet: 1 active" in text, text
        row = next(line for line in text.splitlines() if "fleet convert" in line)
        assert str(holder.pid) in row and socket.gethostname() in row and " s ago" in row and "active" in row, row
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(30)
        doc = json.loads(_status(fleet, "--json"))
        assert doc["active_runs"] == 0 and [(r["pid"], r["gone"]) for r in doc["runs"]] == [(holder.pid, True)]
        assert "Runs on this fleet: 0 active, 1 gone" in _status(fleet)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(30)


def test_status_counts_every_member_error_by_stage(tmp_path):
    """The errors table counts every member whose row holds an error, not only `failed` ones: a build
    error recorded by `fleet convert --build` on converted members (the real store, record_builds) and a
    plan error on an inspected member sit beside an inspect failure, by stage and error class, the same
    in the table and in --json; `fleet run --strict` names the stages found."""
    import pytest

    from migrate.cli.fleet import _fail_if_any_failed
    from migrate.errors import FleetMembersFailed
    from migrate.fleet.convert import FleetBuildResult, record_builds
    from migrate.model.fleet import MemberError

    fleet = tmp_path / "fleet"
    boom = MemberError(error_class="BuildFailed", exit_code=23, message="redis: failed at step 3/18", stage="build")
    with FleetStore.create(fleet) as store:
        store.upsert_members([
            FleetMember(name="app01", state="converted"), FleetMember(name="app02", state="converted"),
            FleetMember(name="web01", state="converted"),
            FleetMember(name="db01", state="inspected",
                        error=MemberError(error_class="EncryptedVolume", exit_code=31, message="key", stage="plan")),
            FleetMember(name="broken", state="failed",
                        error=MemberError(error_class="CorruptImage", exit_code=12, message="L1 table")),
        ])
        record_builds(store, ["app01", "app02", "web01"], FleetBuildResult(
            ["debian:bookworm-slim"], 3, 3, 1, [], {n: boom.message for n in ("app01", "app02")}, 0.1,
            {"app01": boom, "app02": boom}))
    doc = json.loads(_status(fleet, "--json"))
    assert doc["errors"] == [
        {"stage": "inspect", "error": "CorruptImage", "exit_code": 12, "members": 1},
        {"stage": "plan", "error": "EncryptedVolume", "exit_code": 31, "members": 1},
        {"stage": "build", "error": "BuildFailed", "exit_code": 23, "members": 2}]
    assert sum(e["members"] for e in doc["errors"]) == sum(1 for m in doc["members"] if m["error"])
    text = _status(fleet)
    assert "Members with errors, by stage and error" in text, text
    table = text.split("Members with errors, by stage and error")[1]
    rows = [line.split("│")[1:5] for line in table.splitlines() if line.count("│") >= 4]
    assert [[c.strip() for c in r] for r in rows] == [
        ["inspect", "CorruptImage", "12", "1"], ["plan", "EncryptedVolume", "31", "1"],
        ["build", "BuildFailed", "23", "2"]], table
    with pytest.raises(FleetMembersFailed, match=r"4 member\(s\) failed to inspect, plan or build \(--strict\): "
                                                 r"app01 \(BuildFailed in build\)"):
        _fail_if_any_failed(fleet)
    with FleetStore.open(fleet) as store:
        store.upsert_members([m.model_copy(update={"error": None}) for m in store.members()
                              if m.error and m.error.stage != "build"])
    with pytest.raises(FleetMembersFailed, match=r"2 member\(s\) failed to build \(--strict\)"):
        _fail_if_any_failed(fleet)
