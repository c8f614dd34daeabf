"""A guest folder thousands of levels deep under a tree the stack copies (docs/security.md).

RootFS resolves every entry's path from the guest's root, so walking a chain of n folders costs n^2
lookups, and Python 3.11's shutil.rmtree recurses: a web root with 1100 nested folders took 3.5
minutes, then ended ``convert`` with RecursionError (an internal error) while cleaning up, leaving
the temporary stack folder behind. Copied trees now stop MAX_TREE_DEPTH folders down and say so."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from migrate.generate import MAX_TREE_DEPTH
from tests.fleet.smallfleet import migrate_cli
from tests.security.output_cases import base_guest, enable, unit, write


def _deep_guest(root: Path, depth: int) -> Path:
    base_guest(root)
    write(root, "/opt/app/run.sh", "#!/bin/sh\nexec sleep infinity\n", 0o755)
    write(root, "/opt/app/index.html", "<h1>app</h1>\n")
    enable(root, "app.service", unit("/opt/app/run.sh", workdir="/opt/app"))
    d = root / "opt/app/data"
    d.mkdir()
    for _ in range(depth):  # level by level: Path.mkdir(parents=True) recurses too
        d = d / "a"
        d.mkdir()
    (d / "leaf.txt").write_text("leaf\n")
    return root


def remove_deep(top: Path) -> None:
    """GNU rm walks a deep tree without recursing; pytest's cleanup of old temporary folders
    (shutil.rmtree) would end a later session in RecursionError."""
    subprocess.run(["rm", "-rf", "--", str(top)], check=True)


def test_deep_guest_tree_is_cut_and_reported(tmp_path: Path) -> None:
    guest = _deep_guest(tmp_path / "guest", 1100)
    try:
        _check_deep_guest(tmp_path, guest)
    finally:
        remove_deep(guest)


def _check_deep_guest(tmp_path: Path, guest: Path) -> None:
    out = tmp_path / "stack"
    start = time.monotonic()
    r = migrate_cli("convert", str(guest), "-o", str(out))
    assert r.returncode == 47, r.stderr  # a file the plan needs is not in the stack: the usual refusal
    assert "internal error" not in r.stderr and f"more than {MAX_TREE_DEPTH} folders deep" in r.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary stack left
    r = migrate_cli("convert", str(guest), "-o", str(out), "--allow-missing-files")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - start < 60  # was 3.5 minutes before failing
    copied = [p for p in (out / "app" / "rootfs").rglob("*") if p.is_dir() and p.name == "a"]
    assert len(copied) == MAX_TREE_DEPTH - 1  # data/ is the first of the 64 levels below /opt/app
    assert (out / "app" / "rootfs" / "opt/app/index.html").is_file()
    assert f"more than {MAX_TREE_DEPTH} folders deep" in (out / "README.md").read_text()
