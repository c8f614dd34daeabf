"""Network identity: hostname, /etc/hosts, nameservers, interfaces and the addresses configured on them
(ifupdown, netplan, systemd-networkd, NetworkManager keyfiles, RHEL ifcfg).

The static addresses are what lets the fleet graph match a connection string that names another VM by
IP (docs/fleet.md): each is recorded with its interface, prefix length and the file and line it was
read from; an interface configured by DHCP is recorded as such, without an address. A line whose
address or prefix does not parse is an unknown for that line (its text is not quoted), never a lost
output. Only names and addresses are read from NetworkManager profiles: they can hold Wi-Fi or VPN
secrets (psk, password), whose keys and sections are never looked at.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re

import yaml

from migrate.analyzers._support import read_text, unknown
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, HostEntry, InterfaceAddress, NetworkIdentity
from migrate.rootfs import RootFS

MAX_ADDRESSES = 1024  # per guest: a hostile file of a million address lines is not a million facts
MAX_BAD_LINES = 20  # unknowns per file; the rest are counted in one more
MAX_YAML_STEPS = 100_000  # netplan entries walked per file (aliases make a small file walk long)
MAX_NETWORKD_FILES = 1024  # .network files and their drop-ins read per guest
# systemd.network(5), highest priority first; /lib only on a Debian without merged /usr (with it, the
# same files as /usr/lib, hidden by name)
NETWORKD_DIRS = ("/etc/systemd/network", "/run/systemd/network", "/usr/local/lib/systemd/network",
                 "/usr/lib/systemd/network", "/lib/systemd/network")

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


class _Addresses:
    """Collects the interface addresses of one guest and the unknowns of lines that do not parse."""

    def __init__(self, analyzer: Analyzer, findings: Findings) -> None:
        self.analyzer = analyzer
        self.findings = findings
        self.found: list[InterfaceAddress] = []
        self.bad: dict[str, int] = {}
        self.dropped = 0

    def add(self, path: str, lineno: int, iface: str | None, ip: IP | None = None, prefixlen: int | None = None,
            ) -> None:
        if len(self.found) >= MAX_ADDRESSES:
            self.dropped += 1
            return
        self.found.append(InterfaceAddress(
            interface=iface, method="static" if ip is not None else "dhcp",
            address=str(ip) if ip is not None else None, prefixlen=prefixlen,
            evidence=self.analyzer.evidence(path, f"line {lineno}")))

    def bad_line(self, path: str, lineno: int, what: str) -> None:
        n = self.bad[path] = self.bad.get(path, 0) + 1
        if n <= MAX_BAD_LINES:
            self.findings.unknowns.append(unknown(self.analyzer, path, f"line {lineno}: {what}"))

    def cidr(self, path: str, lineno: int, iface: str | None, text: str, *, prefix: str | None = None) -> None:
        """Record ``text`` (``10.0.0.5/24``, ``10.0.0.5``, ``fd00::5/64``), else an unknown for the line.
        ``prefix`` is a separate netmask or prefix length (ifupdown ``netmask``, ifcfg ``PREFIX``)."""
        addr, slash, length = text.strip().strip("\"'").partition("/")
        ip = _ip(addr)
        if ip is None:
            self.bad_line(path, lineno, "not an IP address")
            return
        plen = None
        if slash or prefix:
            plen = _prefixlen(length if slash else prefix or "", ip.version)
            if plen is None:  # the tools refuse such a line: the address is not configured
                self.bad_line(path, lineno, "not a prefix length or netmask")
                return
        self.add(path, lineno, iface, ip, plen)

    def finish(self) -> list[InterfaceAddress]:
        for path, n in sorted(self.bad.items()):
            if n > MAX_BAD_LINES:
                self.findings.unknowns.append(unknown(self.analyzer, path, f"{n - MAX_BAD_LINES} more lines that are "
                                                                           "not addresses"))
        if self.dropped:
            self.findings.unknowns.append(unknown(self.analyzer, None, f"more than {MAX_ADDRESSES} interface "
                                                                       f"addresses: {self.dropped} not recorded"))
        return self.found


def _ip(text: str) -> IP | None:
    text = text.strip().strip("\"'")
    if not text or len(text) > 64 or not text.isascii():
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _prefixlen(text: str, version: int) -> int | None:
    """A prefix length (``24``) or, for IPv4, a dotted netmask (``255.255.255.0``); None if it is neither."""
    text = text.strip().strip("\"'")
    limit = 32 if version == 4 else 128
    if text.isascii() and text.isdecimal() and len(text) <= 3:
        n = int(text)
        return n if n <= limit else None
    if version == 4 and 7 <= len(text) <= 15 and text.isascii():
        try:
            return ipaddress.IPv4Network(f"0.0.0.0/{text}").prefixlen
        except ValueError:
            return None
    return None


def _truthy(text: str) -> bool:
    return text.strip().strip("\"'").lower() in ("yes", "true", "on", "1")


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
        found = _Addresses(self, f)

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
            for name, more in _ifupdown(text, path, found):
                if name is not None:
                    add(name)
                for pattern in more:
                    pending.extend(p for p in fs.glob(pattern) if fs.is_file(p))
        for path in fs.glob("/etc/netplan/*.yaml") + fs.glob("/etc/netplan/*.yml"):
            text = read_text(ctx, self, path, f)
            if text is None:
                continue
            try:
                root = yaml.compose(text, Loader=yaml.SafeLoader)
            except yaml.YAMLError as exc:  # its text can quote the file: only the line is named
                mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
                where = f" (line {mark.line + 1})" if mark is not None else ""
                f.unknowns.append(unknown(self, path, f"not valid YAML{where}"))
                continue
            except RecursionError:  # [[[[… nested deeper than the parser's stack
                f.unknowns.append(unknown(self, path, "not valid YAML: nested too deeply"))
                continue
            net.evidence.append(self.evidence(path))
            for name in _netplan(root, path, found):
                add(name)
        for path in fs.glob("/etc/NetworkManager/system-connections/*"):
            text = read_text(ctx, self, path, f, max_bytes=1024 * 1024)
            if text is None:
                continue
            m = re.search(r"^id=(.+)$", text, re.M)
            iface = re.search(r"^interface-name=(.+)$", text, re.M)
            name = iface.group(1).strip() if iface else f"nm:{m.group(1).strip() if m else posixpath.basename(path)}"
            add(name)
            _keyfile(text, path, name, found)
            net.evidence.append(self.evidence(path))
        for name in _networkd_units(ctx, self, f, net, found):
            add(name)
        for path in fs.glob("/etc/sysconfig/network-scripts/ifcfg-*"):
            text = read_text(ctx, self, path, f) or ""
            m = re.search(r"^DEVICE=[\"']?([^\"'\s]+)", text, re.M)
            name = m.group(1) if m else posixpath.basename(path)[6:]
            add(name)
            _ifcfg(text, path, name, found)
            net.evidence.append(self.evidence(path))
        net.addresses = found.finish()
        net.interfaces = interfaces
        if not net.evidence:
            raise NotApplicable("no network configuration files")
        f.network = net
        return f


_IFUPDOWN_STANZA_END = ("iface", "mapping", "auto", "source", "source-directory", "source-dir", "rename")


def _ifupdown(text: str, path: str, found: _Addresses) -> list[tuple[str | None, list[str]]]:
    """interfaces(5): (interface named by an ``iface`` line, None for a ``source`` line; file patterns it
    sources). Addresses: ``address A[/P]`` (several allowed) in an ``iface … inet|inet6`` stanza with an
    optional ``netmask`` (dotted or a prefix length); ``inet dhcp`` / ``inet6 auto|dhcp`` is DHCP."""
    out: list[tuple[str | None, list[str]]] = []
    stanza: dict | None = None

    def flush() -> None:
        if stanza is None:
            return
        netmask = stanza["netmask"]
        for lineno, value in stanza["addresses"]:
            if "/" in value or netmask is None:
                found.cidr(path, lineno, stanza["iface"], value)
            else:
                found.cidr(path, lineno, stanza["iface"], value, prefix=netmask[1])

    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        key = parts[0]
        if key in _IFUPDOWN_STANZA_END or key.startswith("allow-"):
            flush()
            stanza = None
        if key == "iface" and len(parts) >= 2:
            out.append((parts[1], []))
            family, method = (parts[2], parts[3]) if len(parts) >= 4 else ("", "")
            if family in ("inet", "inet6"):
                stanza = {"iface": parts[1], "addresses": [], "netmask": None}
                if method == "dhcp" or (family == "inet6" and method == "auto"):
                    found.add(path, lineno, parts[1])
        elif key in ("source", "source-directory", "source-dir") and len(parts) >= 2:
            pattern = parts[1] if parts[1].startswith("/") else f"/etc/network/{parts[1]}"
            if key != "source":
                pattern += "/*"
            out.append((None, [pattern]))
        elif stanza is not None and key == "address" and len(parts) >= 2:
            stanza["addresses"].append((lineno, parts[1]))
        elif stanza is not None and key == "netmask" and len(parts) >= 2:
            stanza["netmask"] = (lineno, parts[1])
    flush()
    return out


def _mapping(node: object) -> list[tuple[str, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        return []
    return [(str(k.value), v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]


def _netplan(root: object, path: str, found: _Addresses) -> list[str]:
    """netplan: interface names under network.{ethernets,bonds,bridges,vlans,wifis}; each one's
    ``addresses`` (``10.0.0.5/24`` items, or ``- 10.0.0.5/24: {label: …}`` mappings) and dhcp4/dhcp6."""
    names: list[str] = []
    steps = 0  # aliases share nodes: 1000 devices * 1000 keys * 1000 items is a few KiB of YAML
    network = dict(_mapping(root)).get("network")
    for kind, devices in _mapping(network):
        if kind not in ("ethernets", "bonds", "bridges", "vlans", "wifis"):
            continue
        for name, conf in _mapping(devices):
            names.append(name)
            steps += 1
            if steps > MAX_YAML_STEPS:
                found.findings.unknowns.append(unknown(found.analyzer, path, "too many entries: the rest not read"))
                return names
            for key, value in _mapping(conf):
                steps += len(value.value) if isinstance(value, yaml.SequenceNode) else 1
                if steps > MAX_YAML_STEPS:
                    break
                if key in ("dhcp4", "dhcp6") and isinstance(value, yaml.ScalarNode) and _truthy(str(value.value)):
                    found.add(path, value.start_mark.line + 1, name)
                elif key == "addresses" and isinstance(value, yaml.SequenceNode):
                    for item in value.value:
                        if isinstance(item, yaml.MappingNode):
                            item = item.value[0][0] if item.value else item
                        if isinstance(item, yaml.ScalarNode):
                            found.cidr(path, item.start_mark.line + 1, name, str(item.value))
                        else:
                            found.bad_line(path, item.start_mark.line + 1, "not an IP address")
    return names


def _ini(text: str, sections: tuple[str, ...]) -> list[tuple[int, str, str, str, int]]:
    """(line, section, key, value, line of the section's header) of the named sections of an INI-style
    file (systemd units, NetworkManager keyfiles); the lines of other sections are not even split."""
    out = []
    section = ""
    start = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            start = lineno
            continue
        if section not in sections:
            continue
        key, eq, value = line.partition("=")
        if eq:
            out.append((lineno, section, key.strip(), value.strip(), start))
    return out


def _masked(fs: RootFS, path: str) -> bool:
    """A symlink to /dev/null masks a unit file of the same name (an empty file does too: it says nothing)."""
    st = fs.lstat(path)
    return st is not None and st.kind == "symlink" and fs.readlink(path) == "/dev/null"


def _by_name(fs: RootFS, patterns: list[str]) -> list[tuple[str, str]]:
    """(file name, path) of the files ``patterns`` (highest priority first) match, each name once: the
    first directory that has it wins, whatever it holds, and the names come back in lexical order."""
    chosen: dict[str, str] = {}
    for pattern in patterns:
        for path in fs.glob(pattern):
            if fs.is_file(path) or _masked(fs, path):
                chosen.setdefault(posixpath.basename(path), path)
    return sorted(chosen.items())


def _networkd_units(ctx: Context, analyzer: Analyzer, f: Findings, net: NetworkIdentity,
                    found: _Addresses) -> list[str]:
    """systemd.network(5): the .network files of every directory of the search path, a name in a
    higher-priority directory hiding the same name further down (a link to /dev/null masks it), each
    followed by its ``<name>.d/*.conf`` drop-ins (looked up by name in every directory, the same
    masking) in lexical order. At most MAX_NETWORKD_FILES files are read. Returns interface names."""
    fs = ctx.rootfs
    names: list[str] = []
    left = MAX_NETWORKD_FILES
    for name, path in _by_name(fs, [f"{d}/*.network" for d in NETWORKD_DIRS]):
        if _masked(fs, path):
            continue
        dropins = [p for _, p in _by_name(fs, [f"{d}/{name}.d/*.conf" for d in NETWORKD_DIRS]) if not _masked(fs, p)]
        texts: list[tuple[str, str]] = []
        for p in [path, *dropins]:
            if left <= 0:
                f.unknowns.append(unknown(analyzer, None, f"more than {MAX_NETWORKD_FILES} systemd-networkd files: "
                                                          "the rest not read"))
                return names
            left -= 1
            text = read_text(ctx, analyzer, p, f)
            if text is None:
                continue
            texts.append((p, text))
        if texts and _applies_to_a_vm(texts):
            net.evidence.extend(analyzer.evidence(p) for p, _ in texts)
            names.extend(n for n in _networkd(texts, posixpath.basename(path), found) if n not in names)
    return names


# systemd.network(5) [Match] values that a VM guest's own interfaces never satisfy: systemd ships such
# files in /usr/lib/systemd/network for the links of containers it hosts (Driver=veth/bridge, nspawn's
# ve-*/vb-*/vz-*), of VMs it hosts (Driver=tun, vt-*), inside a container (Virtualization=container,
# host0), 6rd tunnels and Wi-Fi (Type=sit/wlan). Their addresses are pools (0.0.0.0/28), not the VM's.
_NOT_A_VM_NIC = {"Driver": {"veth", "bridge", "tun"}, "Type": {"sit", "wlan"}, "Kind": {"sit", "wlan"}}
_CONTAINER_VIRT = {"container", "no", "false", "0", "systemd-nspawn", "docker", "podman", "lxc", "lxc-libvirt",
                   "openvz", "rkt", "wsl", "proot", "pouch"}


def _applies_to_a_vm(texts: list[tuple[str, str]]) -> bool:
    """Whether a .network file (with its drop-ins) can match an interface of this guest, a VM: the last
    value of each [Match] condition decides (negations with '!')."""
    last: dict[str, str] = {}
    for _path, text in texts:
        for _lineno, _section, key, value, _start in _ini(text, ("Match",)):
            last[key] = value
    virt = last.get("Virtualization", "").strip()
    if virt:
        negated = virt.startswith("!")
        holds_in_a_vm = virt.lstrip("!").lower() not in _CONTAINER_VIRT
        if holds_in_a_vm == negated:
            return False
    for key, kinds in _NOT_A_VM_NIC.items():
        values = set(last.get(key, "").split())
        if values and values <= kinds:
            return False
    return True


def _networkd(texts: list[tuple[str, str]], default: str, found: _Addresses) -> list[str]:
    """One .network file and its drop-ins, parsed in order as networkd does: ``Name=`` in [Match] and
    ``Address=`` in [Network] accumulate and an empty one empties the list (an empty ``Address=``
    also drops the [Address] sections read so far); each [Address] section is one address (its last
    ``Address=``); the last ``DHCP=`` wins (yes/ipv4/ipv6/both is DHCP). The surviving settings are
    recorded in file and line order, under the interface names (the file's name if it has none)."""
    names: list[str] = []
    addresses: dict[tuple[int, int], tuple[int, str, str]] = {}  # (file, line or section) -> (line, path, value)
    dhcp: tuple[int, int, str, str] | None = None
    for order, (path, text) in enumerate(texts):
        for lineno, section, key, value, start in _ini(text, ("Match", "Network", "Address")):
            if section == "Match" and key == "Name":
                names = [*names, *value.split()] if value else []
            elif section == "Network" and key == "Address":
                if not value:
                    addresses.clear()
                else:
                    addresses[(order, lineno)] = (lineno, path, value)
            elif section == "Address" and key == "Address":
                if value:
                    addresses[(order, start)] = (lineno, path, value)
                else:
                    addresses.pop((order, start), None)
            elif section == "Network" and key == "DHCP":
                dhcp = (order, lineno, path, value.lower())
    iface = " ".join(names) or default
    events: list[tuple[int, int, str, str | None]] = [(o, ln, p, v) for (o, _), (ln, p, v) in addresses.items()]
    if dhcp is not None and dhcp[3] in ("yes", "true", "on", "1", "ipv4", "ipv6", "both"):
        events.append((dhcp[0], dhcp[1], dhcp[2], None))
    for _order, lineno, path, value in sorted(events, key=lambda e: (e[0], e[1])):
        if value is None:
            found.add(path, lineno, iface)
        else:
            found.cidr(path, lineno, iface, value)
    return names


def _keyfile(text: str, path: str, iface: str, found: _Addresses) -> None:
    """NetworkManager keyfile: [ipv4]/[ipv6] ``addressN=10.0.0.5/24,gateway`` (also the older
    ``addressesN=10.0.0.5;24;gateway;`` and ``addresses=a/p;b/p;``) and ``method=auto`` (DHCP). Only
    those keys of those two sections are looked at."""
    for lineno, _section, key, value, _start in _ini(text, ("ipv4", "ipv6")):
        if key == "method" and value == "auto":
            found.add(path, lineno, iface)
        elif re.fullmatch(r"address(es)?\d{0,4}", key) and value:
            items = [i.strip() for i in value.split(";") if i.strip()]
            if len(items) >= 2 and "/" not in items[0] and items[1].isdecimal():  # legacy ip;prefix;gateway
                found.cidr(path, lineno, iface, items[0], prefix=items[1])
                continue
            for item in items:
                found.cidr(path, lineno, iface, item.split(",", 1)[0])


def _ifcfg(text: str, path: str, iface: str, found: _Addresses) -> None:
    """RHEL ifcfg: ``IPADDR``/``IPADDRn`` with ``PREFIX``/``PREFIXn`` or ``NETMASK``/``NETMASKn``,
    ``IPV6ADDR`` and ``IPV6ADDR_SECONDARIES`` (``addr/prefix`` each), ``BOOTPROTO=dhcp``. The last
    assignment of a variable wins, as in the shell that sources the file."""
    values: dict[str, tuple[int, str]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*([A-Z][A-Z0-9_]{0,40})=(.*)$", line)
        if m:
            values[m.group(1)] = (lineno, m.group(2).split(" #", 1)[0].strip().strip("\"'"))
    boot = values.get("BOOTPROTO")
    if boot and boot[1].lower() in ("dhcp", "bootp"):
        found.add(path, boot[0], iface)
    if "DHCPV6C" in values and _truthy(values["DHCPV6C"][1]):
        found.add(path, values["DHCPV6C"][0], iface)
    for var in sorted((v for v in values if re.fullmatch(r"IPADDR\d{0,4}", v)), key=lambda v: values[v][0]):
        lineno, value = values[var]
        if not value:
            continue
        n = var[6:]
        prefix = values.get(f"PREFIX{n}") or values.get(f"NETMASK{n}")
        found.cidr(path, lineno, iface, value, prefix=prefix[1] if prefix and prefix[1] else None)
    for var in ("IPV6ADDR", "IPV6ADDR_SECONDARIES"):
        if var in values:
            lineno, value = values[var]
            for item in value.split():
                found.cidr(path, lineno, iface, item)
