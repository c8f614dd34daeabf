"""Adding sources: images found by content (not extension) under directories and globs, chain members
left to their image, manifests whose paths cannot reach host files, RVTools rows matched to images."""

from __future__ import annotations

import os
import subprocess

import pytest

from migrate.errors import FleetSourceInvalid, FleetSourceOutside
from migrate.fleet.sources import add_sources, read_sources
from migrate.fleet.store import FleetStore
from tests.fleet.smallfleet import migrate_cli
from tests.fleet.test_rvtools import HEADER, ROWS, _csv
from tests.security.audit import recording_opens

pytestmark = pytest.mark.image  # makes small disk images with qemu-img


def _qcow2(path, size="16M", backing=None):
    cmd = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing:
        cmd += ["-b", backing, "-F", "qcow2"]
    subprocess.run([*cmd, str(path), *([] if backing else [size])], check=True, cwd=path.parent)
    return path


@pytest.fixture
def datastore(tmp_path):
    """A datastore folder as exports leave them: a qcow2 chain, a VMDK descriptor with its flat
    extent, an image without extension, and files that only look like images by name."""
    d = tmp_path / "datastore"
    (d / "web01").mkdir(parents=True)
    _qcow2(d / "web01" / "base.qcow2")
    _qcow2(d / "web01" / "web01.qcow2", backing="base.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat",
                    str(d / "db01.vmdk"), "8M"], check=True)
    with open(d / "db01-flat.vmdk", "r+b") as fh:  # an MBR signature: on its own it would pass for a raw disk
        fh.seek(510)
        fh.write(b"\x55\xaa")
    _qcow2(d / "noext")  # no extension: found by its magic
    (d / "notes.qcow2").write_bytes(os.urandom(4096))  # named like an image, is not one
    (d / "blank.img").write_bytes(b"\0" * 65536)  # zeros: a blank disk, not a VM
    (d / "vm.log").write_text("log\n")
    return d


def test_directory_scan_by_content(datastore, tmp_path):
    with FleetStore.create(tmp_path / "fleet") as s:
        result = add_sources(s, [str(datastore)])
        members = {m.name: m for m in s.members()}
    assert sorted(members) == ["db01", "noext", "web01"]
    assert members["web01"].image == str(datastore / "web01" / "web01.qcow2")
    assert members["db01"].image == str(datastore / "db01.vmdk")  # the descriptor, not its -flat extent
    assert all(m.state == "pending" and m.sources[0].kind == "image" for m in members.values())
    assert any("base.qcow2" in n for n in result.notes) and any("db01-flat.vmdk" in n for n in result.notes)


def test_rescan_adds_nothing_twice_and_globs(datastore, tmp_path):
    with FleetStore.create(tmp_path / "fleet") as s:
        add_sources(s, [str(datastore)])
        again = add_sources(s, [str(datastore / "**" / "*.qcow2")])
        assert again.added == [] and len(s.members()) == 3


def test_symlink_out_of_a_scanned_directory_is_not_followed(datastore, tmp_path):
    outside = _qcow2(tmp_path / "private.qcow2")
    (datastore / "link.qcow2").symlink_to(outside)
    with FleetStore.create(tmp_path / "fleet") as s:
        result = add_sources(s, [str(datastore)])
        assert "private" not in {m.name for m in s.members()} and "link" not in {m.name for m in s.members()}
    assert (str(datastore / "link.qcow2"), "symbolic link out of the directory") in result.skipped


