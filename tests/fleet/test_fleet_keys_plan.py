"""Keys for `fleet plan`, `fleet convert` and `fleet run` (docs/keys.md, "Fleets"): they reopen each
member's image, so an encrypted member needs its keys again (keys are never stored).

The fleet of tests/fleet/test_fleet_keys.py (the units sample's overlay and a Debian-looking root inside
LUKS1, built here with host tools in ~3 s), run as a user runs it (`migrate fleet …` subprocesses):
inspected with keys, then planned without them (the LUKS member is its own failed row, EncryptedVolume
15, saying how to give its key; the plain member is planned), then planned and converted with keys
(the LUKS member planned, its stack written). The passphrase must then be nowhere: no file of the
fleet (fleet.db and its WAL included), TMPDIR, stdout, stderr, nor the argv or environment of any
process while plan and convert ran (the spawned pool processes get their member's keys pickled over
the pool's pipe).
"""

from __future__ import annotations

import json
import pickle

import pytest

from migrate.errors import EXIT_CODES
from tests.fleet.test_fleet_keys import PASSPHRASE, assert_nowhere, fleet_cli, luks_disk, make_fleet, members
from tests.procwatch import Watch

__all__ = ["luks_disk"]  # the module fixture, shared with test_fleet_keys.py


def test_plan_and_convert_tasks_carry_only_their_members_keys_redacted(tmp_path):
    """Each member's task holds the keys that may open it (its own and the fleet-wide ones), never another
    member's; the task's repr shows none, and it crosses to the pool process pickled, whole."""
    from migrate.fleet.convert import _member_task, _unpack
    from migrate.fleet.keys import fleet_keys
    from migrate.model.fleet import FleetMember

    keys = fleet_keys(["db@all:key:pw-db", "web@/dev/sda2:key:pw-web"], "pw-everyone\n")
    db = _member_task(tmp_path, FleetMember(name="db", image="/i/db.qcow2"), "native", keys)
    other = _member_task(tmp_path, FleetMember(name="other", image="/i/o.qcow2"), "native", keys)
    assert "pw-" not in repr(db) + str(db) + repr(other)
    root, member, backend, ks = _unpack(pickle.loads(pickle.dumps(db)))
    assert (root, member.name, backend) == (tmp_path, "db", "native")
    assert ks.candidates(["/dev/sda2"], None) == [b"pw-db", b"pw-everyone"]
    assert _unpack(other)[3].candidates(["/dev/sda2"], None) == [b"pw-everyone"]
    assert _member_task(tmp_path, FleetMember(name="db", image="/i"), "native", None)[3] is None


@pytest.mark.image  # builds a LUKS disk with mkfs, sfdisk and cryptsetup; runs a Dask LocalCluster and pools
def test_encrypted_member_is_planned_and_converted_with_its_keys_and_the_key_is_nowhere(tmp_path, units_images,
                                                                                        luks_disk):
    tmp = tmp_path / "tmp"
    fleet = make_fleet(tmp_path, units_images["base"], luks_disk, "fleet")
    outputs: list[str] = []

    def cli(*args: str, stdin: str = "") -> tuple[int, str, str]:
        code, out, err = fleet_cli(*args, stdin=stdin, tmpdir=tmp)
        outputs.extend((out, err))
        return code, out, err

    code, _, err = cli("inspect", str(fleet), "--workers", "2", "--backend", "native", "--json",
                       "--keys-from-stdin", stdin=PASSPHRASE + "\n")
    assert code == 0, err
    assert {n: m["state"] for n, m in members(fleet, tmp).items()} == {"crypt": "inspected", "plain01": "inspected"}

    # without keys: the encrypted member is its own failed row, saying how to give its key; the other is planned
    code, out, err = cli("plan", str(fleet), "--backend", "native", "--workers", "2", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["planned"], doc["failed"]) == (["plain01"], ["crypt"]), doc
    crypt = members(fleet, tmp)["crypt"]
    assert (crypt["error"]["error_class"], crypt["error"]["exit_code"], crypt["error"]["stage"]) == \
        ("EncryptedVolume", EXIT_CODES["EncryptedVolume"], "plan") == ("EncryptedVolume", 15, "plan")
    assert "no key was given" in crypt["error"]["message"]
    assert "`fleet plan` needs them again: --key 'crypt@all:file:KEYFILE' or --keys-from-stdin" \
        in crypt["error"]["message"], crypt["error"]["message"]
    code, _, err = cli("plan", str(fleet), "--backend", "native", "--workers", "1", "--strict")
    assert code == 3 and "crypt (EncryptedVolume)" in err, err

    keyfile = tmp_path / "crypt.key"
    keyfile.write_text(PASSPHRASE + "\n")
    with Watch(PASSPHRASE.encode()) as watch:
        # with keys: the failed plan is redone (the plain member is kept), then the stacks are written
        code, out, err = cli("plan", str(fleet), "--backend", "native", "--workers", "2", "--json",
                             "--key", f"crypt@all:file:{keyfile}")
        assert code == 0, err
        doc = json.loads(out)
        assert (doc["planned"], doc["failed"], doc["kept"]) == (["crypt"], [], ["plain01"]), doc
        crypt = members(fleet, tmp)["crypt"]
        assert crypt["state"] == "planned" and crypt["error"] is None
        assert (fleet / "members" / "crypt" / "plan.yaml").is_file()
        code, out, err = cli("convert", str(fleet), "--backend", "native", "--workers", "2", "--json",
                             "--keys-from-stdin", stdin=PASSPHRASE + "\n")
        assert code == 0, err
        assert json.loads(out)["converted"] == ["crypt"], out  # plain01 (the units sample) is blocked
    assert not watch.seen, watch.seen
    rows = members(fleet, tmp)
    assert rows["crypt"]["state"] == "converted" and rows["crypt"]["error"] is None
    assert rows["plain01"]["state"] == "planned" and rows["plain01"]["error"] is None
    stack = fleet / "members" / "crypt" / "stack"
    assert (stack / "compose.yaml").is_file() and (stack / "plan.yaml").is_file()
    assert json.loads((stack / "inventory.json").read_text())["os"]["distro"] == "debian"  # the guest was read

    # keys are not stored: a convert without them redoes nothing and fails nothing
    code, out, err = cli("convert", str(fleet), "--backend", "native", "--json", "--strict")
    assert code == 0 and json.loads(out)["converted"] == [], err
    assert_nowhere(PASSPHRASE.encode(), fleet, tmp, *outputs)
    db = fleet / "fleet.db"
    assert db.is_file() and PASSPHRASE.encode() not in db.read_bytes()


