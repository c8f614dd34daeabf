"""The Windows analyzers on a guest tree in a directory: real hives (hivexregedit --merge from the
windows sample's .reg texts), the sample's applicationHost.config. No disk image, no appliance: part
of `make test-fast`. The NTFS image of the same guest is tested in test_windows_images.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.analysis import run_analyzers
from migrate.analyzers.base import Context
from migrate.analyzers.iis import parse_binding
from migrate.analyzers.windows_hive import guest_path_of, pe_machine
from migrate.analyzers.windows_services import split_command_line
from migrate.errors import InvalidDocument
from migrate.generate import generate
from migrate.model.inventory import Inventory, OSInfo
from migrate.plan import make_plan
from migrate.rootfs import RootFS
from migrate.samples import windows as sample


def make_tree(root: Path, *, systemroot: str = "Windows", config: str = "config", system_reg: str | None = None,
              software_reg: str | None = None) -> Path:
    """A Windows guest tree like the sample's, with the folder names spelled as asked."""
    cfg = root / systemroot / "System32" / config
    cfg.mkdir(parents=True)
    sample.make_hive(cfg / "SYSTEM", r"HKEY_LOCAL_MACHINE\SYSTEM", system_reg or sample.SYSTEM_REG)
    sample.make_hive(cfg / "SOFTWARE", r"HKEY_LOCAL_MACHINE\SOFTWARE", software_reg or sample.SOFTWARE_REG)
    (root / systemroot / "System32" / "cmd.exe").write_bytes(sample.pe_header(0x8664))
    inetsrv = root / systemroot / "System32" / "inetsrv" / "config"
    inetsrv.mkdir(parents=True)
    (inetsrv / "applicationHost.config").write_text(sample.APPLICATION_HOST)
    for d in ("inetpub/wwwroot", "Sites/Shop/api", "Program Files/Microsoft SQL Server/MSSQL15.SQLEXPRESS/MSSQL"):
        (root / d).mkdir(parents=True)
    (root / "Sites/Shop/default.htm").write_text("<h1>shop</h1>\n")
    (root / "Sites/Shop/web.config").write_text(sample.WEB_CONFIG)
    (root / systemroot / "System32" / "drivers" / "etc").mkdir(parents=True)
    (root / systemroot / "System32" / "drivers" / "etc" / "hosts").write_text(sample.HOSTS)
    return root


def inventory_of(root: Path) -> Inventory:
    rootfs = RootFS.from_directory(root)
    result, ctx = run_analyzers(rootfs, Context(rootfs=rootfs))
    m = result.merged
    return Inventory(name="win", backend="directory", os=m.os or OSInfo(), network=result.network,
                     services=m.services, ports=m.ports, configs=m.configs, persistent_paths=m.persistent_paths,
                     connections=m.connections, secrets=m.secrets,
                     unknowns=m.unknowns, analyzers=result.runs, windows=m.windows,
                     windows_programs=m.windows_programs, iis_sites=m.iis_sites,
                     sqlserver_instances=m.sqlserver_instances).canonical()


