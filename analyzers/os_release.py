"""OS and release: os-release first (the modern contract), then the older per-distro files."""

from __future__ import annotations

import re

from migrate.analyzers._support import read_text, small_int, unknown
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.errors import GuestPathError
from migrate.model.inventory import Findings, OSInfo

FAMILIES = {
    "debian": "debian", "ubuntu": "debian", "raspbian": "debian", "linuxmint": "debian", "devuan": "debian",
    "kali": "debian", "rhel": "rhel", "centos": "rhel", "fedora": "rhel", "rocky": "rhel", "almalinux": "rhel",
    "ol": "rhel", "amzn": "rhel", "scientific": "rhel", "suse": "suse", "sles": "suse", "opensuse": "suse",
    "opensuse-leap": "suse", "opensuse-tumbleweed": "suse", "sled": "suse", "alpine": "alpine", "arch": "arch",
    "manjaro": "arch", "endeavouros": "arch", "archarm": "arch",
}
# e_machine -> architecture as libguestfs names it (daemon/filearch.ml reads file(1)'s words for these).
# A value is either a name or (name for ELFCLASS32, name for ELFCLASS64), or for PowerPC 64 by endianness.
ELF_MACHINES: dict[int, str | tuple[str, str]] = {
    0x02: "sparc", 0x03: "i386", 0x06: "i386", 0x12: "sparc", 0x14: "ppc", 0x2B: "sparc64", 0x32: "ia64",
    0x3E: "x86_64", 0x28: "arm", 0xB7: "aarch64", 0x16: ("s390", "s390x"), 0xF3: ("riscv32", "riscv64"),
    0x102: ("loongarch32", "loongarch64"),
}
ELF_PPC64 = 0x15
# The binaries libguestfs reads the architecture from, in its order (daemon/inspect_fs_unix.ml
# arch_binaries), then the ones this analyzer looked at before (a busybox or merged-/usr guest).
ARCH_BINARIES = ("/bin/bash", "/bin/ls", "/bin/echo", "/bin/rm", "/bin/sh", "/usr/bin/env", "/bin/busybox")
ELF_HEADER_BYTES = 64  # e_ident, e_type and e_machine are in the first 20: nothing else is read

# libguestfs's release-file order after os-release and lsb-release (daemon/inspect_fs_unix.ml
# linux_root_tests): the first file that exists and parses gives the product name (its first line) and
# the version. Files of distributions built on Red Hat come before /etc/redhat-release, as there.
RELEASE_FILES = (
    "/etc/openmandriva-release", "/etc/opencloudos-release", "/etc/tencentos-release", "/etc/oracle-release",
    "/etc/centos-release", "/etc/circle-release", "/etc/rocky-release", "/etc/altlinux-release",
    "/etc/redhat-release", "/etc/debian_version", "/etc/pardus-release", "/etc/arch-release",
    "/etc/gentoo-release", "/etc/meego-release", "/etc/slackware-version", "/etc/ttylinux-target",
    "/etc/SuSE-release", "/etc/cirros/version", "/etc/br-version", "/etc/alpine-release",
    "/etc/frugalware-release", "/etc/pld-release",
)
# os-release IDs whose VERSION_ID holds only the major number while a release file has the rest
# (libguestfs falls through to the release files for these).
MAJOR_ONLY_OS_RELEASE = {"debian", "centos", "circle", "rocky"}
# Rolling distributions: no VERSION_ID by design; libguestfs reports 0.0.
ROLLING = {"arch", "gentoo", "void"}
RELEASE_VERSION = re.compile(r"release (\d+)(?:\.(\d+))?(?:.*Update (\d+))?")
MAJOR_MINOR = re.compile(r"(\d+)\.(\d+)")
MAJOR = re.compile(r"(\d+)")
VERSION_MAX = 999_999_999  # a release number; 5000 digits in an os-release are no version


