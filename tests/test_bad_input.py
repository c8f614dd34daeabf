"""Bad input: one clear line naming the file, a distinct exit code, no traceback, no output file,
and never a read outside the guest."""

from __future__ import annotations

import subprocess
import sys

import pytest

from migrate.errors import EXIT_CODES
from migrate.inspect import inspect_images
from tests.security.audit import recording_opens

pytestmark = pytest.mark.image

CASES = {  # bad image kind -> (exit code, words the message must contain)
    "truncated-qcow2": (EXIT_CODES["CorruptImage"], "truncated"),
    "random-bytes": (EXIT_CODES["UnknownImageFormat"], "not a disk image"),
    "vmdk-missing-extent": (EXIT_CODES["MissingExtent"], "missing-extent-flat.vmdk"),
    "no-os": (EXIT_CODES["NoOperatingSystem"], "no operating system"),
    "luks": (EXIT_CODES["EncryptedVolume"], "LUKS"),
}


def run_inspect(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migrate", "inspect", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_bad_image_is_one_clear_line(bad_images, tmp_path, kind):
    code, words = CASES[kind]
    out = tmp_path / "inventory.json"
    proc = run_inspect(str(bad_images[kind]), "-o", str(out))
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(bad_images[kind].name) in lines[0] and words.lower() in lines[0].lower(), lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_exit_codes_are_distinct():
    """Two error classes share a code only when one is a kind of the other (GuestFileTooLarge of
    GuestPathError, FleetInUse of FleetBusy, FleetMembersFailed of StrictModeFailure): a script that
    tests the code gets the general meaning, the message the particular one."""
    import migrate.errors as errors

    by_code: dict[int, list[type]] = {}
    for name, code in EXIT_CODES.items():
        by_code.setdefault(code, []).append(getattr(errors, name))
    for code, classes in by_code.items():
        roots = [c for c in classes if not any(c is not o and issubclass(c, o) for o in classes)]
        assert len(roots) == 1, (code, [c.__name__ for c in classes])


def test_missing_file_and_unknown_backend(tmp_path):
    proc = run_inspect(str(tmp_path / "nope.qcow2"))
    assert proc.returncode == EXIT_CODES["ImageNotFound"] and "nope.qcow2" in proc.stderr
    (tmp_path / "x.raw").write_bytes(b"\0" * 4096)
    proc = run_inspect("--backend", "magic", str(tmp_path / "x.raw"))
    assert proc.returncode == EXIT_CODES["UsageError"] and "magic" in proc.stderr


HOST_SECRETS = ("/etc/shadow", "/root/.ssh/id_rsa", "/proc/self/environ", "/etc/passwd")


@pytest.mark.parametrize("kind", ["hostile", "hostile-tree"])
def test_hostile_symlinks_never_leave_the_guest(bad_images, kind):
    """Python's audit hook sees every file the process opens: none of the host files the guest's
    links point at may be opened, and the guest's own files are what the inventory shows."""
    with recording_opens() as during:
        inv = inspect_images([bad_images[kind]], "auto")
    assert not [p for p in during if p in HOST_SECRETS], during
    # /etc/os-release -> /etc/shadow resolves to the *guest's* shadow (not an os-release: unknown OS)
    assert inv.network.hostname == "hostile"
    # ... so the distribution comes from the guest's /etc/debian_version, not from the host's os-release
    assert (inv.os.distro, inv.os.version) == ("debian", "12")
    text = inv.to_json()
    assert "GUEST-SHADOW-MARKER" not in text  # shadow hashes are never copied into an inventory
    assert {u.name for u in inv.users} == {"root", "www-data"}


def test_broken_config_is_an_unknown_and_strict_fails(bad_images, tmp_path):
    out = tmp_path / "inv.json"
    proc = run_inspect(str(bad_images["broken-nginx"]), "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert "nginx" in proc.stdout and "/etc/nginx" in proc.stdout
    strict = run_inspect(str(bad_images["broken-nginx"]), "--strict")
    assert strict.returncode == EXIT_CODES["StrictModeFailure"], strict.stderr
    assert "unknown" in strict.stderr
