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
