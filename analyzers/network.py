"""Network identity: hostname, /etc/hosts, nameservers, interfaces (ifupdown, netplan, NetworkManager,
RHEL ifcfg). Only names are kept from NetworkManager profiles (they can hold Wi-Fi or VPN secrets)."""

from __future__ import annotations

import ipaddress
import posixpath
import re

import yaml

from migrate.analyzers._support import read_text, unknown
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, HostEntry, NetworkIdentity


class NetworkAnalyzer(Analyzer):
    name = "network"

    def run(self, ctx: Context) -> Findings:
        fs = ctx.rootfs
        f = Findings()
        net = NetworkIdentity()
        for path in ("/etc/hostname", "/etc/HOSTNAME"):
            text = read_text(ctx, self, path, f, max_bytes=4096)
            if text and text.strip():
                net.hostname = text.strip().splitlines()[0].strip()
                net.evidence.append(self.evidence(path))
                break
        if net.hostname is None:
            text = read_text(ctx, self, "/etc/sysconfig/network", f, max_bytes=65536) or ""
            m = re.search(r"^HOSTNAME=[\"']?([^\"'\s]+)", text, re.M)
            if m:
                net.hostname = m.group(1)
                net.evidence.append(self.evidence("/etc/sysconfig/network"))
        text = read_text(ctx, self, "/etc/hosts", f)
        if text is not None:
            net.evidence.append(self.evidence("/etc/hosts"))
            for lineno, line in enumerate(text.splitlines(), 1):
                parts = line.split("#", 1)[0].split()
                if len(parts) < 2:
                    continue
                try:
                    ipaddress.ip_address(parts[0].split("%", 1)[0])
                except ValueError:  # the resolver skips such a line; its text is not quoted (issue 8)
                    f.unknowns.append(unknown(self, "/etc/hosts", f"line {lineno}: not an IP address"))
                    continue
                net.hosts.append(HostEntry(address=parts[0], names=parts[1:]))
        text = read_text(ctx, self, "/etc/resolv.conf", f)
        if text is not None:
            net.evidence.append(self.evidence("/etc/resolv.conf"))
            net.nameservers = [ln.split()[1] for ln in text.splitlines()
                               if ln.startswith("nameserver") and len(ln.split()) > 1]
        interfaces: list[str] = []

        def add(name: str) -> None:
            if name not in interfaces:
                interfaces.append(name)

        pending = ["/etc/network/interfaces"]
        seen: set[str] = set()
        while pending:
            path = pending.pop(0)
            if path in seen:
                continue
            seen.add(path)
            text = read_text(ctx, self, path, f)
            if text is None:
                continue
            net.evidence.append(self.evidence(path))
            for line in text.splitlines():
                parts = line.split("#", 1)[0].split()
                if len(parts) >= 2 and parts[0] == "iface":
                    add(parts[1])
                elif len(parts) >= 2 and parts[0] in ("source", "source-directory"):
                    pattern = parts[1] if parts[1].startswith("/") else f"/etc/network/{parts[1]}"
                    if parts[0] == "source-directory":
                        pattern += "/*"
                    pending.extend(p for p in fs.glob(pattern) if fs.is_file(p))
        for path in fs.glob("/etc/netplan/*.yaml") + fs.glob("/etc/netplan/*.yml"):
            text = read_text(ctx, self, path, f)
            if text is None:
                continue
            try:
                data = yaml.safe_load(text) or {}
            except yaml.YAMLError as exc:
                f.unknowns.append(unknown(self, path, f"not valid YAML: {str(exc).splitlines()[0]}"))
                continue
            net.evidence.append(self.evidence(path))
            network = data.get("network", {}) if isinstance(data, dict) else {}
            for kind in ("ethernets", "bonds", "bridges", "vlans", "wifis"):
                for name in (network.get(kind) or {}) if isinstance(network, dict) else {}:
                    add(str(name))
        for path in fs.glob("/etc/NetworkManager/system-connections/*"):
            text = read_text(ctx, self, path, f, max_bytes=1024 * 1024)
            if text is None:
                continue
            m = re.search(r"^id=(.+)$", text, re.M)
            iface = re.search(r"^interface-name=(.+)$", text, re.M)
            add(iface.group(1).strip() if iface else f"nm:{m.group(1).strip() if m else posixpath.basename(path)}")
            net.evidence.append(self.evidence(path))
        for path in fs.glob("/etc/systemd/network/*.network"):
            text = read_text(ctx, self, path, f) or ""
            m = re.search(r"^\s*Name\s*=\s*(.+)$", text, re.M)
            for name in (m.group(1).split() if m else []):
                add(name)
            net.evidence.append(self.evidence(path))
        for path in fs.glob("/etc/sysconfig/network-scripts/ifcfg-*"):
            text = read_text(ctx, self, path, f) or ""
            m = re.search(r"^DEVICE=[\"']?([^\"'\s]+)", text, re.M)
            add(m.group(1) if m else posixpath.basename(path)[6:])
            net.evidence.append(self.evidence(path))
        net.interfaces = interfaces
        if not net.evidence:
            raise NotApplicable("no network configuration files")
        f.network = net
        return f
