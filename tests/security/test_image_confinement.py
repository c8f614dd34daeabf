"""Issue 8, read side: the confinement rule for disk chains (docs/security.md, "Disk images and chains").

Each case is a crafted image (tests/security/image_cases.py) naming a canary: a file with a random
name in a folder next to (not inside) the image's folder. Python's audit hook sees every open of the
process (``open`` events come from ``open()``, ``io.open`` and ``os.open`` alike): the canary must
never be opened, no output may carry its content, and the CLI exits with the case's own code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from migrate.errors import EXIT_CODES, MigrateError
from migrate.inspect import inspect_images
from tests.security.image_cases import BAD_MEMBER_CASES, CANARY_CASES, build

_OPENED: list[str] = []


def _hook(event: str, args: tuple) -> None:
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_hook)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=timeout)


def _canary_opened(canary: Path, since: int) -> list[str]:
    real = os.path.realpath(canary)
    return [p for p in _OPENED[since:] if os.path.basename(p) == canary.name or os.path.realpath(p) == real]


@pytest.mark.parametrize("case", sorted(CANARY_CASES))
def test_canary_is_never_opened(case, tmp_path):
    image, canary = build(case, tmp_path)
    code = CANARY_CASES[case][1]
    start = len(_OPENED)
    with pytest.raises(MigrateError) as exc:
        inspect_images([image], "auto")  # auto: a refusal here must not fall back to libguestfs
    assert exc.value.exit_code == code, (type(exc.value).__name__, str(exc.value))
    assert not _canary_opened(canary.path, start), _OPENED[start:]
    assert canary.marker not in str(exc.value)
    assert image.name in str(exc.value)


@pytest.mark.image  # one CLI process per case
@pytest.mark.parametrize("case", sorted(CANARY_CASES))
def test_cli_exit_code_and_no_canary_content_in_any_output(case, tmp_path):
    image, canary = build(case, tmp_path)
    out = tmp_path / "inventory.json"
    proc = run_cli("inspect", str(image), "-o", str(out))
    assert proc.returncode == CANARY_CASES[case][1], proc.stderr
    assert "Traceback" not in proc.stderr
    assert canary.marker not in proc.stdout + proc.stderr
    assert not out.exists()
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and image.name in lines[0], proc.stderr


@pytest.mark.image  # one CLI process per case
@pytest.mark.parametrize("case", sorted(BAD_MEMBER_CASES))
def test_bad_chain_member_has_its_exit_code(case, tmp_path):
    """Directories, FIFOs (no hang: refused before open), /proc files, devices, random bytes after a
    magic: one line naming the image, the documented code, never an internal error."""
    image, canary = build(case, tmp_path)
    proc = run_cli("inspect", str(image), "-o", str(tmp_path / "inv.json"), timeout=60)
    assert proc.returncode == BAD_MEMBER_CASES[case][1], proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert image.name in proc.stderr


def test_guestfs_backend_refuses_before_launch(tmp_path):
    """`--backend guestfs` vets the chain natively before libguestfs sees the image: the refusal
    comes at once (no appliance start), with the same code, and the canary stays closed."""
    import time

    image, canary = build("qcow2-backing-absolute", tmp_path)
    start, began = len(_OPENED), time.monotonic()
    with pytest.raises(MigrateError) as exc:
        inspect_images([image], "guestfs")
    assert exc.value.exit_code == EXIT_CODES["ChainMemberOutside"]
    assert not _canary_opened(canary.path, start)
    assert time.monotonic() - began < 10  # the appliance (25 s under TCG here) never started


def test_symlink_inside_the_folder_is_followed(tmp_path):
    """The rule confines, it does not forbid links: a backing link to a file in the same folder opens."""
    from migrate.image.formats import open_image
    from tests.security.image_cases import qcow2_with_backing

    d = tmp_path / "vm"
    (d / "store").mkdir(parents=True)
    (d / "store/base.raw").write_bytes(b"B" * (1 << 20))
    (d / "base.raw").symlink_to("store/base.raw")
    image = qcow2_with_backing(d, "base.raw")
    with open_image(image) as dev:
        assert dev.read(0, 4) == b"BBBB"
        assert dev.backing_chain == [str(d / "store/base.raw")]
    abs_inside = qcow2_with_backing(d, str(d / "store/base.raw"))
    with open_image(abs_inside) as dev:
        assert dev.read(100, 2) == b"BB"


def test_the_audit_hook_sees_a_canary_open(tmp_path):
    """The control for the tests above: an open of the canary through os.open is recorded."""
    _image, canary = build("qcow2-backing-absolute", tmp_path)
    start = len(_OPENED)
    os.close(os.open(canary.path, os.O_RDONLY))
    assert _canary_opened(canary.path, start)


def test_image_reached_through_a_symlinked_folder(tmp_path):
    """The user may name the image through a symlinked folder; its chain resolves in the real one."""
    from migrate.image.formats import open_image
    from tests.security.image_cases import qcow2_with_backing

    real = tmp_path / "real"
    real.mkdir()
    (real / "base.raw").write_bytes(b"R" * (1 << 20))
    qcow2_with_backing(real, "base.raw")
    (tmp_path / "alias").symlink_to(real)
    with open_image(tmp_path / "alias" / "disk.qcow2") as dev:
        assert dev.read(0, 2) == b"RR"