@pytest.fixture(scope="module")
def tree_inventory(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    return inventory_of(make_tree(tmp_path_factory.mktemp("win")))


def test_identification(tree_inventory: Inventory) -> None:
    inv = tree_inventory
    assert (inv.os.family, inv.os.distro, inv.os.version, inv.os.arch) == ("windows", "windows", "10.0", "x86_64")
    assert inv.os.pretty_name == inv.os.product_name == "Windows Server 2019 Standard"
    assert (inv.os.version_major, inv.os.version_minor) == (10, 0)  # not CurrentVersion's compatibility "6.3"
    w = inv.windows
    assert w is not None
    assert (w.systemroot, w.current_control_set, w.edition, w.installation_type, w.build, w.domain, w.drivers) == (
        "/Windows", "ControlSet002", "ServerStandard", "Server", "17763", "corp.example", 1)
    # the live control set (Select\Current = 2), not ControlSet001's decoys
    assert inv.network.hostname == "web-srv01"
    assert inv.network.evidence[0].detail == r"HKLM\SYSTEM\ControlSet002\Services\Tcpip\Parameters"
    # the static address of the one interface without DHCP, named as the machine calls itself (for the fleet)
    assert [(h.address, h.names) for h in inv.network.hosts] == [("10.0.0.5", ["web-srv01", "web-srv01.corp.example"]),
                                                                ("10.0.0.7", ["db01.corp.example", "db01"])]
    assert inv.network.nameservers == ["10.0.0.2", "10.0.0.3"]
    assert inv.network.interfaces == ["{5A1C1E0B-7C51-4D1B-9E3A-0C2D7F1B2A10}"]
    assert {e.path for e in inv.os.evidence} == {"/Windows/System32/config/SOFTWARE", "/Windows/System32/config/SYSTEM",
                                                 "/Windows/System32/cmd.exe"}
    assert not inv.unknowns
    runs = {r.name: r.status for r in inv.analyzers}
    assert all(runs[n] == "ok" for n in ("windows_registry", "windows_services", "windows_programs", "iis", "mssql"))
    assert runs["os_release"] == "not-applicable" and runs["systemd"] == "not-applicable"


def test_services(tree_inventory: Inventory) -> None:
    svc = {s.name: s for s in tree_inventory.services}
    assert set(svc) == set(sample_facts()["services"])  # Decoy is in ControlSet001 only; Tcpip is a driver
    assert {n: s.windows_start for n, s in svc.items()} == sample_facts()["services"]
    assert {n: s.state for n, s in svc.items()} == {"W3SVC": "enabled", "MSSQL$SQLEXPRESS": "enabled",
                                                    "ShopSync": "static", "RemoteRegistry": "disabled"}
    w3 = svc["W3SVC"]
    assert w3.manager == "windows" and w3.role == "iis" and w3.user == "LocalSystem"
    assert w3.exec_start == [r"%SystemRoot%\system32\svchost.exe", "-k", "iissvcs"]
    assert w3.requires == ["HTTP", "WAS"] and w3.unit_type == "share-process"
    sql = svc["MSSQL$SQLEXPRESS"]
    assert sql.role == "mssql" and sql.user == r"NT Service\MSSQL$SQLEXPRESS"
    assert sql.executable == r"C:\Program Files\Microsoft SQL Server\MSSQL15.SQLEXPRESS\MSSQL\Binn\sqlservr.exe"
    assert svc["ShopSync"].exec_start[1:] == ["--config", r"C:\Apps\ShopSync\sync.json"]
    assert svc["ShopSync"].evidence[0].path == "/Windows/System32/config/SYSTEM"
    assert svc["ShopSync"].evidence[0].detail == r"HKLM\SYSTEM\ControlSet002\Services\ShopSync"


def test_programs(tree_inventory: Inventory) -> None:
    progs = {p.name: p for p in tree_inventory.windows_programs}
    assert set(progs) == set(sample_facts()["programs"])
    assert (progs["ShopSync"].display_name, progs["ShopSync"].version, progs["ShopSync"].publisher,
            progs["ShopSync"].install_location, progs["ShopSync"].wow64) == (
        "Shop order sync", "2.4.1", "Example Shop Ltd", r"C:\Apps\ShopSync", False)
    assert progs["7-Zip"].wow64 and progs["7-Zip"].version == "19.00"
    assert progs["7-Zip"].evidence.detail.startswith(r"HKLM\SOFTWARE\Wow6432Node\Microsoft")


def test_iis(tree_inventory: Inventory) -> None:
    sites = {s.name: s for s in tree_inventory.iis_sites}
    got = {n: [f"{b.protocol} {b.address or '*'}:{b.port}" + (f" {b.host}" if b.host else "") for b in s.bindings]
           for n, s in sites.items()}
    assert got == sample_facts()["iis_sites"]
    assert (sites["Default Web Site"].id, sites["Default Web Site"].physical_path,
            sites["Default Web Site"].guest_path) == (1, r"%SystemDrive%\inetpub\wwwroot", "/inetpub/wwwroot")
    assert (sites["Shop"].guest_path, sites["Shop"].applications) == ("/Sites/Shop", ["/", "/api"])
    ports = {(p.port, p.address, p.tls) for p in tree_inventory.ports if p.service == "W3SVC"}
    assert ports == {(80, None, False), (8080, None, False), (443, "10.0.0.5", True)}
    roots = {p.path: p for p in tree_inventory.persistent_paths if p.kind == "webroot"}
    assert set(roots) == {"/inetpub/wwwroot", "/Sites/Shop"} and roots["/Sites/Shop"].file_count == 2  # + web.config
    assert [c.kind for c in tree_inventory.configs] == ["web.config", "iis-applicationhost"]


def test_web_config_connections_and_secret(tree_inventory: Inventory) -> None:
    conns = {c.via.rsplit(" ", 1)[-1]: c for c in tree_inventory.connections}
    got = {n: [c.scheme, c.host, c.port, c.database, c.username] for n, c in conns.items()}
    assert got == {"ShopDb": ["mssql", "db01.corp.example", 1433, "shop", "shop_app"],
                   "Reporting": ["mssql", "localhost", None, "reports", None]}
    assert all(c.from_service == "W3SVC" for c in conns.values())
    (secret,) = tree_inventory.secrets
    assert conns["ShopDb"].secret_id == secret.id and secret.service == "W3SVC"
    assert "Password=****" in conns["ShopDb"].url_redacted and "Password=****" in secret.redacted
    assert conns["Reporting"].secret_id is None
    web = next(c for c in tree_inventory.configs if c.kind == "web.config")
    assert web.path == "/Sites/Shop/web.config" and web.contains_secrets
    assert sample.SECRET not in tree_inventory.to_json()


def test_sqlserver(tree_inventory: Inventory) -> None:
    (inst,) = tree_inventory.sqlserver_instances
    want = sample_facts()["sqlserver"]["SQLEXPRESS"]
    assert (inst.name, inst.instance_id, inst.version, inst.tcp_ports, inst.service, inst.edition) == (
        "SQLEXPRESS", want["instance_id"], want["version"], [want["port"]], "MSSQL$SQLEXPRESS", "Express Edition")
    assert any(p.service == "MSSQL$SQLEXPRESS" and p.port == 1433 for p in tree_inventory.ports)
    db = [p for p in tree_inventory.persistent_paths if p.kind == "database"]
    assert [p.path for p in db] == ["/Program Files/Microsoft SQL Server/MSSQL15.SQLEXPRESS/MSSQL"]


def test_names_in_any_case(tmp_path: Path) -> None:
    """NTFS names keep the case they were created with (the phony guest has System32/Config): the
    analyzers find %SystemRoot% and the hives whatever the spelling, as Windows does."""
    inv = inventory_of(make_tree(tmp_path, systemroot="WINDOWS", config="Config"))
    assert inv.windows is not None and inv.windows.systemroot == "/WINDOWS"
    assert inv.os.version == "10.0" and len(inv.services) == 4
    assert inv.os.evidence[0].path == "/WINDOWS/System32/Config/SOFTWARE"


def test_an_unidentified_os_does_not_mask_windows(tmp_path: Path) -> None:
    """os_release reports what it found (an /etc/issue naming no distribution) with family unknown: the
    registry's identification wins, whichever analyzer ran first, and the Windows analyzers run."""
    root = make_tree(tmp_path)
    (root / "etc").mkdir()
    (root / "etc/issue").write_text("Appliance shell 1.0\n")
    inv = inventory_of(root)
    runs = {r.name: r.status for r in inv.analyzers}
    assert runs["os_release"] == "ok" and inv.os.family == "windows" and len(inv.services) == 4


def test_no_select_key_is_an_unknown(tmp_path: Path) -> None:
    reg = sample.SYSTEM_REG.replace('"Current"=dword:00000002', '"Current"=dword:00000007')
    inv = inventory_of(make_tree(tmp_path, system_reg=reg))
    assert inv.os.family == "windows" and inv.windows and inv.windows.current_control_set is None
    assert not inv.services and inv.network.hostname is None
    assert any("Select" in u.message and u.analyzer == "windows_registry" for u in inv.unknowns)


def test_backend_identity_is_cross_checked(tmp_path: Path) -> None:
    """Under libguestfs the backend's own inspection (RootFS.identity) must agree with the registry."""
    rootfs = RootFS.from_directory(make_tree(tmp_path))
    rootfs.identity = {"type": "windows", "product_name": "Windows Server 2019 Standard", "version": "10.0",
                       "arch": "i386", "hostname": "web-srv01", "windows_current_control_set": "ControlSet001"}
    result, _ctx = run_analyzers(rootfs, Context(rootfs=rootfs))
    msgs = sorted(u.message.split(":")[0] for u in result.merged.unknowns if u.analyzer == "windows_registry")
    assert msgs == ["arch", "windows_current_control_set"]


def test_plan_blocks_every_service_and_generate_refuses(tree_inventory: Inventory, tmp_path: Path) -> None:
    plan = make_plan(tree_inventory)
    assert plan.containers == []
    assert [d.service for d in plan.dropped] == ["RemoteRegistry"]
    blocked = plan.fitness.blockers
    assert sorted(b.detail.split()[2] for b in blocked) == ["MSSQL$SQLEXPRESS", "ShopSync", "W3SVC"]
    assert all(b.kind == "os-family" and b.severity == "blocker" for b in blocked)
    assert all(b.detail.endswith("Windows containers are out of scope for Linux stacks") for b in blocked)
    assert plan.fitness.score == 0 and plan.os.family == "windows"
    out = tmp_path / "stack"
    with pytest.raises(InvalidDocument, match="no container to build: the plan's 3 service"):
        generate(plan, out)
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing half-written


def test_helpers() -> None:
    assert split_command_line('"C:\\Program Files\\x.exe" -a "b c"') == ["C:\\Program Files\\x.exe", "-a", "b c"]
    assert split_command_line("  ") == []
    assert guest_path_of(r"%SystemDrive%\inetpub\wwwroot", "/Windows") == "/inetpub/wwwroot"
    assert guest_path_of(r"%windir%\Temp", "/WINNT") == "/WINNT/Temp"
    assert guest_path_of(r"D:\data", "/Windows") is None  # another drive: not on the system volume
    assert guest_path_of(r"C:\a\..\..\etc", "/Windows") is None
    assert guest_path_of(r"\\server\share", "/Windows") is None
    assert guest_path_of(r"%USERPROFILE%\x", "/Windows") is None
    b = parse_binding("https", "[::1]:8443:api.example")
    assert (b.address, b.port, b.host) == ("::1", 8443, "api.example")
    assert parse_binding("net.tcp", "808:*").port == 808
    assert parse_binding("http", "*:99999:").port is None
    assert pe_machine(sample.pe_header(0x14C)) == "i386" and pe_machine(b"MZ" + b"\0" * 100) is None


def sample_facts() -> dict:
    """What the windows sample's build() records in facts.json, without building the image."""
    return {
        "services": {"W3SVC": "automatic", "MSSQL$SQLEXPRESS": "automatic", "ShopSync": "manual",
                     "RemoteRegistry": "disabled"},
        "programs": ["{8C3E3A22-5C34-4C1E-A8B3-2D4A4B1C9E01}", "ShopSync", "7-Zip"],
        "iis_sites": {"Default Web Site": ["http *:80"], "Shop": ["http *:8080 shop.example.internal",
                                                                  "https 10.0.0.5:443 shop.example.internal"]},
        "sqlserver": {"SQLEXPRESS": {"instance_id": "MSSQL15.SQLEXPRESS", "version": "15.0.2000.5", "port": 1433}},
    }