def test_plan_keys_scoped_to_an_unknown_member_are_refused_before_anything_runs(tmp_path):
    """As for inspect: a MEMBER@ key naming no member is exit 2 before the fleet is held or a row changes,
    without the key's text."""
    from migrate.fleet.store import FleetStore
    from migrate.model.fleet import FleetMember

    fleet = tmp_path / "fleet"
    with FleetStore.create(fleet) as store:
        store.upsert_member(FleetMember(name="vm1", image=str(tmp_path / "vm1.img"), state="inspected",
                                        inventory_path="members/vm1/inventory.json"))
    for step in ("plan", "convert"):
        code, out, err = fleet_cli(step, str(fleet), "--key", f"nosuchvm@all:key:{PASSPHRASE}", tmpdir=tmp_path / "t")
        assert code == EXIT_CODES["UsageError"] == 2, err
        assert "MEMBER@" in err and "nosuchvm" not in err and PASSPHRASE not in out + err
    with FleetStore.open(fleet) as store:
        assert store.get("vm1").state == "inspected" and store.get("vm1").error is None
        assert store.active_runs() == []



@pytest.mark.image  # builds a LUKS disk with mkfs, sfdisk and cryptsetup; runs a Dask LocalCluster and pools
def test_fleet_run_gives_its_keys_to_every_step_and_strict_exits_3_on_a_failed_member(tmp_path, units_images,
                                                                                      luks_disk):
    """`fleet run` without keys: exit 0, the LUKS member a failed row; `--strict`: exit 3 naming it, its
    error class and step, after every step ran; `--keys-from-stdin --strict`: the keys read once reach
    inspect, plan and convert (its stack written), exit 0 (the plain member is blocked, not failed)."""
    tmp = tmp_path / "tmp"
    fleet = make_fleet(tmp_path, units_images["base"], luks_disk, "fleet")
    run = ("run", str(fleet), "--workers", "2", "--backend", "native")
    code, out, err = fleet_cli(*run, tmpdir=tmp)
    assert code == 0, err[-3000:]
    assert members(fleet, tmp)["crypt"]["error"]["error_class"] == "EncryptedVolume"
    code, out, err = fleet_cli(*run, "--strict", tmpdir=tmp)
    assert code == EXIT_CODES["FleetMembersFailed"] == 3, err[-3000:]
    assert f"{fleet}: 1 member(s) failed to inspect (--strict): crypt (EncryptedVolume in " \
           "inspect)" in err, err[-3000:]
    assert "fleet report" in err and "Traceback" not in err  # every step ran first
    with Watch(PASSPHRASE.encode()) as watch:
        code, out2, err2 = fleet_cli(*run, "--strict", "--keys-from-stdin", stdin=PASSPHRASE + "\n", tmpdir=tmp)
    assert code == 0, err2[-3000:]
    assert not watch.seen, watch.seen
    rows = members(fleet, tmp)
    assert (rows["crypt"]["state"], rows["crypt"]["error"]) == ("converted", None), rows["crypt"]
    assert (rows["plain01"]["state"], rows["plain01"]["error"]) == ("planned", None), rows["plain01"]
    assert (fleet / "members" / "crypt" / "stack" / "compose.yaml").is_file()
    assert_nowhere(PASSPHRASE.encode(), fleet, tmp, out, err, out2, err2)
