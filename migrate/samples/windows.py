"""A small Windows Server guest on NTFS: real registry hives, a real applicationHost.config, no Windows.

No Windows installation media can be used here, so this sample holds exactly what the inspection
reads and nothing else: the SYSTEM and SOFTWARE hives written by hivex (``hivexregedit --merge``,
the tool libguestfs builds its own phony Windows guest with) from the .reg texts below, IIS's
applicationHost.config with two sites, a PE header as cmd.exe (its machine field gives the
architecture, as libguestfs reads it) and the sites' folders, on an NTFS volume that libguestfs's
appliance formats (``mkfs ntfs``) inside an MBR partition, exported as qcow2. ntfs-3g's links are
there too: "Documents and Settings" -> /Users as on real Windows, a loop of two links and one that
climbs out of the volume towards the host's /etc/passwd.

hivex cannot create a hive from nothing, so ``empty_hive`` writes the smallest valid one (a regf
header, one hive bin with the root key and its security cell); everything else is hivex's work.
The current control set is ControlSet002 (``Select\\Current`` = 2) while ControlSet001 holds decoy
values, so a reader that ignores Select is caught.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

from migrate.samples._common import Progress, Recipe, _noop, run

DISK_BYTES = 64 * 1024 * 1024
HOSTNAME = "web-srv01"

SYSTEM_REG = r"""Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SYSTEM\Select]
"Current"=dword:00000002
"Default"=dword:00000002
"LastKnownGood"=dword:00000001

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\ComputerName]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\ComputerName\ComputerName]
"ComputerName"="OLD-NAME"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\Decoy]
"ImagePath"="C:\\decoy.exe"
"Start"=dword:00000002
"Type"=dword:00000010

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Control]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Control\ComputerName]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Control\ComputerName\ComputerName]
"ComputerName"="WEB-SRV01"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\Tcpip]
"Start"=dword:00000000
"Type"=dword:00000001
"ImagePath"=hex(2):53,00,79,00,73,00,74,00,65,00,6d,00,33,00,32,00,5c,00,64,00,72,00,69,00,76,00,65,00,72,00,\
  73,00,5c,00,74,00,63,00,70,00,69,00,70,00,2e,00,73,00,79,00,73,00,00,00

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\Tcpip\Parameters]
"Hostname"="web-srv01"
"Domain"="corp.example"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\Tcpip\Parameters\Interfaces]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\Tcpip\Parameters\Interfaces\{5A1C1E0B-7C51-4D1B-9E3A-0C2D7F1B2A10}]
"EnableDHCP"=dword:00000000
"IPAddress"=hex(7):31,00,30,00,2e,00,30,00,2e,00,30,00,2e,00,35,00,00,00,00,00
"SubnetMask"=hex(7):32,00,35,00,35,00,2e,00,32,00,35,00,35,00,2e,00,32,00,35,00,35,00,2e,00,30,00,00,00,00,00
"NameServer"="10.0.0.2,10.0.0.3"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\Tcpip\Parameters\Interfaces\{9F0E4C2A-1B7D-4E55-8C11-3A6B5D4E2F01}]
"EnableDHCP"=dword:00000001
"DhcpIPAddress"="192.168.122.50"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\W3SVC]
"DisplayName"="World Wide Web Publishing Service"
"ImagePath"=hex(2):25,00,53,00,79,00,73,00,74,00,65,00,6d,00,52,00,6f,00,6f,00,74,00,25,00,5c,00,73,00,79,00,\
  73,00,74,00,65,00,6d,00,33,00,32,00,5c,00,73,00,76,00,63,00,68,00,6f,00,73,00,74,00,2e,00,65,00,78,00,65,\
  00,20,00,2d,00,6b,00,20,00,69,00,69,00,73,00,73,00,76,00,63,00,73,00,00,00
"Start"=dword:00000002
"Type"=dword:00000020
"ObjectName"="LocalSystem"
"DependOnService"=hex(7):48,00,54,00,54,00,50,00,00,00,57,00,41,00,53,00,00,00,00,00

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\MSSQL$SQLEXPRESS]
"DisplayName"="SQL Server (SQLEXPRESS)"
"ImagePath"="\"C:\\Program Files\\Microsoft SQL Server\\MSSQL15.SQLEXPRESS\\MSSQL\\Binn\\sqlservr.exe\" -sSQLEXPRESS"
"Start"=dword:00000002
"Type"=dword:00000010
"ObjectName"="NT Service\\MSSQL$SQLEXPRESS"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\ShopSync]
"DisplayName"="Shop order sync"
"ImagePath"="C:\\Apps\\ShopSync\\ShopSync.exe --config C:\\Apps\\ShopSync\\sync.json"
"Start"=dword:00000003
"Type"=dword:00000010
"ObjectName"=".\\svc_shop"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\RemoteRegistry]
"DisplayName"="Remote Registry"
"ImagePath"=hex(2):25,00,53,00,79,00,73,00,74,00,65,00,6d,00,52,00,6f,00,6f,00,74,00,25,00,5c,00,73,00,79,00,\
  73,00,74,00,65,00,6d,00,33,00,32,00,5c,00,73,00,76,00,63,00,68,00,6f,00,73,00,74,00,2e,00,65,00,78,00,65,\
  00,20,00,2d,00,6b,00,20,00,6c,00,6f,00,63,00,61,00,6c,00,53,00,65,00,72,00,76,00,69,00,63,00,65,00,00,00
