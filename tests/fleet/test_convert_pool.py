"""The runner of plan/convert member tasks (migrate.fleet.convert._on_members) when a pool process dies:
real spawned processes, a stand-in task (converting a real member takes seconds; test_fleet_lock.py
kills a real convert's pool process). A member whose process dies every time is its own failed row;
the others are done, each recorded once."""

from __future__ import annotations

import os
import signal

from migrate.fleet.convert import FleetStepResult, _convert_failed, _on_members
from migrate.fleet.store import FleetStore
from migrate.model.fleet import FleetMember


def _task(item: tuple[str, str, str]) -> str:
    m = FleetMember.model_validate_json(item[1])
    if m.name == "killer":
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would, every time
    return m.model_copy(update={"state": "converted"}).model_dump_json()


def test_a_member_that_kills_its_process_is_its_own_failed_row(tmp_path):
    names = ["a1", "a2", "killer", "z1", "z2"]
    with FleetStore.create(tmp_path / "fleet") as store:
        store.upsert_members([FleetMember(name=n, image=f"/images/{n}.qcow2", state="planned") for n in names])
        todo = [(str(store.root), m.model_dump_json(), "native") for m in store.members()]
        res, said = FleetStepResult(), []
        _on_members(store, _task, todo, 2, res, said.append, "convert", failed=_convert_failed,
                    ok=lambda m: m.state == "converted", say=lambda m: m.state)
        assert res.done == ["a1", "a2", "z1", "z2"] and res.failed == ["killer"]
        killer = store.get("killer")
        assert killer.state == "planned" and killer.error.error_class == "ResourceBudgetExceeded"
        assert killer.error.exit_code == 32 and killer.error.stage == "convert"
        assert store.counts() == {"converted": 4, "planned": 1}
        recorded = [line.split(":")[0] for line in said if line.startswith("convert ") and ": " in line]
        assert sorted(recorded) == ["convert a1", "convert a2", "convert killer", "convert z1", "convert z2"]
