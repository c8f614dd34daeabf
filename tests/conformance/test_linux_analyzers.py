"""The Linux analyzer defects issue 11 found with the phony guests, each on a small synthetic tree (fast:
no image, no appliance; the phony guests themselves are compared in test_phony_inspect.py)."""

from __future__ import annotations

import struct

import pytest

from migrate.analyzers.os_release import OSReleaseAnalyzer, elf_architecture, major_minor, release_file_version
from migrate.analyzers.packages_dpkg import DpkgAnalyzer, parse_status
from tests.analyzers.conftest import Tree, run_one


@pytest.fixture
def tree(tmp_path) -> Tree:
    return Tree(tmp_path)


def elf(machine: int, *, bits: int = 64, little: bool = True, etype: int = 3) -> bytes:
    order = "<" if little else ">"
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1 if little else 2, 1]) + bytes(9)
    return ident + struct.pack(order + "HHI", etype, machine, 1) + bytes(40)


# --- dpkg Status ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "want"), [
    ("install ok installed", ("install", "installed")),
    ("deinstall ok config-files", ("deinstall", "config-files")),
    ("hold reinstreq half-installed", ("hold", "half-installed")),
    ("installed ok", (None, "installed")),  # libguestfs's phony Debian guest
    ("purge ok not-installed", ("purge", "not-installed")),
    ("", (None, None)),
    ("garbage words only", (None, None)),
])
def test_dpkg_status_read_by_its_words(status, want):
    assert parse_status(status) == want


def test_dpkg_phony_status_lists_every_package_without_false_unknowns(tree: Tree):
    stanza = ("Package: test{n}\nStatus: installed ok\nArchitecture: amd64\nVersion: 1.2.3-1\n"
              "Description: x\n .\n y\n")
    tree.write("/var/lib/dpkg/status", "\n".join(stanza.format(n=n) for n in (1, 2, 3))
               + "\nPackage: gone\nStatus: purge ok not-installed\n\nPackage: broken\nStatus: ???\n")
    f, _ = run_one(tree, DpkgAnalyzer())
    assert [(p.name, p.version, p.state) for p in f.packages] == [
        ("test1", "1.2.3-1", "installed"), ("test2", "1.2.3-1", "installed"), ("test3", "1.2.3-1", "installed")]
    assert [u.message for u in f.unknowns] == [
        "stanza 5: no Package or no dpkg state in Status"]


# --- versions and product names ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "want"), [
    ("5.0.1", (5, 0)), ("10.10", (10, 10)), ("12", (12, 0)), ("899.13.0", (899, 13)), ("bookworm/sid", None)])
def test_major_minor_as_libguestfs(text, want):
    assert major_minor(text) == want


@pytest.mark.parametrize(("line", "want"), [
    ("Fedora release 14 (Phony)", (14, 0)),
    ("Red Hat Enterprise Linux Server release 6.4 (Santiago)", (6, 4)),
    ("CentOS release 4.8 (Final)", (4, 8)),
    ("CentOS release 4 (Final) Update 5", (4, 5)),
    ("5.0.1", (5, 0)),
])
def test_release_file_versions(line, want):
    assert release_file_version(line) == want


def _os(tree: Tree):
    f, _ = run_one(tree, OSReleaseAnalyzer())
    assert f.os is not None
    return f.os


def test_debian_version_gives_major_minor_and_product(tree: Tree):
    tree.write("/etc/debian_version", "5.0.1\n")
    os_ = _os(tree)
    assert (os_.distro, os_.version, os_.version_major, os_.version_minor, os_.product_name) == (
        "debian", "5", 5, 0, "5.0.1")
    assert any(e.path == "/etc/debian_version" and e.detail and "5.0" in e.detail for e in os_.evidence)