"Start"=dword:00000004
"Type"=dword:00000020
"ObjectName"="NT AUTHORITY\\LocalService"
"""

SOFTWARE_REG = r"""Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion]
"ProductName"="Windows Server 2019 Standard"
"EditionID"="ServerStandard"
"InstallationType"="Server"
"CurrentVersion"="6.3"
"CurrentMajorVersionNumber"=dword:0000000a
"CurrentMinorVersionNumber"=dword:00000000
"CurrentBuild"="17763"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\{8C3E3A22-5C34-4C1E-A8B3-2D4A4B1C9E01}]
"DisplayName"="Microsoft SQL Server 2019 (64-bit)"
"DisplayVersion"="15.0.2000.5"
"Publisher"="Microsoft Corporation"
"InstallLocation"="C:\\Program Files\\Microsoft SQL Server\\"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\ShopSync]
"DisplayName"="Shop order sync"
"DisplayVersion"="2.4.1"
"Publisher"="Example Shop Ltd"
"InstallLocation"="C:\\Apps\\ShopSync"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names\SQL]
"SQLEXPRESS"="MSSQL15.SQLEXPRESS"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server\MSSQL15.SQLEXPRESS]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server\MSSQL15.SQLEXPRESS\Setup]
"Version"="15.0.2000.5"
"Edition"="Express Edition"
"SQLDataRoot"="C:\\Program Files\\Microsoft SQL Server\\MSSQL15.SQLEXPRESS\\MSSQL"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server\MSSQL15.SQLEXPRESS\MSSQLServer]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server\MSSQL15.SQLEXPRESS\MSSQLServer\SuperSocketNetLib]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server\MSSQL15.SQLEXPRESS\MSSQLServer\SuperSocketNetLib\Tcp]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server\MSSQL15.SQLEXPRESS\MSSQLServer\SuperSocketNetLib\Tcp\IPAll]
"TcpPort"="1433"
"TcpDynamicPorts"=""

[HKEY_LOCAL_MACHINE\SOFTWARE\Wow6432Node]

[HKEY_LOCAL_MACHINE\SOFTWARE\Wow6432Node\Microsoft]

[HKEY_LOCAL_MACHINE\SOFTWARE\Wow6432Node\Microsoft\Windows]

[HKEY_LOCAL_MACHINE\SOFTWARE\Wow6432Node\Microsoft\Windows\CurrentVersion]

[HKEY_LOCAL_MACHINE\SOFTWARE\Wow6432Node\Microsoft\Windows\CurrentVersion\Uninstall]

[HKEY_LOCAL_MACHINE\SOFTWARE\Wow6432Node\Microsoft\Windows\CurrentVersion\Uninstall\7-Zip]
"DisplayName"="7-Zip 19.00"
"DisplayVersion"="19.00"
"Publisher"="Igor Pavlov"
"""

APPLICATION_HOST = """<?xml version="1.0" encoding="UTF-8"?>
<configuration>
    <system.applicationHost>
        <applicationPools>
            <add name="DefaultAppPool" />
            <add name="ShopPool" managedRuntimeVersion="v4.0" />
        </applicationPools>
        <sites>
            <site name="Default Web Site" id="1">
                <application path="/">
                    <virtualDirectory path="/" physicalPath="%SystemDrive%\\inetpub\\wwwroot" />
                </application>
                <bindings>
                    <binding protocol="http" bindingInformation="*:80:" />
                </bindings>
            </site>
            <site name="Shop" id="2" serverAutoStart="true">
                <application path="/" applicationPool="ShopPool">
                    <virtualDirectory path="/" physicalPath="C:\\Sites\\Shop" />
                </application>
                <application path="/api" applicationPool="ShopPool">
                    <virtualDirectory path="/" physicalPath="C:\\Sites\\Shop\\api" />
                </application>
                <bindings>
                    <binding protocol="http" bindingInformation="*:8080:shop.example.internal" />
                    <binding protocol="https" bindingInformation="10.0.0.5:443:shop.example.internal" />
                </bindings>
            </site>
            <siteDefaults>
                <logFile directory="%SystemDrive%\\inetpub\\logs\\LogFiles" />
            </siteDefaults>
        </sites>
    </system.applicationHost>