def test_same_stem_twice_gets_distinct_names(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        _qcow2(tmp_path / sub / "disk.qcow2")
    with FleetStore.create(tmp_path / "fleet") as s:
        add_sources(s, [str(tmp_path / "a"), str(tmp_path / "b")])
        names = sorted(m.name for m in s.members())
    assert len(names) == 2 and names[0] == "disk"


def _manifest(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_manifest_names_owners_and_confinement(datastore, tmp_path):
    m = _manifest(datastore / "manifest.csv", [
        "name,path,owner,environment,wave,comment",
        "Web-Frontend,web01/web01.qcow2,team-web,prod,1,extra columns are ignored",
        "legacy-erp,,team-erp,prod,2,disk not exported yet",
    ])
    with FleetStore.create(tmp_path / "fleet") as s:
        add_sources(s, [str(datastore)])  # first found by scanning, under its stem
        add_sources(s, [], manifest=m)
        members = {x.name: x for x in s.members()}
    assert "web01" not in members  # the manifest names it now
    web = members["Web-Frontend"]
    assert (web.image, web.owner, web.environment, web.wave_hint) == (
        str(datastore / "web01" / "web01.qcow2"), "team-web", "prod", "1")
    assert {r.kind for r in web.sources} == {"image", "manifest"}
    assert members["legacy-erp"].state == "no-image" and members["legacy-erp"].image is None


@pytest.mark.parametrize("target", ["/etc/shadow", "../outside.qcow2", "escape-link"])
def test_manifest_cannot_name_host_files(datastore, tmp_path, target):
    outside = _qcow2(tmp_path / "outside.qcow2")
    (datastore / "escape-link").symlink_to(outside)
    m = _manifest(datastore / "manifest.csv", ["path,name", f"{target},victim"])
    with recording_opens() as opened, pytest.raises(FleetSourceOutside) as exc:
        read_sources([], manifest=m)
    assert exc.value.exit_code == 42 and "row 2" in str(exc.value) and str(m) in str(exc.value)
    assert not [p for p in opened if p in ("/etc/shadow", str(outside))], opened
    # the user may widen the rule for a folder they name (not for /etc)
    if target != "/etc/shadow":
        src = read_sources([], manifest=m, allow_dirs=[tmp_path])
        assert src.rows[0].image == str(outside)


@pytest.mark.parametrize(("lines", "words"), [
    (["name,owner", "a,b"], "required column 'path'"),
    (["path,owner", "x.qcow2,b"], "required column 'name'"),
    (["path,name", "noext,a", "noext,A"], "row 3: 'noext' is already the disk of row 2"),
    (["path,name", "noext,a", ",a"], "row 3: name 'a' repeats row 2"),
    (["path,name", "vm.log,a"], "row 2: 'vm.log' is not a disk image"),
    (["path,name", "missing.qcow2,a"], "row 2: 'missing.qcow2' does not exist"),
])
def test_manifest_errors_name_the_file(datastore, lines, words):
    m = _manifest(datastore / "manifest.csv", lines)
    with pytest.raises(FleetSourceInvalid) as exc:
        read_sources([], manifest=m)
    assert words in str(exc.value) and str(m) in str(exc.value) and exc.value.exit_code == 41


def test_rvtools_rows_match_images_case_insensitively(datastore, tmp_path):
    rows = [list(r) for r in ROWS]
    rows[0][0] = "WEB01"  # the image's stem in other case
    rv = _csv(tmp_path / "vinfo.csv", HEADER, rows)
    with FleetStore.create(tmp_path / "fleet") as s:
        add_sources(s, [str(datastore)], rvtools=rv)
        members = {x.name: x for x in s.members()}
        assert s.counts() == {"pending": 3}
    assert members["web01"].sizing.cpus == 2 and members["web01"].sizing.vm == "WEB01"
    assert members["db01"].sizing.memory_mib == 8192  # RVTools' DB01 is db01.vmdk: one member
    assert {r.kind for r in members["db01"].sources} == {"image", "rvtools"}
    rows.append(["app07", *rows[1][1:]])  # a VM whose disks were not exported
    with FleetStore.open(tmp_path / "fleet") as s:
        add_sources(s, [], rvtools=_csv(tmp_path / "vinfo2.csv", HEADER, rows))
        assert s.counts() == {"no-image": 1, "pending": 3} and s.get("APP07").state == "no-image"


def test_rvtools_first_then_images_attach_to_the_sized_rows(datastore, tmp_path):
    rv = _csv(tmp_path / "vinfo.csv")
    with FleetStore.create(tmp_path / "fleet") as s:
        add_sources(s, [], rvtools=rv)
        assert s.counts() == {"no-image": 2}
        add_sources(s, [str(datastore / "db01.vmdk")])
        db = s.get("db01")
    assert db.name == "DB01" and db.state == "pending" and db.sizing.cpus == 4 and db.image.endswith("db01.vmdk")


def test_cli_add_and_status(datastore, tmp_path):
    fleet = tmp_path / "fleet"
    proc = migrate_cli("fleet", "add", str(fleet), str(datastore), "--json")
    assert proc.returncode == 0, proc.stderr
    assert '"pending": 3' in proc.stdout
    proc = migrate_cli("fleet", "status", str(fleet), "--json")
    assert proc.returncode == 0 and '"total": 3' in proc.stdout
    proc = migrate_cli("fleet", "add", str(fleet), "--manifest", str(_manifest(datastore / "m.csv", ["path,name",
                                                                                                "/etc/passwd,x"])))
    assert proc.returncode == 42 and "outside the allowed folders" in proc.stderr and "Traceback" not in proc.stderr
    proc = migrate_cli("fleet", "add", str(tmp_path / "other"), str(datastore / "typo"))
    assert proc.returncode == 10 and "typo" in proc.stderr and not (tmp_path / "other").exists()


def test_manifest_groups_the_disks_of_one_vm(datastore, tmp_path):
    """Rows naming one VM are its disks in order; a disk found by scanning before stops being a VM."""
    _qcow2(datastore / "erp-data.qcow2")
    m = _manifest(datastore / "manifest.csv", ["path,name,owner", "noext,erp,team-erp", "erp-data.qcow2,erp,"])
    with FleetStore.create(tmp_path / "fleet") as s:
        add_sources(s, [str(datastore)])
        assert {"noext", "erp-data"} <= {x.name for x in s.members()}
        add_sources(s, [str(datastore)], manifest=m)  # the same folder again, with the manifest
        members = {x.name: x for x in s.members()}
    assert sorted(members) == ["db01", "erp", "web01"]
    erp = members["erp"]
    assert (erp.image, erp.disks, erp.owner) == (str(datastore / "noext"), [str(datastore / "erp-data.qcow2")],
                                                 "team-erp")
    assert sorted(r.row for r in erp.sources if r.kind == "manifest") == [2, 3]