def test_debian_os_release_major_only_falls_through_to_debian_version(tree: Tree):
    """Like libguestfs: Debian's VERSION_ID is only the major number; the point release is in debian_version.
    ``version`` keeps VERSION_ID, which the planner maps to a base image."""
    tree.write("/etc/os-release", 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    tree.write("/etc/debian_version", "12.5\n")
    os_ = _os(tree)
    assert (os_.version, os_.version_major, os_.version_minor, os_.product_name) == ("12", 12, 5, "12.5")


def test_fedora_release_file(tree: Tree):
    tree.write("/etc/redhat-release", "Fedora release 14 (Phony)")
    tree.write("/etc/fedora-release", "Fedora release 14 (Phony)")
    os_ = _os(tree)
    assert (os_.distro, os_.version, os_.version_major, os_.version_minor, os_.product_name) == (
        "fedora", "14", 14, 0, "Fedora release 14 (Phony)")


def test_lsb_release_ubuntu(tree: Tree):
    tree.write("/etc/lsb-release", 'DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=10.10\nDISTRIB_CODENAME=maverick\n'
                                   'DISTRIB_DESCRIPTION="Ubuntu 10.10 (Phony Pharaoh)"\n')
    tree.write("/etc/debian_version", "5.0.1")
    os_ = _os(tree)
    assert (os_.distro, os_.version_major, os_.version_minor, os_.product_name) == (
        "ubuntu", 10, 10, "Ubuntu 10.10 (Phony Pharaoh)")


def test_os_release_through_a_symlink_into_usr(tree: Tree):
    tree.write("/usr/lib/os-release", 'ID=coreos\nVERSION_ID=899.13.0\nPRETTY_NAME="CoreOS 899.13.0"\n')
    tree.link("/etc/os-release", "../usr/lib/os-release")
    os_ = _os(tree)
    assert (os_.distro, os_.version, os_.version_major, os_.version_minor, os_.product_name) == (
        "coreos", "899.13.0", 899, 13, "CoreOS 899.13.0")


def test_rolling_distribution_has_no_version(tree: Tree):
    tree.write("/etc/arch-release", "")
    os_ = _os(tree)
    assert (os_.distro, os_.version_major, os_.product_name) == ("arch", None, None)
    tree.write("/etc/os-release", 'ID=arch\nPRETTY_NAME="Arch Linux"\n')
    os_ = _os(tree)
    assert (os_.version_major, os_.version_minor, os_.product_name) == (0, 0, "Arch Linux")


# --- architecture --------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "arch"), [
    (elf(0x3E), "x86_64"), (elf(0x03, bits=32), "i386"), (elf(0xB7), "aarch64"), (elf(0x28, bits=32), "arm"),
    (elf(0x15, little=False), "ppc64"), (elf(0x15), "ppc64le"), (elf(0x16, little=False), "s390x"),
    (elf(0x16, bits=32, little=False), "s390"), (elf(0xF3), "riscv64"), (elf(0xF3, bits=32), "riscv32"),
    (elf(0x3E, etype=4), None),  # a core dump is not a program
    (elf(0x9999), None), (b"#!/bin/sh\n", None), (b"\x7fEL", None),
])
def test_elf_architecture(header, arch):
    assert elf_architecture(header) == arch


def test_arch_from_bin_ls_as_libguestfs_reads_it(tree: Tree):
    """The phony guests have only /bin/ls; a /bin/sh that is a script does not hide it."""
    tree.write("/etc/debian_version", "5.0.1")
    tree.write("/bin/sh", "#!/bin/busybox sh\n")
    tree.write("/bin/ls", elf(0xB7) + b"\0" * 4096, mode=0o755)
    os_ = _os(tree)
    assert os_.arch == "aarch64"
    assert any(e.path == "/bin/ls" for e in os_.evidence)


def test_arch_follows_symlinks_inside_the_guest(tree: Tree):
    tree.write("/etc/debian_version", "12.5")
    tree.write("/usr/bin/bash", elf(0x3E))
    tree.link("/bin", "usr/bin")
    assert _os(tree).arch == "x86_64"


def test_arch_reads_only_the_header_of_a_huge_binary(tree: Tree):
    """A hostile guest's /bin/bash of 2 GiB (sparse) costs 64 bytes of reading, not a read limit error."""
    tree.write("/etc/debian_version", "12.5")
    p = tree.host("/bin/bash")
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "wb") as fh:
        fh.write(elf(0x3E))
        fh.truncate(2 * 2**30)
    f, _ = run_one(tree, OSReleaseAnalyzer())
    assert f.os is not None and f.os.arch == "x86_64"
    assert not f.unknowns
