"""Hostile IIS configuration in a Windows guest (docs/security.md, "Stacked volumes and Windows
guests"): a web.config's connection strings and applicationHost.config's numbers are guest text.
A string built against the pair pattern must not cost quadratic time, and one odd number must not
throw away every site and connection of the analyzer."""

from __future__ import annotations

import time
from pathlib import Path

from migrate.analyzers.iis import MAX_CONNECTION_STRING, parse_connection_string
from migrate.samples import windows as sample
from tests.windows.test_registry_tree import inventory_of, make_tree


def test_connection_string_parse_is_linear() -> None:
    """25 KB without ``=``: the pattern retried at every position took about 25 s (17 s for 20 KB)."""
    start = time.monotonic()
    assert parse_connection_string("a" * 25_000) == []
    assert parse_connection_string("a;" * 100_000 + "Server=db01;Password=x") == [("Server", "db01"),
                                                                                 ("Password", "x")]
    assert time.monotonic() - start < 2
    # what it reads stays what it read before: quoted values, doubled quotes, garbage between pairs
    assert parse_connection_string('x;;Server = tcp:db01,1433;Database="a;b";Password="p""w"') == [
        ("Server", "tcp:db01,1433"), ("Database", "a;b"), ("Password", 'p"w')]


def test_hostile_iis_numbers_and_strings_are_bounded(tmp_path: Path) -> None:
    """A site id and a port written ``²`` (str.isdigit says yes, int() says no: the analyzer died,
    losing both sites and the connection) and a 100 KB connection string without ``=`` (minutes of
    CPU): the sites and the good connection stay, the long string is one unknown, no password quoted."""
    root = make_tree(tmp_path / "guest")
    host = root / "Windows/System32/inetsrv/config/applicationHost.config"
    host.write_text(sample.APPLICATION_HOST.replace('id="2"', 'id="\u00b2"'), encoding="utf-8")
    web = root / "Sites/Shop/web.config"
    hostile = ('    <add name="Odd" connectionString="Server=db02,\u00b2;Port=\u00b2;Password=0dd-S3cret" />\n'
               f'    <add name="Long" connectionString="{"a" * 100_000}" />\n'
               "  </connectionStrings>")
    web.write_text(sample.WEB_CONFIG.replace("  </connectionStrings>", hostile), encoding="utf-8")
    start = time.monotonic()
    inv = inventory_of(root)
    assert time.monotonic() - start < 30
    sites = {s.name: s for s in inv.iis_sites}
    assert set(sites) == {"Default Web Site", "Shop"} and sites["Shop"].id is None
    hosts = {(c.host, c.port) for c in inv.connections}
    assert ("db01.corp.example", 1433) in hosts and any(h == "db02" for h, _ in hosts)
    iis_unknowns = [u.message for u in inv.unknowns if u.analyzer == "iis"]
    assert any(f"over {MAX_CONNECTION_STRING}" in m for m in iis_unknowns), inv.unknowns
    assert not any("Traceback" in m or "ValueError" in m for m in iis_unknowns)
    text = inv.to_json()
    assert "0dd-S3cret" not in text and sample.SECRET not in text


def test_sql_server_tcp_ports_from_the_registry() -> None:
    """TcpPort is a registry string: ``²`` and a 5000-digit number raised ValueError in int(), the
    mssql analyzer's whole result lost."""
    from migrate.analyzers.mssql import tcp_ports

    assert tcp_ports("1433, \u00b2, 99999999999999999999, " + "9" * 5000 + ", 0, 1434") == [1433, 1434]


def test_registry_numbers_written_as_odd_strings(tmp_path: Path) -> None:
    """A REG_SZ ``²`` where a number is read (CurrentMajorVersionNumber, a service's Start) and a
    CurrentVersion of ``².1``: str.isdigit said yes, int() raised, and windows_registry (the OS
    itself) and windows_services (every service) were lost. Now the odd values read as absent."""
    sz = "hex(1):b2,00,00,00"  # REG_SZ "²" (UTF-16LE), as hivexregedit merges any value type
    software = (sample.SOFTWARE_REG.replace('"CurrentMajorVersionNumber"=dword:0000000a',
                                            f'"CurrentMajorVersionNumber"={sz}')
                .replace('"CurrentVersion"="6.3"', '"CurrentVersion"=hex(1):b2,00,2e,00,31,00,00,00'))
    system = sample.SYSTEM_REG.replace('"Start"=dword:00000003', f'"Start"={sz}', 1)
    assert software != sample.SOFTWARE_REG and system != sample.SYSTEM_REG
    inv = inventory_of(make_tree(tmp_path / "guest", system_reg=system, software_reg=software))
    assert inv.os.family == "windows" and inv.os.product_name == "Windows Server 2019 Standard"
    assert inv.os.version_major is None  # neither "²" nor "².1" is a version number
    assert {"W3SVC", "ShopSync"} <= {s.name for s in inv.services}
    assert not [u for u in inv.unknowns if "ValueError" in u.message]
