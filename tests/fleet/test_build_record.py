"""How `fleet convert --build` writes its outcome into member rows (migrate.fleet.convert.record_builds), on
the real SQLite store; the real failing build on the Docker engine is in test_fleet_convert.py. A build
failure is the member's error (stage build), a later whole build clears it, a build of a service subset
does not, and an earlier step's error is never overwritten."""

from __future__ import annotations

from migrate.fleet.convert import FleetBuildResult, record_builds
from migrate.fleet.store import FleetStore
from migrate.model.fleet import FleetMember, MemberError


def _result(errors: dict[str, MemberError]) -> FleetBuildResult:
    return FleetBuildResult(["debian:bookworm-slim"], 3, 3, 3 - len(errors), [],
                            {n: e.message for n, e in errors.items()}, 0.1, errors)


def test_build_errors_are_recorded_and_cleared(tmp_path):
    boom = MemberError(error_class="BuildFailed", exit_code=23, message="redis: failed at step 3/18", stage="build")
    convert_err = MemberError(error_class="GenerateError", exit_code=20, message="x", stage="convert")
    with FleetStore.create(tmp_path / "fleet") as store:
        store.upsert_members([FleetMember(name="a", state="converted"), FleetMember(name="b", state="converted"),
                              FleetMember(name="c", state="converted", error=convert_err)])
        assert record_builds(store, ["a", "b", "c"], _result({"a": boom, "c": boom})) == ["a"]
        assert store.get("a").error == boom and store.get("a").state == "converted"
        assert store.get("b").error is None and store.get("c").error == convert_err
        # a build of some services only says nothing of the others: the error stays
        assert record_builds(store, ["a"], _result({}), whole=False) == []
        assert store.get("a").error == boom
        assert record_builds(store, ["a", "b", "c"], _result({})) == ["a"]
        assert store.get("a").error is None and store.get("c").error == convert_err
