"""Windows identification from the registry: product, version, build, architecture, host name.

The same facts libguestfs's inspection reads (daemon/inspect_fs_windows.ml), from the same places:
SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion for the product and version, the live control set
(SYSTEM\\Select\\Current) for the host name (Services\\Tcpip\\Parameters, else
Control\\ComputerName\\ComputerName), and the PE header of %SystemRoot%\\System32\\cmd.exe for the
architecture. This analyzer identifies the OS (``identifies_os``), so the Windows-only analyzers run
after it and a Windows guest never passes as "unknown".
"""

from __future__ import annotations

import ipaddress

from migrate.analyzers._support import read_text
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.analyzers.windows_hive import (
    Hive,
    Key,
    current_control_set,
    find_path,
    pe_machine,
    readable_hive,
    windows_folder,
    windows_guest,
)
from migrate.analyzers.windows_services import SERVICE_DRIVER
from migrate.model.inventory import Findings, HostEntry, NetworkIdentity, OSInfo, Unknown, WindowsInfo

PE_HEAD_BYTES = 4096


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class WindowsRegistryAnalyzer(Analyzer):
    name = "windows_registry"
    identifies_os = True

    def run(self, ctx: Context) -> Findings:
        guest = windows_guest(ctx)
        if guest is None:
            folder = windows_folder(ctx.rootfs)
            if folder is None:
                raise NotApplicable("no %SystemRoot% with a SYSTEM hive")
            # Windows, but its registry is missing or not a file (a link elsewhere): say so, never pass
            return Findings(os=OSInfo(family="windows", distro="windows", evidence=[self.evidence(folder)]),
                            unknowns=[Unknown(analyzer=self.name, path=f"{folder}/config/SYSTEM",
                                              message="a Windows System32 folder without a readable SYSTEM hive "
                                                      "(missing, or not a regular file): nothing identified")])
        f = Findings()
        info = WindowsInfo(systemroot=guest.systemroot)
        os_info = OSInfo(family="windows", distro="windows")
        net = NetworkIdentity()
        software = readable_hive(ctx, "SOFTWARE", self.name, f)
        if software is not None:
            with software:
                self._software(software, info, os_info)
        system = readable_hive(ctx, "SYSTEM", self.name, f)
        if system is not None:
            with system:
                self._system(system, info, net, f)
        self._hosts_file(ctx, guest.systemroot, net, f)
        os_info.arch = self._arch(ctx, guest.systemroot, os_info)
        if os_info.version is None:
            f.unknowns.append(Unknown(analyzer=self.name, path=guest.software_hive or guest.systemroot,
                                      message="Windows found, but its product and version are not in the "
                                              "SOFTWARE hive (Microsoft\\Windows NT\\CurrentVersion)"))
        os_info.evidence = info.evidence + os_info.evidence
        f.unknowns += self._cross_check(ctx, os_info, info, net)
        f.os, f.windows = os_info, info
        if net.hostname or net.hosts:
            f.network = net
        return f

    def _cross_check(self, ctx: Context, os_info: OSInfo, info: WindowsInfo, net: NetworkIdentity) -> list[Unknown]:
        """Where the backend identified the OS itself (libguestfs), every fact both have must agree."""
        ref = ctx.rootfs.identity
        if ref.get("type") != "windows":
            return []
        ours = {"product_name": os_info.pretty_name, "version": os_info.version, "arch": os_info.arch,
                "hostname": net.hostname, "windows_systemroot": info.systemroot,
                "windows_current_control_set": info.current_control_set}
        return [Unknown(analyzer=self.name, path=info.evidence[0].path if info.evidence else info.systemroot,
                        message=f"{key}: the registry says {mine!r}, libguestfs's inspection {ref[key]!r}")
                for key, mine in ours.items() if key in ref and mine is not None and mine != ref[key]]

    def _software(self, hive: Hive, info: WindowsInfo, os_info: OSInfo) -> None:
        cv = hive.key("Microsoft\\Windows NT\\CurrentVersion")
        if cv is None:
            return
        info.product_name = cv.text("ProductName")
        info.edition = cv.text("EditionID")
        info.installation_type = cv.text("InstallationType")
        info.build = cv.text("CurrentBuild") or cv.text("CurrentBuildNumber")
        # Windows 10 and later keep "6.3" in CurrentVersion for old programs and the real version in
        # CurrentMajorVersionNumber / CurrentMinorVersionNumber
        major, minor = cv.number("CurrentMajorVersionNumber"), cv.number("CurrentMinorVersionNumber")
        version = f"{major}.{minor or 0}" if major is not None else cv.text("CurrentVersion")
        os_info.version = version
        os_info.pretty_name = info.product_name
        os_info.product_name = info.product_name
        if major is not None:
            os_info.version_major, os_info.version_minor = major, minor or 0
        elif version and all(p.isdecimal() and len(p) <= 9 for p in version.split(".", 1)):
            head, _, tail = version.partition(".")
            os_info.version_major, os_info.version_minor = int(head), int(tail or 0)
        info.evidence.append(self.evidence(hive.path, f"{cv.path}"))

    def _system(self, hive: Hive, info: WindowsInfo, net: NetworkIdentity, f: Findings) -> None:
        ccs = current_control_set(hive)
        info.current_control_set = ccs
        if ccs is None:
            f.unknowns.append(Unknown(analyzer=self.name, path=hive.path,
                                      message="SYSTEM\\Select\\Current names no control set in the hive"))
            return
        info.evidence.append(self.evidence(hive.path, "HKLM\\SYSTEM\\Select Current"))
        params = hive.key(f"{ccs}\\Services\\Tcpip\\Parameters")
        computer = hive.key(f"{ccs}\\Control\\ComputerName\\ComputerName")
        hostname = params.text("Hostname") if params else None
        where = params
        if hostname is None and computer is not None:
            hostname, where = computer.text("ComputerName"), computer
        if hostname and where is not None:
            net.hostname = hostname
            net.evidence.append(self.evidence(hive.path, where.path))
        info.domain = (params.text("Domain") or params.text("NV Domain")) if params else None
        if params is not None:
            self._interfaces(params, info, net)
        services = hive.key(f"{ccs}\\Services")
        if services is not None:
            keys, _more = services.subkeys()
            info.drivers = sum(1 for k in keys if (k.number("Type") or 0) & SERVICE_DRIVER)

    def _interfaces(self, params: Key, info: WindowsInfo, net: NetworkIdentity) -> None:
        """Static addresses and name servers of each interface (Tcpip\\Parameters\\Interfaces\\{GUID}); the
        machine's own name maps to its static addresses as a hosts entry, as a Linux guest's /etc/hosts
        maps it (what the fleet matches other VMs' connections against). DHCP leases are not the
        machine's address: they are left out."""
        interfaces = params.subkey("Interfaces")
        if interfaces is None:
            return
        names = [n for n in (net.hostname, f"{net.hostname}.{info.domain}" if net.hostname and info.domain else None)
                 if n]
        keys, _more = interfaces.subkeys()
        for key in keys:
            servers = key.text("NameServer") or ""
            for server in servers.replace(",", " ").split():
                if _is_ip(server) and server not in net.nameservers:
                    net.nameservers.append(server)
            if key.number("EnableDHCP") not in (0, None):
                continue
            addresses = key.value("IPAddress")
            addresses = addresses if isinstance(addresses, list) else [addresses] if isinstance(addresses, str) else []
            static = [a.strip() for a in addresses if _is_ip(a.strip()) and a.strip() != "0.0.0.0"]
            if not static:
                continue
            net.interfaces.append(key.name)
            net.evidence.append(self.evidence(key.hive, key.path))
            for address in static:
                if names:
                    net.hosts.append(HostEntry(address=address, names=list(names)))

    def _hosts_file(self, ctx: Context, systemroot: str, net: NetworkIdentity, f: Findings) -> None:
        """%SystemRoot%\\System32\\drivers\\etc\\hosts: the same format as /etc/hosts."""
        path = find_path(ctx.rootfs, f"{systemroot}/System32/drivers/etc/hosts")
        text = read_text(ctx, self, path, f) if path else None
        if text is None:
            return
        net.evidence.append(self.evidence(path))
        for lineno, line in enumerate(text.splitlines(), 1):
            parts = line.split("#", 1)[0].split()
            if len(parts) < 2:
                continue
            if not _is_ip(parts[0].split("%", 1)[0]):  # the resolver skips it; its text is not quoted
                f.unknowns.append(Unknown(analyzer=self.name, path=path, message=f"line {lineno}: not an IP address"))
                continue
            net.hosts.append(HostEntry(address=parts[0], names=parts[1:]))

    def _arch(self, ctx: Context, systemroot: str, os_info: OSInfo) -> str | None:
        path = find_path(ctx.rootfs, f"{systemroot}/System32/cmd.exe")
        if path is None or not ctx.rootfs.is_file(path):
            return None
        try:
            head = ctx.rootfs.open(path).pread(0, PE_HEAD_BYTES)
        except Exception:  # noqa: BLE001 - an unreadable cmd.exe leaves the arch unknown
            return None
        arch = pe_machine(head)
        if arch:
            os_info.evidence.append(self.evidence(path, "PE machine"))
        return arch
