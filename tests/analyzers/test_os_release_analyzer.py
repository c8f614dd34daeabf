import pytest

from migrate.analyzers.base import NotApplicable
from migrate.analyzers.os_release import OSReleaseAnalyzer


def test_debian_from_os_release_with_kernels(flagship, run):
    f, _ = run(flagship, OSReleaseAnalyzer())
    assert (f.os.family, f.os.distro, f.os.version, f.os.codename) == ("debian", "debian", "12", "bookworm")
    assert f.os.kernel_versions == ["6.1.0-18-amd64"]
    assert {e.path for e in f.os.evidence} == {"/etc/os-release", "/etc/debian_version"}


def test_ubuntu_is_debian_family_via_id_like(tree, run):
    tree.write("/usr/lib/os-release", 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\nUBUNTU_CODENAME=jammy\n')
    tree.write("/etc/lsb-release", "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\n")
    f, _ = run(tree, OSReleaseAnalyzer())
    assert (f.os.family, f.os.distro, f.os.version, f.os.codename) == ("debian", "ubuntu", "22.04", "jammy")


@pytest.mark.parametrize(("path", "text", "family", "distro", "version"), [
    ("/etc/redhat-release", "Rocky Linux release 9.3 (Blue Onyx)\n", "rhel", "rocky", "9.3"),
    ("/etc/redhat-release", "CentOS Linux release 7.9.2009 (Core)\n", "rhel", "centos", "7.9.2009"),
    ("/etc/alpine-release", "3.19.1\n", "alpine", "alpine", "3.19.1"),
    ("/etc/debian_version", "11.9\n", "debian", "debian", "11"),
    ("/etc/arch-release", "", "arch", "arch", None),
])
def test_release_files_without_os_release(tree, run, path, text, family, distro, version):
    tree.write(path, text)
    f, _ = run(tree, OSReleaseAnalyzer())
    assert (f.os.family, f.os.distro, f.os.version) == (family, distro, version)


def test_suse_and_kernel_modules(tree, run):
    tree.write("/etc/os-release", 'ID="opensuse-leap"\nID_LIKE="suse opensuse"\nVERSION_ID="15.5"\n')
    tree.mkdir("/lib/modules/5.14.21-150500.55.39-default")
    f, _ = run(tree, OSReleaseAnalyzer())
    assert f.os.family == "suse" and f.os.kernel_versions == ["5.14.21-150500.55.39-default"]


def test_issue_fallback_and_arch_from_elf(tree, run):
    tree.write("/etc/issue", "Debian GNU/Linux 10 \\n \\l\n")
    elf = bytearray(b"\x7fELF\x02\x01\x01" + b"\0" * 57)
    elf[16:18] = (3).to_bytes(2, "little")  # ET_DYN: only executables and shared objects name the arch
    elf[18:20] = (0x3E).to_bytes(2, "little")
    tree.write("/bin/sh", bytes(elf), mode=0o755)
    f, _ = run(tree, OSReleaseAnalyzer())
    assert (f.os.family, f.os.distro, f.os.version, f.os.arch) == ("debian", "debian", "10", "x86_64")


def test_nothing_is_not_applicable(tree, run):
    tree.mkdir("/etc")
    with pytest.raises(NotApplicable):
        run(tree, OSReleaseAnalyzer())
