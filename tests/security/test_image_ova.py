"""Issue 8, read side, OVA (D5, D11, D12): disks unpacked each into its own folder, a manifest that
does not cover a disk refused (exit 34) unless allowed, SIGTERM during inspect removes the unpack
folder like Ctrl-C does. The bombs (GNU-sparse, gzip, over-capacity members) are in test_image_budgets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from migrate.errors import EXIT_CODES, ManifestIncomplete
from migrate.image.ova import open_ova
from tests.image.builders import convert, guest_tree, make_ext4
from tests.security.image_cases import _mf, _ovf, make_ova
from tests.security.tmpfs import small_tmpfs as tmpfs

MiB = 1 << 20


def test_two_disks_with_one_basename_do_not_overwrite_each_other(tmp_path):
    first, second = b"A" * MiB, b"B" * (2 * MiB)
    members = [("vm.ovf", _ovf([("one/disk.vmdk", MiB, None), ("two/disk.vmdk", 2 * MiB, None)])),
               ("one/disk.vmdk", first), ("two/disk.vmdk", second)]
    ova = make_ova(tmp_path / "vm.ova", [*members, ("vm.mf", _mf(members))])
    work = tmp_path / "work"
    work.mkdir()
    contents = open_ova(ova, work)
    assert [p.name for p in contents.disks] == ["disk.vmdk", "disk.vmdk"]
    assert contents.disks[0] != contents.disks[1]
    assert contents.disks[0].read_bytes() == first and contents.disks[1].read_bytes() == second
    assert sorted(contents.verified) == ["one/disk.vmdk", "two/disk.vmdk", "vm.ovf"]


def test_hostile_member_names_stay_in_the_work_folder(tmp_path):
    members = [("vm.ovf", _ovf([("..", MiB, None), ("x/.", MiB, None)])), ("..", b"1" * 512), ("x/.", b"2" * 512)]
    ova = make_ova(tmp_path / "vm.ova", members)
    work = tmp_path / "work"
    work.mkdir()
    contents = open_ova(ova, work)
    for disk in contents.disks:
        assert disk.resolve().parent.parent == work.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vm.ova", "work"]


@pytest.fixture(scope="module")
def tiny_guest_vmdk(tmp_path_factory) -> bytes:
    d = tmp_path_factory.mktemp("ova-guest")
    root = guest_tree(d / "root")
    raw = make_ext4(d / "root.img", root, 24)
    return convert(raw, d / "disk.vmdk", "vmdk", "-o", "subformat=streamOptimized").read_bytes()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_manifest_that_does_not_cover_a_disk(tmp_path, tiny_guest_vmdk):
    ovf = _ovf([("disk.vmdk", 24 * MiB, None)])
    ova = make_ova(tmp_path / "vm.ova", [("vm.ovf", ovf), ("disk.vmdk", tiny_guest_vmdk),
                                         ("vm.mf", _mf([("vm.ovf", ovf)]))])
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(ManifestIncomplete) as exc:
        open_ova(ova, work)
    assert "disk.vmdk" in exc.value.message and exc.value.path == str(ova)
    assert list(work.iterdir()) == []  # refused before anything was unpacked
    proc = run_cli("inspect", str(ova))
    assert proc.returncode == EXIT_CODES["ManifestIncomplete"], proc.stderr
    assert "does not cover disk 'disk.vmdk'" in proc.stderr
    proc = run_cli("inspect", "--allow-unlisted-disks", "--json", str(ova))
    assert proc.returncode == 0, proc.stderr
    assert '"hostname": "tiny"' in proc.stdout


def test_no_manifest_at_all_is_accepted(tmp_path, tiny_guest_vmdk):
    ova = make_ova(tmp_path / "vm.ova", [("vm.ovf", _ovf([("disk.vmdk", 24 * MiB, None)])),
                                         ("disk.vmdk", tiny_guest_vmdk)])
    work = tmp_path / "work"
    work.mkdir()
    assert open_ova(ova, work).verified == []


@pytest.mark.image  # writes a 192 MiB OVA
def test_sigterm_during_ova_inspect_removes_the_unpack_folder(tmp_path):
    """The unpack folder appears, SIGTERM arrives while the disk is being copied and digested: the
    process ends as interrupted (130) and the folder is gone, exactly as for Ctrl-C."""
    src = tmp_path / "src"
    src.mkdir()
    block = os.urandom(MiB)
    with open(src / "disk.vmdk", "wb") as fh:
        for _ in range(192):
            fh.write(block)
    (src / "vm.ovf").write_bytes(_ovf([("disk.vmdk", 192 * MiB, None)]))
    ova = tmp_path / "vm.ova"
    subprocess.run(["tar", "-C", str(src), "--format=ustar", "-cf", str(ova), "vm.ovf", "disk.vmdk"], check=True)
    (src / "disk.vmdk").unlink()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "migrate", "inspect", "--json", str(ova)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "TMPDIR": str(scratch)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(scratch.glob("migrate-ova-*/0/disk.vmdk")):
        time.sleep(0.005)
    assert any(scratch.glob("migrate-ova-*")), "the OVA was never unpacked"
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert list(scratch.iterdir()) == []


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 32 MiB tmpfs."""
    with tmpfs(tmp_path / "small", "32m") as mnt:
        yield mnt


def test_ova_that_does_not_fit_the_free_space_is_refused_before_writing(tmp_path, small_tmpfs):
    disk = os.urandom(MiB) * 40
    ova = make_ova(tmp_path / "vm.ova", [("vm.ovf", _ovf([("disk.vmdk", 64 * MiB, None)])), ("disk.vmdk", disk)])
    proc = run_cli("inspect", str(ova), env={"TMPDIR": str(small_tmpfs)})
    assert proc.returncode == EXIT_CODES["ResourceBudgetExceeded"], proc.stderr
    assert "free" in proc.stderr and "vm.ova" in proc.stderr
    assert list(small_tmpfs.iterdir()) == []


def test_control_characters_in_member_names_never_break_the_one_line_error(tmp_path):
    name = "evil\n\x1b[2Jname.vmdk"
    ovf = _ovf([(name, MiB, None)]).replace(b"\n", b"&#10;").replace(b"\x1b", b"")
    members = [("vm.ovf", ovf), (name.replace("\x1b", ""), b"x" * 512), ("vm.mf", _mf([("vm.ovf", ovf)]))]
    ova = make_ova(tmp_path / "vm.ova", members)
    proc = run_cli("inspect", str(ova))
    assert proc.returncode == EXIT_CODES["ManifestIncomplete"], proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1, proc.stderr
