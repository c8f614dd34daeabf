"""Fleet plan/convert/build on a few members of the benchmark fleet, for real: ready members become stacks
side by side, blocked and failed ones do not, a member whose plan fails is that member's failure only,
identical service images are planned (and, on the Docker engine, built) once and shared by tag, one
base image for the release. The `fleet plan|convert|waves` commands answer as documented."""

from __future__ import annotations

import json

import pytest

from migrate.fleet.convert import build_fleet_stacks, convert_fleet, plan_fleet, plan_shared_images
from migrate.fleet.engine import EngineOptions, run_inspect
from migrate.fleet.sources import add_sources
from migrate.fleet.store import FleetStore
from migrate.model.plan import Plan
from migrate.samples.fleet import build_fleet
from tests.fleet.smallfleet import make_overlays, migrate_cli

pytestmark = pytest.mark.image

PICK = ("app01", "app02", "legacy01", "broken01")


@pytest.fixture(scope="module")
def small(tmp_path_factory, units_images):
    """app01/app02 (ready flagship clones), legacy01 (blocked), broken01 (truncated) from the benchmark
    fleet, and a units overlay whose image disappears after inspection."""
    bench = build_fleet()
    tmp = tmp_path_factory.mktemp("fleetconvert")
    gone = make_overlays(tmp / "own", units_images["base"], 1, prefix="gone")[0]
    root = tmp / "fleet"
    with FleetStore.create(root) as store:
        add_sources(store, [str(bench.images / f"{n}.qcow2") for n in PICK] + [str(gone)])
        run_inspect(store, EngineOptions(workers=1, backend="native", timeout=300))
        gone.unlink()
        planned = plan_fleet(store, backend="native")
        converted = convert_fleet(store, backend="native")
        members = {m.name: m for m in store.members()}
    return root, planned, converted, members


def test_ready_members_become_stacks_side_by_side(small):
    root, planned, converted, members = small
    assert sorted(planned.done) == ["app01", "app02", "legacy01"]
    assert converted.done == ["app01", "app02"] and converted.failed == []
    for name in ("app01", "app02"):
        m = members[name]
        assert m.state == "converted" and m.readiness == "ready" and m.blockers == []
        assert m.stack_path == f"members/{name}/stack" and m.plan_path == f"members/{name}/plan.yaml"
        assert (root / m.stack_path / "compose.yaml").is_file()
        plan = Plan.load(root / m.plan_path)
        assert plan.source_vm == name
    legacy = members["legacy01"]
    assert legacy.state == "planned" and legacy.readiness == "blocked" and legacy.stack_path is None
    assert [b.split(":", 1)[0] for b in legacy.blockers] == ["specific-bind"]
    assert members["broken01"].state == "failed" and members["broken01"].error.exit_code == 12


def test_a_plan_failure_stays_with_its_member(small):
    _root, planned, _converted, members = small
    gone = members["gone01"]
    assert planned.failed == ["gone01"]
    assert gone.readiness == "failed" and gone.error is not None and gone.error.stage == "plan"
    assert gone.error.error_class == "ImageNotFound" and gone.error.exit_code == 10


def test_identical_service_images_are_planned_once(small):
    root, _p, _c, members = small
    stacks = {n: root / members[n].stack_path for n in ("app01", "app02")}
    groups = plan_shared_images(stacks, lambda _m: "debian:bookworm-slim")
    services = sum(len(g.users) for g in groups.values())
    assert services == 8 and len(groups) == 4  # nginx, postgres, redis, shop: the clones differ in labels only
    assert all(sorted(u[0] for u in g.users) == ["app01", "app02"] for g in groups.values())


