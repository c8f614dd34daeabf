"""Issue 11 in the image layer, on small guests built here with host tools (no appliance):
LUKS1 opened natively with the keys given as virt-inspector takes them, fstab sources resolved
(``mounts[].resolved_device``) through crypttab, a /usr on its own partition that fstab does not
name, and an unidentified OS that ``--strict`` refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from migrate.errors import EXIT_CODES, EncryptedVolume, KeyFileRefused, UsageError, WrongKey
from migrate.image.keys import Key, key_store, parse_key
from migrate.image.native import NativeBackend
from migrate.inspect import inspect_images
from tests.image.builders import guest_tree, make_disk, make_ext4, make_luks, make_luks1

PASSPHRASE = "correct horse battery staple"
CRYPT_ROOT_UUID = "22222222-3333-4444-5555-666666666666"
LUKS_UUID = "33333333-4444-5555-6666-777777777777"


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=120,
                          input=stdin)


# -- key parsing (no image) ---------------------------------------------------------------------

def test_key_forms_are_virt_inspectors():
    assert parse_key("/dev/sda2:key:p:w") == Key("/dev/sda2", b"p:w")
    assert parse_key(f"{CRYPT_ROOT_UUID}:key:pw") == Key(CRYPT_ROOT_UUID, b"pw")
    assert parse_key("/dev/sda2:pw") == Key("/dev/sda2", b"pw")
    assert parse_key("all:key:pw") == Key(None, b"pw")
    assert parse_key("just:a:passphrase") == Key(None, b"just:a:passphrase")  # no selector: the whole text
    store = key_store(["/dev/sdb1:one", "two"], "three\n\nfour\n")
    assert store.candidates(["/dev/sdb1"], None) == [b"one", b"two", b"three", b"four"]
    assert store.candidates(["/dev/sda2"], None) == [b"two", b"three", b"four"]
    assert "one" not in repr(store) and "two" not in repr(store.keys)
    with pytest.raises(UsageError):
        parse_key("/dev/sda2:clevis:")


def test_key_file_first_line_and_bounded(tmp_path):
    keyfile = tmp_path / "k"
    keyfile.write_bytes(b"line one\nline two")  # virt-inspector reads the first line of a key file
    assert parse_key(f"/dev/sda2:file:{keyfile}").secret == b"line one"
    big = tmp_path / "big"
    big.write_bytes(b"x" * 9000)
    for bad in (f"/dev/sda2:file:{big}", "/dev/sda2:file:/dev/zero", "/dev/sda2:file:/proc/self/environ",
                f"/dev/sda2:file:{tmp_path}", f"/dev/sda2:file:{tmp_path}/missing"):
        with pytest.raises(KeyFileRefused) as exc:
            parse_key(bad)
        assert exc.value.exit_code == 39


# -- LUKS1 natively ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def luks_guest(tmp_path_factory) -> Path:
    """/boot in the clear, the root ext4 inside LUKS1 on partition 2; fstab names the root through
    its crypttab name and /boot by LABEL."""
    work = tmp_path_factory.mktemp("luks")
    tree = guest_tree(work / "root")
    (tree / "boot").mkdir()
    (tree / "etc/fstab").write_text(
        "/dev/mapper/cryptroot / ext4 defaults 0 1\nLABEL=BOOT /boot ext4 defaults 0 2\n"
        "/dev/disk/by-partuuid/00000000-dead-beef-0000-000000000000 /gone ext4 nofail 0 0\n")
    (tree / "etc/crypttab").write_text(f"cryptroot UUID={LUKS_UUID} none luks\n")
    root = make_ext4(work / "root.img", tree, 24, uuid=CRYPT_ROOT_UUID)
    luks = make_luks1(work / "luks.img", root, PASSPHRASE.encode(), uuid=LUKS_UUID)
    boot_tree = work / "boottree"
    boot_tree.mkdir()
    (boot_tree / "vmlinuz-test").write_text("kernel\n")
    boot = make_ext4(work / "boot.img", boot_tree, 8, label="BOOT")
    return make_disk(work / "disk.raw", 40, [(8, boot, "linux"), (28, luks, "linux")])


@pytest.mark.image  # builds disk images with mkfs, sfdisk and cryptsetup
def test_luks_without_key_names_the_device(luks_guest):
    with pytest.raises(EncryptedVolume) as exc:
        NativeBackend().open([luks_guest])
    assert type(exc.value) is EncryptedVolume and exc.value.exit_code == 15
    assert "LUKS1" in exc.value.message and "/dev/sda2" in exc.value.message and "--key" in exc.value.message


@pytest.mark.image  # builds disk images with mkfs, sfdisk and cryptsetup
def test_luks_wrong_key_is_its_own_error(luks_guest):
    with pytest.raises(WrongKey) as exc:
        NativeBackend().open([luks_guest], key_store(["/dev/sda2:not the passphrase", "nor this"]))
    assert exc.value.exit_code == 38 and "/dev/sda2" in exc.value.message and "2 key(s)" in exc.value.message
    assert "not the passphrase" not in str(exc.value)


@pytest.mark.image  # builds disk images with mkfs, sfdisk and cryptsetup
def test_luks_key_opens_the_root_and_fstab_resolves(luks_guest):
    inv = inspect_images([luks_guest], "native", keys=key_store([f"/dev/sda2:key:{PASSPHRASE}"]))
    assert inv.backend == "native" and inv.os.distro == "debian"
    mounts = {m.mountpoint: m for m in inv.mounts}
    assert mounts["/"].resolved_device == f"/dev/mapper/luks-{LUKS_UUID}" and mounts["/"].mounted
    assert mounts["/boot"].resolved_device == "/dev/sda1" and mounts["/boot"].mounted
    assert mounts["/gone"].resolved_device is None and not mounts["/gone"].mounted
    fs = {f.device: f for f in inv.filesystems}
    assert fs[mounts["/"].resolved_device].uuid == CRYPT_ROOT_UUID
    assert fs["/dev/sda2"].fstype == "crypto_LUKS"


@pytest.mark.image  # builds disk images with mkfs, sfdisk and cryptsetup
def test_key_never_lands_in_output(luks_guest, tmp_path):
    """The passphrase on stdin: exit 0, and it is nowhere in the inventory, stdout or stderr."""
    out = tmp_path / "inv.json"
    proc = run_cli("inspect", str(luks_guest), "--backend", "native", "--keys-from-stdin", "-o", str(out),
                   stdin=f"wrong one\n{PASSPHRASE}\n")
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert json.loads(text)["os"]["distro"] == "debian"
    for blob in (text, proc.stdout, proc.stderr):
        assert PASSPHRASE not in blob
    proc = run_cli("inspect", str(luks_guest), "--backend", "native", "--key", "/dev/sda2:key:bad-key-42")
    assert proc.returncode == EXIT_CODES["WrongKey"] == 38, proc.stderr
    assert "Traceback" not in proc.stderr and "bad-key-42" not in proc.stderr and "/dev/sda2" in proc.stderr


@pytest.mark.image
@pytest.mark.parametrize("pbkdf", [("argon2id", 4), ("argon2i", 4), ("pbkdf2", 1000)])
def test_luks2_opened_natively(pbkdf, tmp_path):
    """LUKS2 as cryptsetup writes it (Argon2id/Argon2i/PBKDF2 key slots): the native reader derives the
    key, checks the header's digest and decrypts the data segment; a wrong key is exit 38."""
    tree = guest_tree(tmp_path / "root")
    (tree / "etc/fstab").write_text(f"UUID={CRYPT_ROOT_UUID} / ext4 defaults 0 1\n")
    root = make_ext4(tmp_path / "root.img", tree, 16, uuid=CRYPT_ROOT_UUID)
    luks = make_luks(tmp_path / "luks2.img", root, PASSPHRASE.encode(), pbkdf=pbkdf, uuid=LUKS_UUID)
    disk = make_disk(tmp_path / "disk.raw", 24, [(20, luks, "linux")])
    with pytest.raises(WrongKey):
        NativeBackend().open([disk], key_store([f"{LUKS_UUID}:key:nope"]))
    with NativeBackend().open([disk], key_store([f"{LUKS_UUID}:key:{PASSPHRASE}"])) as guest:
        assert guest.rootfs.read_bytes("/usr/bin/tool") == bytes(range(256)) * 300
        assert {f.device: f.uuid for f in guest.filesystems}[f"/dev/mapper/luks-{LUKS_UUID}"] == CRYPT_ROOT_UUID


