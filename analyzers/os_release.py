"""OS and release: os-release first (the modern contract), then the older per-distro files."""

from __future__ import annotations

import re

from migrate.analyzers._support import read_bytes, read_text
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, OSInfo

FAMILIES = {
    "debian": "debian", "ubuntu": "debian", "raspbian": "debian", "linuxmint": "debian", "devuan": "debian",
    "kali": "debian", "rhel": "rhel", "centos": "rhel", "fedora": "rhel", "rocky": "rhel", "almalinux": "rhel",
    "ol": "rhel", "amzn": "rhel", "scientific": "rhel", "suse": "suse", "sles": "suse", "opensuse": "suse",
    "opensuse-leap": "suse", "opensuse-tumbleweed": "suse", "sled": "suse", "alpine": "alpine", "arch": "arch",
    "manjaro": "arch", "endeavouros": "arch", "archarm": "arch",
}
ELF_MACHINES = {0x3E: "x86_64", 0x03: "i386", 0xB7: "aarch64", 0x28: "arm", 0xF3: "riscv64", 0x15: "ppc64",
                0x16: "s390x"}


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

        for binary in ("/bin/sh", "/usr/bin/env", "/bin/busybox"):
            st = fs.stat(binary)
            if st is None or st.kind != "file" or st.size > 8 * 1024 * 1024:
                continue
            head = read_bytes(ctx, self, binary, f, max_bytes=8 * 1024 * 1024)
            if head and head[:4] == b"\x7fELF" and len(head) > 20:
                little = head[5] == 1
                machine = int.from_bytes(head[18:20], "little" if little else "big")
                info.arch = ELF_MACHINES.get(machine)
                break

        if not info.evidence and not info.kernel_versions:
            raise NotApplicable("no os-release, lsb-release or distribution release file")
        f.os = info
        return f