</configuration>
"""


WEB_CONFIG = """<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <connectionStrings>
    <add name="ShopDb" providerName="System.Data.SqlClient"
         connectionString="Server=tcp:db01.corp.example,1433;Database=shop;User Id=shop_app;Password=Sh0p-S3cret!;" />
    <add name="Reporting"
         connectionString="Data Source=.\\SQLEXPRESS;Initial Catalog=reports;Integrated Security=True" />
  </connectionStrings>
  <system.webServer>
    <defaultDocument><files><add value="default.htm" /></files></defaultDocument>
  </system.webServer>
</configuration>
"""
HOSTS = """# Copyright (c) 1993-2009 Microsoft Corp.
#
# This is a sample HOSTS file used by Microsoft TCP/IP for Windows.
10.0.0.7    db01.corp.example db01
# 127.0.0.1       localhost
"""
SECRET = "Sh0p-S3cret!"  # the one password in the guest (web.config): must never appear in clear outside it


def empty_hive(root_name: str = "ROOT") -> bytes:
    """The smallest hive hivex opens and merges into: the 4 KiB regf header (checksum = XOR of its
    first 127 dwords), one 4 KiB hive bin holding the root key cell, the security cell every key
    points at (hivex copies it to new keys) and one free cell for the rest of the bin."""

    def cell(body: bytes) -> bytes:
        size = (4 + len(body) + 7) // 8 * 8
        return struct.pack("<i", -size) + body + b"\0" * (size - 4 - len(body))

    name = root_name.encode("ascii")
    # nk: flags (root | no-delete | ASCII name), parent, sub-key and value counts and lists (none),
    # security cell offset (patched below), class, maximum lengths, name length
    nk_fields = [0x2C, 0, 0, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF, 0, 0xFFFFFFFF, 0, 0xFFFFFFFF, 0, 0, 0, 0, 0,
                 len(name), 0]
    nk_off = 0x20
    sk_off = nk_off + len(cell(b"nk" + struct.pack("<HQIIIIIIIIIIIIIIIHH", *nk_fields) + name))
    nk_fields[10] = sk_off
    nk = cell(b"nk" + struct.pack("<HQIIIIIIIIIIIIIIIHH", *nk_fields) + name)
    descriptor = struct.pack("<BBHIIII", 1, 0, 0x8000, 0, 0, 0, 0)  # self-relative, no owner or ACLs
    sk = cell(b"sk" + struct.pack("<HIIII", 0, sk_off, sk_off, 1, len(descriptor)) + descriptor)
    free = 4096 - 0x20 - len(nk) - len(sk)
    hbin = b"hbin" + struct.pack("<III", 0, 4096, 0) + b"\0" * 16 + nk + sk + struct.pack("<i", free)
    hbin += b"\0" * (4096 - len(hbin))
    header = bytearray(4096)
    struct.pack_into("<4sIIQIIIIIII", header, 0, b"regf", 1, 1, 0, 1, 3, 0, 1, nk_off, 4096, 1)
    checksum = 0
    for off in range(0, 508, 4):
        checksum ^= struct.unpack_from("<I", header, off)[0]
    struct.pack_into("<I", header, 508, checksum)
    return bytes(header) + hbin


def pe_header(machine: int) -> bytes:
    """An MS-DOS stub pointing at a PE signature, a COFF header with ``machine`` (0x8664: x86-64) and
    the start of an optional header (PE32+ for 64-bit machines, console subsystem): what `file` and
    libguestfs's inspection read of cmd.exe to tell the architecture."""
    head = bytearray(1024)
    head[0:2] = b"MZ"
    struct.pack_into("<I", head, 0x3C, 0x80)
    head[0x80:0x84] = b"PE\0\0"
    pe64 = machine in (0x8664, 0xAA64)
    # COFF: machine, sections, timestamp, symbol table, symbols, optional header size, characteristics
    struct.pack_into("<HHIIIHH", head, 0x84, machine, 0, 0, 0, 0, 0xF0 if pe64 else 0xE0, 0x22 if pe64 else 0x102)
    struct.pack_into("<H", head, 0x98, 0x20B if pe64 else 0x10B)  # optional header magic
    struct.pack_into("<H", head, 0x98 + 68, 3)  # subsystem: Windows console
    return bytes(head)


def make_hive(path: Path, prefix: str, reg_text: str) -> None:
    path.write_bytes(empty_hive())
    reg = path.with_suffix(".reg")
    reg.write_text(reg_text, encoding="utf-8")
    run(["hivexregedit", "--merge", path, "--prefix", prefix, reg])
    reg.unlink()