# -- /usr on a partition of its own that fstab does not name ----------------------------------------

@pytest.fixture(scope="module")
def usr_guest(tmp_path_factory) -> Path:
    """A root with an empty /usr and no fstab line for it; the OS identity (os-release) lives only on
    a second partition laid out as a /usr (bin, share, local, lib/os-release), like CoreOS's USR-A."""
    work = tmp_path_factory.mktemp("usr")
    root = work / "root"
    for d in ("etc", "usr", "root", "home", "var"):
        (root / d).mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")
    (root / "etc/os-release").symlink_to("../usr/lib/os-release")
    (root / "etc/hostname").write_text("usr-split\n")
    (root / "etc/fstab").write_text("# nothing: the initrd mounts /usr\n")
    usr = work / "usr"
    for d in ("bin", "share/doc", "local", "lib"):
        (usr / d).mkdir(parents=True)
    (usr / "lib/os-release").write_text('ID=fedora\nVERSION_ID=39\nPRETTY_NAME="Fedora Linux 39"\n')
    (usr / "bin/true").write_bytes(b"\x7fELF")
    other = work / "data"
    (other / "bin").mkdir(parents=True)
    return make_disk(work / "disk.raw", 60, [(16, make_ext4(work / "data.img", other, 8), "linux"),
                                             (16, make_ext4(work / "usr.img", usr, 16, label="USR-A"), "linux"),
                                             (24, make_ext4(work / "root.img", root, 16, label="ROOT"), "linux")])