def parse_os_release(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def family_of(ids: list[str]) -> str:
    for ident in ids:
        ident = ident.lower()
        if ident in FAMILIES:
            return FAMILIES[ident]
        if ident.startswith("opensuse") or "suse" in ident:
            return "suse"
    return "unknown"


def _version(*parts: str | None) -> tuple[int, int] | None:
    """(major, minor) from the digits a pattern matched; None when one is not a plausible version
    number (``\\d`` matches any script's digits, and int() refuses 5000 of them)."""
    major, minor = (small_int(p or "0", lo=0, hi=VERSION_MAX) for p in parts)
    return None if major is None or minor is None else (major, minor)


def major_minor(text: str) -> tuple[int, int] | None:
    """libguestfs's parse_version_from_major_minor: the first "N.M" anywhere, else the first "N" (minor 0)."""
    m = MAJOR_MINOR.search(text)
    if m:
        return _version(m.group(1), m.group(2))
    m = MAJOR.search(text)
    return _version(m.group(1), None) if m else None


def release_file_version(first_line: str) -> tuple[int, int] | None:
    """The version in a distribution release file's first line. The Red Hat family's files say
    "<name> release N[.M]" (old CentOS/Scientific/Oracle: "release N ... Update M"), which libguestfs
    reads with one pattern per distribution; the others are read as "N.M" anywhere."""
    m = RELEASE_VERSION.search(first_line)
    if m:
        return _version(m.group(1), m.group(2) or m.group(3))
    return major_minor(first_line)


def elf_architecture(head: bytes) -> str | None:
    """The architecture of an ELF executable, shared object or relocatable from its first bytes,
    named as libguestfs names it; None for anything else."""
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    order = "little" if head[5] == 1 else "big"
    if int.from_bytes(head[16:18], order) not in (1, 2, 3):  # ET_REL, ET_EXEC, ET_DYN
        return None
    machine = int.from_bytes(head[18:20], order)
    if machine == ELF_PPC64:
        return "ppc64le" if order == "little" else "ppc64"
    name = ELF_MACHINES.get(machine)
    if isinstance(name, tuple):
        return name[head[4] - 1]
    return name


class OSReleaseAnalyzer(Analyzer):
    name = "os_release"

    def run(self, ctx: Context) -> Findings:
        f = Findings()
        info = OSInfo()
        fs = ctx.rootfs
        for path in ("/etc/os-release", "/usr/lib/os-release"):
            text = read_text(ctx, self, path, f)
            if text is None:
                continue
            data = parse_os_release(text)
            info.distro = data.get("ID", "unknown").lower() or "unknown"
            info.version = data.get("VERSION_ID") or None
            info.codename = data.get("VERSION_CODENAME") or data.get("UBUNTU_CODENAME") or None
            info.pretty_name = data.get("PRETTY_NAME") or data.get("NAME") or None
            info.family = family_of([info.distro, *data.get("ID_LIKE", "").split()])  # type: ignore[assignment]
            info.evidence.append(self.evidence(path))
            break

        lsb = read_text(ctx, self, "/etc/lsb-release", f)
        if lsb is not None:
            data = parse_os_release(lsb)
            if info.distro == "unknown" and data.get("DISTRIB_ID"):
                info.distro = data["DISTRIB_ID"].lower()
                info.family = family_of([info.distro])  # type: ignore[assignment]
            info.version = info.version or data.get("DISTRIB_RELEASE")
            info.codename = info.codename or data.get("DISTRIB_CODENAME")
            info.pretty_name = info.pretty_name or data.get("DISTRIB_DESCRIPTION")
            info.evidence.append(self.evidence("/etc/lsb-release"))

        for path, distro, family in (("/etc/debian_version", "debian", "debian"),
                                     ("/etc/redhat-release", "rhel", "rhel"),
                                     ("/etc/centos-release", "centos", "rhel"),
                                     ("/etc/SuSE-release", "suse", "suse"),
                                     ("/etc/alpine-release", "alpine", "alpine"),
                                     ("/etc/arch-release", "arch", "arch")):
            text = read_text(ctx, self, path, f, max_bytes=4096)
            if text is None:
                continue
            info.evidence.append(self.evidence(path))
            first = text.strip().splitlines()[0].strip() if text.strip() else ""
            if info.family == "unknown":
                info.family = family  # type: ignore[assignment]
            if info.distro == "unknown":
                info.distro = distro
                if path == "/etc/redhat-release" and first:
                    name = first.split(" release ")[0].lower()
                    info.distro = {"centos linux": "centos", "centos stream": "centos",
                                   "rocky linux": "rocky", "almalinux": "almalinux",
                                   "fedora": "fedora"}.get(name, "rhel")
                    info.pretty_name = info.pretty_name or first
            if info.version is None and first:
                m = re.search(r"(\d+(?:\.\d+)*)", first)
                if m:
                    info.version = m.group(1)
                    if distro == "debian":
                        info.version = m.group(1).split(".")[0]

        if info.distro == "unknown":
            issue = read_text(ctx, self, "/etc/issue", f, max_bytes=4096)
            if issue:
                first = re.sub(r"\\[a-zA-Z]", "", issue.strip().splitlines()[0]).strip()
                info.pretty_name = first or None
                word = first.split()[0].lower() if first else ""
                if word in FAMILIES:
                    info.distro = word
                    info.family = FAMILIES[word]  # type: ignore[assignment]
                m = re.search(r"(\d+(?:\.\d+)*)", first)
                if m:
                    info.version = m.group(1)
                info.evidence.append(self.evidence("/etc/issue"))

        kernels: set[str] = set()
        for path in fs.glob("/boot/vmlinuz-*") + fs.glob("/boot/vmlinux-*"):
            kernels.add(path.rsplit("/", 1)[1].split("-", 1)[1])
        for path in fs.glob("/lib/modules/*") + fs.glob("/usr/lib/modules/*"):
            if fs.is_dir(path):
                kernels.add(path.rsplit("/", 1)[1])
        info.kernel_versions = sorted(kernels)

        info.arch = self._architecture(ctx, f, info)
        self._release(ctx, f, info)

        if not info.evidence and not info.kernel_versions:
            raise NotApplicable("no os-release, lsb-release or distribution release file")
        f.os = info
        return f

    def _architecture(self, ctx: Context, f: Findings, info: OSInfo) -> str | None:
        """The first of libguestfs's binaries that is a regular file (symlinks followed inside the
        guest) and an ELF object gives the architecture; only its first 64 bytes are read."""
        for binary in ARCH_BINARIES:
            try:
                guest_file = ctx.rootfs.open(binary)
                head = guest_file.pread(0, ELF_HEADER_BYTES)
            except GuestPathError:
                continue
            arch = elf_architecture(head)
            if arch is not None:
                info.evidence.append(self.evidence(binary, f"architecture {arch} from its ELF header"))
                return arch
            if head[:4] == b"\x7fELF":
                f.unknowns.append(unknown(self, binary, "ELF header with an unknown machine or type"))
        return None

    def _release(self, ctx: Context, f: Findings, info: OSInfo) -> None:
        """Product name and version major.minor the way libguestfs reads them: os-release (unless its
        VERSION_ID is only the major number of a distribution whose release file has more), then
        lsb-release, then the first distribution release file that parses."""
        for path in ("/etc/os-release", "/usr/lib/os-release"):
            if not ctx.rootfs.is_file(path):
                continue
            data = parse_os_release(read_text(ctx, self, path, f) or "")
            ident, product = data.get("ID", "").lower(), data.get("PRETTY_NAME")
            if ident and product:
                info.product_name = product
                version = major_minor(data["VERSION_ID"]) if data.get("VERSION_ID") else None
                if version is None and ident in ROLLING:
                    version = (0, 0)
                if version is not None and not (ident in MAJOR_ONLY_OS_RELEASE and version[1] == 0):
                    self._set_version(info, path, version)
                    return
            break  # libguestfs reads /etc/os-release only; /usr/lib/os-release is its usual target
        if ctx.rootfs.is_file("/etc/lsb-release"):
            data = parse_os_release(read_text(ctx, self, "/etc/lsb-release", f) or "")
            if data.get("DISTRIB_ID") or data.get("DISTRIB_DESCRIPTION"):
                if data.get("DISTRIB_DESCRIPTION"):
                    info.product_name = data["DISTRIB_DESCRIPTION"]
                version = major_minor(data.get("DISTRIB_RELEASE", ""))
                if version is not None:
                    self._set_version(info, "/etc/lsb-release", version)
                return
        for path in RELEASE_FILES:
            if not ctx.rootfs.is_file(path):
                continue
            if path == "/etc/arch-release":  # empty by design: no product name, no version
                return
            text = read_text(ctx, self, path, f, max_bytes=4096) or ""
            first = text.strip().splitlines()[0].strip() if text.strip() else ""
            if not first:
                continue
            info.product_name = first
            version = release_file_version(first)
            if version is not None:
                self._set_version(info, path, version)
            return

    def _set_version(self, info: OSInfo, path: str, version: tuple[int, int]) -> None:
        info.version_major, info.version_minor = version
        info.evidence.append(self.evidence(path, f"version {version[0]}.{version[1]}, product name "
                                                 f"{info.product_name!r} (read as libguestfs reads them)"))
