"""Issue 8, read side, OVA (D5, D11, D12): disks unpacked each into its own folder, a manifest that
does not cover a disk refused (exit 34) unless allowed, SIGTERM during inspect removes the unpack
folder like Ctrl-C does. The bombs (GNU-sparse, gzip, over-capacity members) are in test_image_budgets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time

import pytest

from migrate.errors import EXIT_CODES, ManifestIncomplete
from migrate.image.ova import open_ova
from tests.image.builders import convert, guest_tree, make_ext4
from tests.security.image_cases import _mf, _ovf, make_ova, pax_bomb
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


# -- format detection must not turn a refusal into "unknown format" ------------------------------


def _many_members(path, count: int):
    """A tar of ``count`` empty members, the OVF first (as the OVF spec puts it)."""
    ovf = _ovf([("disk.vmdk", MiB, None)])
    return make_ova(path, [("vm.ovf", ovf), *((f"m{i}", b"") for i in range(count))])


def _assert_refused(proc: subprocess.CompletedProcess, code: str, *words: str) -> None:
    assert proc.returncode == EXIT_CODES[code], proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr.lower(), proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "vm.ova" in lines[0], proc.stderr
    for word in words:
        assert word in lines[0], proc.stderr


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME])
def test_ova_whose_header_is_a_budget_bomb_is_a_budget_error(tmp_path, kind):
    """is_ova swallowed the refusal: a 512 MiB pax header was "unknown image format" (11), as if the
    file were not a tar at all; it is the budget refusal (32) naming the file."""
    bomb = pax_bomb(tmp_path / "vm.ova", 512 * MiB, kind)
    _assert_refused(run_cli("inspect", str(bomb), "-o", str(tmp_path / "inv.json")), "ResourceBudgetExceeded",
                    "tar extended header")
    assert not (tmp_path / "inv.json").exists()


def test_ova_with_too_many_members_is_a_budget_error(tmp_path):
    ova = _many_members(tmp_path / "vm.ova", 4200)
    _assert_refused(run_cli("inspect", str(ova)), "ResourceBudgetExceeded", "more than 4096 members")


def test_is_ova_raises_the_budget_error_and_keeps_plain_files_as_not_an_ova(tmp_path):
    from migrate.errors import ResourceBudgetExceeded
    from migrate.image.ova import is_ova

    with pytest.raises(ResourceBudgetExceeded) as exc:
        is_ova(pax_bomb(tmp_path / "vm.ova", 512 * MiB))
    assert exc.value.path == str(tmp_path / "vm.ova")
    plain = tmp_path / "plain.img"
    plain.write_bytes(os.urandom(64 * 1024))
    assert is_ova(plain) is False
    assert is_ova(make_ova(tmp_path / "data.tar", [("a.txt", b"x")])) is False  # a tar, but no OVF
    assert is_ova(_many_members(tmp_path / "ok.ova", 100)) is True


@pytest.mark.parametrize("payload", [b"9" * 5000 + b" path=vm.ovf\n", b"99999999999999999999 path=vm.ovf\n"])
def test_tar_with_a_number_int_refuses_is_not_an_internal_error(tmp_path, payload):
    """A pax record length of 5000 digits: CPython 3.11.7's tarfile parses the records with int() and
    raises ValueError (out of is_ova: an internal error with a traceback); Debian's 3.11.2 reads the
    next header first and raises ReadError. Either way the file is no readable tar: "not an OVA",
    then not any image (11)."""
    info = tarfile.TarInfo("PaxHeaders/x")
    info.type, info.size = tarfile.XHDTYPE, len(payload)
    path = tmp_path / "vm.ova"
    member = tarfile.TarInfo("vm.ovf")  # tarfile parses the pax records once the next header reads
    path.write_bytes(info.tobuf(format=tarfile.USTAR_FORMAT) + payload + b"\0" * (512 - len(payload) % 512)
                     + member.tobuf(format=tarfile.USTAR_FORMAT) + b"\0" * 1024)
    proc = run_cli("inspect", str(path))
    _assert_refused(proc, "UnknownImageFormat")


@pytest.mark.parametrize(("attr", "value"), [
    ("ovf:capacity", "9" * 5000), ("ovf:capacity", "\u00b2"),
    ("ovf:capacityAllocationUnits", "byte * 2^99999999999"), ("ovf:capacityAllocationUnits", "byte * 2^" + "9" * 5000)])
def test_ovf_numbers_int_refuses_or_that_explode_are_no_capacity(tmp_path, attr, value):
    """ovf:capacity of 5000 digits or ``²`` (``isdigit`` admits it) raised ValueError out of
    open_ova (internal error); ``byte * 2^99999999999`` computed 2 to that power (hung). The disk's
    capacity is then unknown, as for a capacity the OVF does not give; the rest of the OVF reads."""
    from migrate.image.ova import parse_ovf

    ovf = _ovf([("disk.vmdk", MiB, None)]).replace(b'ovf:capacity="1048576"',
                                                   f'ovf:capacity="1048576" {attr}="{value}"'.encode()
                                                   if attr != "ovf:capacity" else f'{attr}="{value}"'.encode())
    sizing, names = parse_ovf(ovf, source="vm.ova!vm.ovf")
    assert names == ["disk.vmdk"] and sizing.name == "vm"
    assert sizing.disks[0].capacity_bytes is None


@pytest.mark.parametrize("capacity", [None, "\u00b2"])
def test_gzip_member_without_a_capacity_is_refused_not_inflated_to_the_free_space(tmp_path, capacity):
    """A gzip member's tar size bounds what is stored, not what it inflates to: with no valid OVF
    capacity its only bound was the free space of the unpack folder (4 KiB of gzip filled it). It is
    a budget error (32) before a byte is written. A plain member without a capacity stays bounded by
    its own tar size (what is copied never exceeds it) and the free-space check."""
    import gzip

    bomb = gzip.compress(b"\0" * (64 * MiB), compresslevel=9)
    ovf = _ovf([("disk.vmdk", MiB, "gzip")])
    ovf = ovf.replace(b' ovf:capacity="1048576"', b"" if capacity is None else f' ovf:capacity="{capacity}"'.encode())
    ova = make_ova(tmp_path / "vm.ova", [("vm.ovf", ovf), ("disk.vmdk", bomb)])
    work = tmp_path / "work"
    proc = run_cli("inspect", str(ova), env={"TMPDIR": str(tmp_path)})
    _assert_refused(proc, "ResourceBudgetExceeded", "disk.vmdk", "no valid capacity")
    assert not work.exists() or list(work.iterdir()) == []
    work.mkdir(exist_ok=True)
    plain = make_ova(tmp_path / "plain.ova", [("vm.ovf", ovf.replace(b" ovf:compression='gzip'", b"")),
                                              ("disk.vmdk", b"\0" * MiB)])
    contents = open_ova(plain, work)  # no capacity: a plain member is copied up to its own tar size
    assert contents.disks[0].stat().st_size == MiB