@pytest.mark.docker
def test_shared_image_built_once_and_tagged_for_every_stack(small, docker_engine):
    root, _p, _c, members = small
    converted = [members["app01"], members["app02"]]
    result = build_fleet_stacks(root, converted, engine=docker_engine, services=["redis"])
    assert result.base_images == ["debian:bookworm-slim"] and not result.failed
    assert (result.stacks, result.services, result.images_built) == (2, 2, 1)
    (shared,) = result.shared
    ids = {docker_engine.image(own).id for _m, _s, own in shared.users}
    assert ids == {shared.image_id}
    labels = docker_engine.image(shared.tag).labels
    assert "com.example.docker.source-vm" not in labels  # the VMs differ there: not on the shared image
    assert labels["com.example.docker.source-service"] == "redis-server"


def test_cli_plan_convert_waves_json(small):
    root, _p, _c, _m = small
    waves = migrate_cli("fleet", "waves", str(root), "--json")
    assert waves.returncode == 0, waves.stderr
    doc = json.loads(waves.stdout)
    assert [w["members"] for w in doc["waves"]] == [["app01", "app02"], ["legacy01"], ["broken01", "gone01"]]
    assert doc["edges"] == []
    again = migrate_cli("fleet", "convert", str(root), "--member", "app02", "--backend", "native", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["converted"] == ["app02"]
    bad = migrate_cli("fleet", "plan", str(root), "--backend", "nope")
    assert bad.returncode == 2 and "unknown backend" in bad.stderr


@pytest.mark.docker
def test_a_build_failure_is_recorded_on_its_member_and_cleared_by_a_later_build(small, docker_engine):
    """A real failed build (app01's redis Dockerfile gets a step that fails, right after FROM, so the
    engine fails it in a second): app01's row holds the error (stage build) where `fleet status --json`,
    the report and `fleet run --strict` read it; app02 (its own image now) builds and keeps no error.
    Built again as generated, the row's build error is cleared."""
    from migrate.deploy import load_stack

    root, _p, _c, _members = small
    svc = load_stack(root / "members" / "app01" / "stack").services["redis"]
    dockerfile = svc.build_context / svc.dockerfile
    original = dockerfile.read_text()
    lines = original.splitlines(keepends=True)
    first_from = next(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    broken = "".join([*lines[: first_from + 1], "RUN echo 'build step fails' && exit 7\n", *lines[first_from + 1:]])
    try:
        dockerfile.write_text(broken)
        with FleetStore.open(root) as store:
            converted = [store.get("app01"), store.get("app02")]
            result = build_fleet_stacks(root, converted, engine=docker_engine, store=store)
            rows = {m.name: m for m in store.members()}
        assert set(result.failed) == {"app01"}
        err = rows["app01"].error
        assert err is not None and (err.stage, err.error_class, err.exit_code) == ("build", "BuildFailed", 23)
        assert err.message.startswith("redis: ") and "\n" not in err.message
        assert rows["app01"].state == "converted" and rows["app02"].error is None
        status = migrate_cli("fleet", "status", str(root), "--json")
        assert status.returncode == 0, status.stderr
        doc = {m["name"]: m for m in json.loads(status.stdout)["members"]}
        assert doc["app01"]["error"]["stage"] == "build" and doc["app01"]["error"]["error_class"] == "BuildFailed"
        report = migrate_cli("fleet", "report", str(root), "-o", str(root / "report-build"), "--json")
        assert report.returncode == 0, report.stderr
        html = (root / "report-build" / "report.html").read_text()
        assert "BuildFailed (exit 23): redis: " in html
        # what `fleet run --strict` runs after its steps, on the real store
        from migrate.cli.fleet import _fail_if_any_failed
        from migrate.errors import FleetMembersFailed

        with pytest.raises(FleetMembersFailed, match=r"app01 \(BuildFailed in build\)"):
            _fail_if_any_failed(root)
    finally:
        dockerfile.write_text(original)
    with FleetStore.open(root) as store:
        result = build_fleet_stacks(root, [store.get("app01")], engine=docker_engine, store=store)
        assert not result.failed
        assert store.get("app01").error is None