def build(out: Path, cache_dir: Path, progress: Progress = _noop) -> dict[str, Any]:
    t0 = time.monotonic()
    work = out / "work"
    work.mkdir()
    progress("windows: registry hives (hivexregedit --merge)")
    make_hive(work / "SYSTEM", r"HKEY_LOCAL_MACHINE\SYSTEM", SYSTEM_REG)
    make_hive(work / "SOFTWARE", r"HKEY_LOCAL_MACHINE\SOFTWARE", SOFTWARE_REG)
    (work / "applicationHost.config").write_text(APPLICATION_HOST, encoding="utf-8")
    (work / "cmd.exe").write_bytes(pe_header(0x8664))
    (work / "index.html").write_text("<h1>IIS default site</h1>\n")
    (work / "web.config").write_text(WEB_CONFIG, encoding="utf-8")
    (work / "hosts").write_text(HOSTS, encoding="utf-8")
    raw = out / "work" / "disk.raw"
    script = f"""
sparse {raw} {DISK_BYTES}
run
part-init /dev/sda mbr
part-add /dev/sda p 2048 -64
mkfs ntfs /dev/sda1 label:System
mount /dev/sda1 /
mkdir-p /Windows/System32/config
mkdir-p /Windows/System32/inetsrv/config
mkdir-p /Windows/System32/drivers/etc
upload {work}/hosts /Windows/System32/drivers/etc/hosts
upload {work}/SYSTEM /Windows/System32/config/SYSTEM
upload {work}/SOFTWARE /Windows/System32/config/SOFTWARE
upload {work}/cmd.exe /Windows/System32/cmd.exe
upload {work}/applicationHost.config /Windows/System32/inetsrv/config/applicationHost.config
mkdir-p /inetpub/wwwroot
upload {work}/index.html /inetpub/wwwroot/iisstart.htm
mkdir-p /Sites/Shop/api
upload {work}/index.html /Sites/Shop/default.htm
upload {work}/web.config /Sites/Shop/web.config
mkdir-p "/Program Files/Microsoft SQL Server/MSSQL15.SQLEXPRESS/MSSQL/Binn"
mkdir-p /Apps/ShopSync
mkdir-p /Users/Public
ln-s /Users "/Documents and Settings"
ln-s loop2 /Apps/loop1
ln-s loop1 /Apps/loop2
ln-s ../../../../etc/passwd /Apps/outside
"""
    progress("windows: NTFS disk (guestfish mkfs ntfs + upload)")
    from migrate.image.guestfs_backend import guestfs_environment

    guestfs_environment()
    run(["guestfish"], input=script.encode())  # commands from stdin
    run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, out / "windows.qcow2"])
    raw.unlink()
    for f in work.iterdir():
        f.unlink()
    work.rmdir()
    facts: dict[str, Any] = {
        "hostname": HOSTNAME,
        "computer_name": "WEB-SRV01",
        "domain": "corp.example",
        "static_addresses": {"10.0.0.5": ["web-srv01", "web-srv01.corp.example"]},
        "nameservers": ["10.0.0.2", "10.0.0.3"],
        "hosts_file": {"10.0.0.7": ["db01.corp.example", "db01"]},
        "product_name": "Windows Server 2019 Standard",
        "version": "10.0",
        "build": "17763",
        "arch": "x86_64",
        "systemroot": "/Windows",
        "current_control_set": "ControlSet002",
        "services": {"W3SVC": "automatic", "MSSQL$SQLEXPRESS": "automatic", "ShopSync": "manual",
                     "RemoteRegistry": "disabled"},
        "drivers": 1,
        "links": {"/Documents and Settings": "/Users", "/Apps/loop1": "loop2",
                  "/Apps/outside": "../../../../etc/passwd"},
        "programs": ["{8C3E3A22-5C34-4C1E-A8B3-2D4A4B1C9E01}", "ShopSync", "7-Zip"],
        "iis_sites": {"Default Web Site": ["http *:80"], "Shop": ["http *:8080 shop.example.internal",
                                                                  "https 10.0.0.5:443 shop.example.internal"]},
        "connections": {"ShopDb": ["mssql", "db01.corp.example", 1433, "shop", "shop_app"],
                        "Reporting": ["mssql", "localhost", None, "reports", None]},
        "sqlserver": {"SQLEXPRESS": {"instance_id": "MSSQL15.SQLEXPRESS", "version": "15.0.2000.5", "port": 1433}},
        "build_seconds": round(time.monotonic() - t0, 1),
    }
    (out / "facts.json").write_text(json.dumps(facts, indent=2, sort_keys=True))
    return {"qcow2": "windows.qcow2"}


RECIPE = Recipe(
    name="windows",
    description="Windows Server 2019 stand-in: NTFS with real SYSTEM/SOFTWARE hives (hivex) and IIS's "
                "applicationHost.config (two sites), SQL Server Express registered; no Windows binaries",
    build=build,
    params={"disk": DISK_BYTES},
)
