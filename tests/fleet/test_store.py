"""The fleet store: schema versions and migrations, atomic claims, leases, take-over after a crash."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import time

import pytest

from migrate.errors import EXIT_CODES, FleetBusy, FleetNotFound, FleetSchemaTooNew, OutputError
from migrate.fleet import store as store_mod
from migrate.fleet.store import MIGRATIONS, SCHEMA_VERSION, FleetStore, RunOwner, member_slug
from migrate.model.fleet import FleetMember, MemberError


def _fleet(tmp_path, n=5):
    s = FleetStore.create(tmp_path / "fleet")
    s.upsert_members([FleetMember(name=f"vm{i:02d}", image=f"/images/vm{i:02d}.qcow2") for i in range(n)])
    return s


def test_new_store_is_wal_and_current(tmp_path):
    with FleetStore.create(tmp_path / "f") as s:
        assert s.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (tmp_path / "f" / "members").is_dir()


def test_open_without_store_names_the_folder(tmp_path):
    with pytest.raises(FleetNotFound) as exc:
        FleetStore.open(tmp_path / "nothing")
    assert str(tmp_path / "nothing") in str(exc.value) and exc.value.exit_code == EXIT_CODES["FleetNotFound"] == 40


def test_store_of_schema_1_is_migrated(tmp_path):
    """A store written by the first schema (no claims, no inspection log) opens, is migrated to the
    current version in place, keeps its members, and works (claim, finish)."""
    root = tmp_path / "old"
    root.mkdir()
    db = sqlite3.connect(root / "fleet.db")
    db.executescript(MIGRATIONS[0])
    doc = FleetMember(name="legacy", owner="team-a").model_dump(mode="json", exclude={"image", "fingerprint", "state"})
    db.execute("INSERT INTO members(name, image, fingerprint, state, doc, updated) VALUES (?, ?, ?, ?, ?, ?)",
               ("legacy", "/images/legacy.vmdk", None, "pending", __import__("json").dumps(doc), time.time()))
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    with FleetStore.open(root) as s:
        assert s.schema_version == SCHEMA_VERSION > 1
        [m] = s.members()
        assert (m.name, m.owner, m.image, m.state) == ("legacy", "team-a", "/images/legacy.vmdk", "pending")
        owner = RunOwner.current()
        claimed = s.claim_next(owner)
        assert claimed is not None and claimed.name == "legacy"
        assert s.mark_done(claimed.model_copy(update={"fingerprint": "fp1:x"}), owner)
        assert s.attempts() == {"legacy": 1} and [r.outcome for r in s.inspections()] == ["inspected"]


def test_store_of_a_newer_schema_is_refused(tmp_path):
    FleetStore.create(tmp_path / "f").close()
    db = sqlite3.connect(tmp_path / "f" / "fleet.db")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(FleetSchemaTooNew) as exc:
        FleetStore.open(tmp_path / "f")
    assert exc.value.exit_code == 44


def test_store_file_that_is_a_symlink_is_refused(tmp_path):
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "fleet.db").symlink_to(tmp_path / "elsewhere.db")
    for make in (FleetStore.open, FleetStore.create):
        with pytest.raises(OutputError):
            make(tmp_path / "f")
    assert not (tmp_path / "elsewhere.db").exists()


def test_claims_leases_and_results(tmp_path):
    s = _fleet(tmp_path, 3)
    a, b = RunOwner.current(), RunOwner.current()
    first = s.claim_next(a, lease=60)
    second = s.claim_next(b, lease=0.05)
    assert first and second and first.name != second.name
    # only the holder records a result
    assert not s.mark_done(first, b)
    assert s.mark_done(first.model_copy(update={"fingerprint": "fp1:a"}), a)
    assert not s.mark_done(first, a)  # finished once
    # b's lease lapses without a heartbeat: a takes the member over, b's late result is dropped
    time.sleep(0.1)
    third = s.claim_next(a)
    assert third.name == second.name
    assert not s.mark_failed(second, b, MemberError(error_class="CorruptImage", exit_code=12, message="x"))
    assert s.mark_failed(third, a, MemberError(error_class="CorruptImage", exit_code=12, message="x"))
    assert s.claim_next(a).name == "vm02" and s.claim_next(a) is None
    assert s.attempts() == {"vm00": 1, "vm01": 2, "vm02": 1}
    assert s.get("vm01").error.exit_code == 12
    assert [(r.member, r.outcome) for r in s.inspections()] == [("vm00", "inspected"), ("vm01", "failed")]


def test_end_run_gives_claims_back(tmp_path):
    s = _fleet(tmp_path, 2)
    owner = RunOwner.current()
    s.register_run(owner)
    s.claim_next(owner)
    assert s.counts() == {"inspecting": 1, "pending": 1}
    s.end_run(owner)
    assert s.counts() == {"pending": 2} and s.active_runs() == []


def test_claims_of_a_dead_process_are_taken_over_at_once(tmp_path):
    """A run killed with -9 leaves claims under a long lease; its process is gone, so the next run
    releases them without waiting for the lease (a pid reused by another process does not count)."""
    s = _fleet(tmp_path, 2)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        import psutil

        dead = RunOwner(RunOwner.current().host, proc.pid, psutil.Process(proc.pid).create_time(), "deadbeef")
        s.register_run(dead)
        s.claim_next(dead, lease=3600)
        assert s.reap_dead() == 0  # still alive
    finally:
        proc.kill()
        proc.wait()
    assert s.reap_dead() == 1
    assert s.counts() == {"pending": 2} and s.active_runs() == []
    reused = RunOwner(RunOwner.current().host, RunOwner.current().pid, 12345.0, "beefdead")  # live pid, other start
    assert RunOwner.is_dead(reused.id)
    assert not RunOwner.is_dead(RunOwner("some-other-host", 1, 1.0, "x").id)  # judged by its lease only


def _claim_all(path, out):  # a separate process claiming as fast as it can
    s = FleetStore.open(path)
    owner = RunOwner.current()
    names = []
    while (m := s.claim_next(owner)) is not None:
        names.append(m.name)
    out.put(names)


def test_concurrent_claims_never_overlap(tmp_path):
    s = _fleet(tmp_path, 60)
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(s.root, q)) for _ in range(3)]
    for p in procs:
        p.start()
    got = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    flat = [n for names in got for n in names]
    assert sorted(flat) == sorted(m.name for m in s.members()) and len(flat) == len(set(flat)) == 60
    assert set(s.attempts().values()) == {1}


def test_a_write_is_all_or_nothing(tmp_path):
    s = _fleet(tmp_path, 1)
    with pytest.raises(RuntimeError), s.transaction():
        s.upsert_members([FleetMember(name="new1"), FleetMember(name="new2")])
        raise RuntimeError("crash in the middle")
    assert [m.name for m in s.members()] == ["vm00"]


def test_a_store_locked_too_long_is_a_clear_error(tmp_path, monkeypatch):
    s = _fleet(tmp_path, 1)
    other = sqlite3.connect(s.root / "fleet.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        monkeypatch.setattr(store_mod, "BUSY_TIMEOUT_MS", 200)
        s._db.execute("PRAGMA busy_timeout=200")
        with pytest.raises(FleetBusy) as exc:
            s.claim_next(RunOwner.current())
        assert exc.value.exit_code == 43 and "fleet.db" in str(exc.value)
    finally:
        other.execute("ROLLBACK")


def test_member_folders_are_safe_names():
    assert member_slug("web01") == "web01"
    for hostile in ("../../etc", "a/b", "..", ".hidden", "x\ny", "Ünïcode vm"):
        slug = member_slug(hostile)
        assert "/" not in slug and not slug.startswith(".") and "\n" not in slug
    assert member_slug("a/b") != member_slug("a_b")


# -- the fleet held by a plan/convert run (FleetStore.register_run / hold) -------------------------


def _sleeper():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def _owner_of(proc, host=None):
    import psutil

    return RunOwner(host or RunOwner.current().host, proc.pid, psutil.Process(proc.pid).create_time(), "0ther")


def test_plan_and_convert_hold_the_fleet_alone(tmp_path):
    """A live convert run (a real process) keeps every other run out with FleetInUse (exit 43) naming
    the fleet, the command, its pid, host and start; once its process is gone the next run takes over
    at once, whatever its lease said."""
    from migrate.errors import FleetInUse

    s = _fleet(tmp_path, 2)
    proc = _sleeper()
    try:
        other = _owner_of(proc)
        s.register_run(other, "convert")
        for command in ("plan", "convert", "inspect"):
            with pytest.raises(FleetInUse) as info:
                s.register_run(RunOwner.current(), command)
            text = str(info.value)
            want = f"{s.root}: fleet in use by `migrate fleet convert` (pid {proc.pid} on {other.host}, since 20"
            assert text.startswith(want), text
            assert info.value.exit_code == 43 == EXIT_CODES["FleetInUse"]
        assert s.active_runs() == [other.id]
    finally:
        proc.kill()
        proc.wait()
    me = RunOwner.current()
    s.register_run(me, "plan")
    assert s.active_runs() == [me.id]
    s.end_run(me)


def test_inspect_runs_share_the_fleet_with_each_other_only(tmp_path):
    from migrate.errors import FleetInUse

    s = _fleet(tmp_path, 3)
    proc = _sleeper()
    try:
        other = _owner_of(proc)
        s.register_run(other, "inspect")
        s.claim_next(other, lease=3600)
        me = RunOwner.current()
        s.register_run(me, "inspect")  # cooperates: claims keep them apart
        assert sorted(s.active_runs()) == sorted([other.id, me.id])
        s.end_run(me)
        with pytest.raises(FleetInUse, match=r"`migrate fleet inspect` \(pid \d+ .*`fleet plan` runs alone"):
            s.register_run(RunOwner.current(), "plan")
    finally:
        proc.kill()
        proc.wait()
    me = RunOwner.current()
    s.register_run(me, "convert")  # the dead inspect's row and its claim are dropped in the same step
    assert s.counts() == {"pending": 3} and s.active_runs() == [me.id]


def test_a_run_on_another_host_holds_the_fleet_while_its_heartbeat_is_fresh(tmp_path):
    from migrate.errors import FleetInUse

    s = _fleet(tmp_path, 1)
    remote = RunOwner("other-host.example", 4242, 1000.0, "remote")
    s.register_run(remote, "convert")
    with pytest.raises(FleetInUse, match="pid 4242 on other-host.example"):
        s.register_run(RunOwner.current(), "convert", lease=60)
    s._db.execute("UPDATE runs SET heartbeat=heartbeat-61 WHERE owner=?", (remote.id,))
    me = RunOwner.current()
    s.register_run(me, "convert", lease=60)  # no heartbeat for a lease: stale
    assert s.active_runs() == [me.id]


def test_hold_beats_nests_and_ends(tmp_path):
    s = _fleet(tmp_path, 1)
    with s.hold("convert", lease=0.4) as owner:
        with s.hold("plan") as inner:
            assert inner == owner  # joins the outer hold
        first = s._db.execute("SELECT heartbeat FROM runs WHERE owner=?", (owner.id,)).fetchone()[0]
        time.sleep(0.5)
        later = s._db.execute("SELECT heartbeat FROM runs WHERE owner=?", (owner.id,)).fetchone()[0]
        assert later > first  # the heartbeat thread renews it every lease/4
        assert s.active_runs() == [owner.id]
    assert s.active_runs() == []
    with pytest.raises(RuntimeError), s.hold("plan"):
        raise RuntimeError("a failed step")
    assert s.active_runs() == []
