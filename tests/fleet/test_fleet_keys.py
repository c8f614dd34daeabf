"""Keys for the encrypted members of a fleet (docs/keys.md, "Fleets").

A small fleet of two real guests, run as a user runs it (`migrate fleet …` subprocesses on a real Dask
LocalCluster): an overlay of the units sample, and a Debian-looking root inside LUKS1 built here with
host tools (mkfs.ext4 -d, cryptsetup, sfdisk; ~3 s). Without keys the LUKS member is one failed row
(EncryptedVolume, 15); a rerun with keys inspects it (its image is unchanged: the failure for want of a
key is what sends it back); a wrong key is its own row (WrongKey, 38), a key scoped to the member by
MEMBER@… opens it. The passphrase must then be nowhere: no file of the fleet (fleet.db and its WAL
included), TMPDIR (Dask's scratch space lives there), stdout, stderr, nor the argv or environment of
any process while the fleet ran (the Dask workers and the forked children included).
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

import pytest

from migrate.errors import EXIT_CODES
from tests.fleet.smallfleet import ROOT, make_overlays
from tests.image.builders import guest_tree, make_disk, make_ext4, make_luks1
from tests.procwatch import Watch

PASSPHRASE = "Fleet-Luks-Pass-Q7-51ad"
WRONG = "Not-The-Fleet-Key-88"
LUKS_UUID = "44444444-5555-6666-7777-888888888888"


# -- the parsing and the task (no image) ----------------------------------------------------------

def test_member_scope_and_redacted_task(tmp_path):
    from migrate.fleet.engine import EngineOptions
    from migrate.fleet.keys import fleet_keys
    from migrate.fleet.worker import InspectTask

    keyfile = tmp_path / "k"
    keyfile.write_text("from-a-file\n")
    keys = fleet_keys(["web:01@/dev/sda2:key:pw-web", f"db@{LUKS_UUID}:file:{keyfile}", "db@all:pw-db-all",
                       "pw-everyone", f"{LUKS_UUID}:key:pw-uuid"], "pw-stdin\n")
    web, db, other = keys.for_member("web:01"), keys.for_member("db"), keys.for_member("other")
    assert web is not None and db is not None and other is not None
    # a member's own keys first, then the fleet-wide ones; another member's never
    assert web.candidates(["/dev/sda2"], None) == [b"pw-web", b"pw-everyone", b"pw-stdin"]
    assert db.candidates(["/dev/sda2"], LUKS_UUID) == [b"from-a-file", b"pw-uuid", b"pw-db-all", b"pw-everyone",
                                                       b"pw-stdin"]
    assert other.candidates(["/dev/sda2"], LUKS_UUID) == [b"pw-uuid", b"pw-everyone", b"pw-stdin"]
    assert fleet_keys(["db@only"]).for_member("x") is not None  # no selector after '@': a bare passphrase
    assert fleet_keys(["db@all:key:x"]).for_member("x") is None
    task = InspectTask(name="db", image="/i", fleet_dir="/f", member_dir="members/db", keys=db)
    opts = EngineOptions(keys=keys)
    for text in (repr(task), str(task), repr(opts), repr(keys), repr(db)):
        assert "pw-" not in text and "from-a-file" not in text, text
    # the task crosses Dask's comms pickled; it arrives whole
    assert pickle.loads(pickle.dumps(task)).keys.candidates([], LUKS_UUID)[0] == b"from-a-file"


def test_the_coordinator_that_reads_keys_writes_no_core_file():
    """The workers and the plan/convert pools set RLIMIT_CORE 0; the coordinator holds the keys too."""
    import resource

    from migrate.cli.keys import fleet_keys_of

    before = resource.getrlimit(resource.RLIMIT_CORE)
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (before[1], before[1]))
        assert fleet_keys_of(None, False) is None
        assert resource.getrlimit(resource.RLIMIT_CORE)[0] == before[1]  # no keys: nothing changes
        assert fleet_keys_of(["db@all:key:pw"], False) is not None
        assert resource.getrlimit(resource.RLIMIT_CORE)[0] == 0
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, before)


def test_dask_logs_of_a_failed_task_show_no_key():
    """A Dask worker logs ``repr(run_spec)`` of a task that raised: the spec holds the InspectTask."""
    from dask._task_spec import Task

    from migrate.fleet.keys import fleet_keys
    from migrate.fleet.worker import InspectTask, inspect_member

    task = InspectTask(name="db", image="/i", fleet_dir="/f", member_dir="members/db",
                       keys=fleet_keys(["db@all:key:pw-secret"]).for_member("db"))
    assert "pw-secret" not in repr(Task("inspect-db", inspect_member, task))


# -- a real fleet -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def luks_disk(tmp_path_factory) -> Path:
    """A Debian-looking root inside LUKS1 on partition 2 (fstab names it by its crypttab name)."""
    work = tmp_path_factory.mktemp("fleet-luks")
    tree = guest_tree(work / "root")
    (tree / "etc/fstab").write_text("/dev/mapper/cryptroot / ext4 defaults 0 1\n")
    (tree / "etc/crypttab").write_text(f"cryptroot UUID={LUKS_UUID} none luks\n")
    root = make_ext4(work / "root.img", tree, 24)
    luks = make_luks1(work / "luks.img", root, PASSPHRASE.encode(), uuid=LUKS_UUID)
    return make_disk(work / "disk.raw", 40, [(8, None, "linux"), (28, luks, "linux")])


def fleet_cli(*args: str, stdin: str = "", tmpdir: Path) -> tuple[int, str, str]:
    import subprocess

    tmpdir.mkdir(exist_ok=True)
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TMPDIR": str(tmpdir)}
    p = subprocess.run([sys.executable, "-m", "migrate", "fleet", *args], capture_output=True, text=True, env=env,
                       timeout=600, cwd=ROOT, input=stdin)
    return p.returncode, p.stdout, p.stderr


def make_fleet(tmp_path: Path, base: Path, luks_disk: Path, name: str) -> Path:
    images = tmp_path / f"images-{name}"
    [plain] = make_overlays(images, base, 1, prefix="plain")
    crypt = images / "crypt.raw"
    try:
        os.link(luks_disk, crypt)
    except OSError:
        crypt.write_bytes(luks_disk.read_bytes())
    fleet = tmp_path / name
    code, _, err = fleet_cli("add", str(fleet), str(plain), str(crypt), tmpdir=tmp_path / "tmp")
    assert code == 0, err
    return fleet


def members(fleet: Path, tmpdir: Path) -> dict[str, dict]:
    code, out, err = fleet_cli("status", str(fleet), "--json", tmpdir=tmpdir)
    assert code == 0, err
    return {m["name"]: m for m in json.loads(out)["members"]}


def assert_nowhere(needle: bytes, *places: Path | str) -> None:
    checked = 0
    for place in places:
        if isinstance(place, str):
            blobs = [(place[:60], place.encode())]
        else:
            blobs = [(str(f), f.read_bytes()) for f in sorted(place.rglob("*")) if f.is_file() and not f.is_symlink()]
        for name, data in blobs:
            checked += 1
            assert needle not in data, f"the key is in {name}"
    assert checked


@pytest.mark.image  # builds a LUKS disk with mkfs, sfdisk and cryptsetup; runs a Dask LocalCluster
def test_encrypted_member_fails_then_opens_with_keys_and_the_key_is_nowhere(tmp_path, units_images, luks_disk):
    tmp = tmp_path / "tmp"
    fleet = make_fleet(tmp_path, units_images["base"], luks_disk, "fleet")
    code, out, err = fleet_cli("inspect", str(fleet), "--workers", "2", "--backend", "native", "--json", tmpdir=tmp)
    assert code == 0, err
    rows = members(fleet, tmp)
    assert rows["plain01"]["state"] == "inspected"
    assert rows["crypt"]["state"] == "failed"
    assert (rows["crypt"]["error"]["error_class"], rows["crypt"]["error"]["exit_code"]) == \
        ("EncryptedVolume", EXIT_CODES["EncryptedVolume"]) == ("EncryptedVolume", 15)
    assert "/dev/sda2" in rows["crypt"]["error"]["message"]

    with Watch(PASSPHRASE.encode()) as watch:
        # an unchanged image that failed for want of a key is inspected again now that keys are given;
        # the plain member is not redone
        code2, out2, err2 = fleet_cli("inspect", str(fleet), "--workers", "2", "--backend", "native", "--json",
                                      "--keys-from-stdin", stdin=f"{WRONG}\n{PASSPHRASE}\n", tmpdir=tmp)
    assert code2 == 0, err2
    summary = json.loads(out2)
    assert (summary["inspected"], summary["failed"], summary["unchanged"]) == (1, 0, 0), summary
    rows = members(fleet, tmp)
    crypt = rows["crypt"]
    assert crypt["state"] == "inspected" and crypt["error"] is None
    inv = json.loads((fleet / "members" / "crypt" / "inventory.json").read_text())
    assert inv["os"]["distro"] == "debian"
    assert not watch.seen, watch.seen

    # keys are never stored: a rerun without them leaves the inspected member alone (unchanged image)
    code3, out3, err3 = fleet_cli("inspect", str(fleet), "--json", tmpdir=tmp)
    assert code3 == 0 and json.loads(out3)["inspected"] == 0, err3
    assert_nowhere(PASSPHRASE.encode(), fleet, tmp, out, err, out2, err2, out3, err3)
    db = fleet / "fleet.db"
    assert db.is_file() and PASSPHRASE.encode() not in db.read_bytes()


@pytest.mark.image  # builds a LUKS disk with mkfs, sfdisk and cryptsetup; runs a Dask LocalCluster
def test_wrong_key_is_that_members_row_and_a_member_scoped_key_opens_it(tmp_path, units_images, luks_disk):
    tmp = tmp_path / "tmp"
    fleet = make_fleet(tmp_path, units_images["base"], luks_disk, "fleet2")
    code, out, err = fleet_cli("inspect", str(fleet), "--workers", "2", "--backend", "native",
                               "--key", f"crypt@/dev/sda2:key:{WRONG}", tmpdir=tmp)
    assert code == 0, err
    rows = members(fleet, tmp)
    assert rows["plain01"]["state"] == "inspected"
    err_row = rows["crypt"]["error"]
    assert (err_row["error_class"], err_row["exit_code"]) == ("WrongKey", EXIT_CODES["WrongKey"]) == ("WrongKey", 38)
    assert WRONG not in out + err + json.dumps(rows)

    # the right key, scoped to the member by its LUKS UUID, from a key file
    keyfile = tmp_path / "crypt.key"
    keyfile.write_text(PASSPHRASE + "\n")
    code2, out2, err2 = fleet_cli("inspect", str(fleet), "--workers", "1", "--backend", "native",
                                  "--key", f"crypt@{LUKS_UUID}:file:{keyfile}", tmpdir=tmp)
    assert code2 == 0, err2
    assert members(fleet, tmp)["crypt"]["state"] == "inspected"
    for needle in (PASSPHRASE.encode(), WRONG.encode()):
        assert_nowhere(needle, fleet, tmp, out, err, out2, err2)


def test_keys_refused_before_anything_runs(tmp_path):
    """Keys with a scheduler that is not tls:// (they would cross the network in the clear), or scoped to
    a member the fleet does not have: refused with their exit code before a cluster is contacted,
    without the key's text in the message."""
    from migrate.fleet.store import FleetStore
    from migrate.model.fleet import FleetMember

    fleet = tmp_path / "fleet"
    with FleetStore.create(fleet) as store:
        store.upsert_member(FleetMember(name="vm1", image=str(tmp_path / "vm1.img")))
    tmp = tmp_path / "tmp"
    code, out, err = fleet_cli("inspect", str(fleet), "--scheduler", "tcp://127.0.0.1:9", "--keys-from-stdin",
                               stdin=PASSPHRASE + "\n", tmpdir=tmp)
    assert code == EXIT_CODES["KeysNeedTls"] == 37, err
    assert "tls://" in err and "Traceback" not in err and PASSPHRASE not in out + err
    code, out, err = fleet_cli("inspect", str(fleet), "--key", f"nosuchvm@all:key:{PASSPHRASE}", tmpdir=tmp)
    assert code == EXIT_CODES["UsageError"] == 2, err
    assert "MEMBER@" in err and "nosuchvm" not in err and PASSPHRASE not in out + err
    with FleetStore.open(fleet) as store:
        assert store.get("vm1").state == "pending" and not store.inspections()