@pytest.mark.image  # builds disk images with mkfs, sfdisk and cryptsetup
def test_separate_usr_is_mounted_with_its_reason(usr_guest):
    inv = inspect_images([usr_guest], "native")
    assert (inv.os.distro, inv.os.version) == ("fedora", "39")
    usr = next(m for m in inv.mounts if m.mountpoint == "/usr")
    assert usr.resolved_device == "/dev/sda2" and usr.mounted
    assert usr.evidence.analyzer == "backend:native" and "empty" in usr.evidence.detail
    assert {f.device: f.mountpoint for f in inv.filesystems}["/dev/sda2"] == "/usr"


# -- never pass silently --------------------------------------------------------------------------

def test_unidentified_os_is_an_unknown_and_strict_fails(tmp_path):
    tree = tmp_path / "guest"
    for d in ("etc", "usr/bin"):
        (tree / d).mkdir(parents=True)
    (tree / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    inv = inspect_images([tree])
    assert [u.message for u in inv.unknowns if u.analyzer == "inspect"] == [
        "operating system not identified (distribution and family unknown; read: no os-release, lsb-release or "
        "release file); the analyzers for a known family did not run"]
    proc = run_cli("inspect", str(tree), "--strict", "--json")
    assert proc.returncode == EXIT_CODES["StrictModeFailure"] == 3, proc.stderr
    assert os.fspath(tree) in proc.stderr


def test_distribution_of_no_known_family_is_an_unknown(tmp_path):
    tree = tmp_path / "guest"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/os-release").write_text('ID=coreos\nVERSION_ID=899.13.0\nPRETTY_NAME="CoreOS 899.13.0"\n')
    inv = inspect_images([tree])
    assert inv.os.distro == "coreos"
    assert [u.message for u in inv.unknowns if u.analyzer == "inspect"] == [
        "distribution 'coreos' belongs to no OS family the analyzers know (family unknown; read: /etc/os-release); "
        "the analyzers for a known family did not run"]
