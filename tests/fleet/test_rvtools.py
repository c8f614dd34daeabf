"""RVTools vInfo exports (.xlsx through openpyxl, and .csv): real header names, extra columns ignored,
a missing required column named in the error with the file."""

from __future__ import annotations

import csv

import openpyxl
import pytest

from migrate.errors import FleetSourceInvalid
from migrate.fleet.rvtools import read_rvtools
from migrate.fleet.sources import add_sources
from migrate.fleet.store import FleetStore
from tests.fleet.smallfleet import migrate_cli

# the vInfo header of an RVTools 4.x export, abridged (the real sheet has ~90 columns): the ones the
# fleet reads, interleaved with ones it must ignore
HEADER = ["VM", "Powerstate", "Template", "SRM Placeholder", "Config status", "DNS Name", "Connection state",
          "CPUs", "Memory", "NICs", "Disks", "Provisioned MiB", "In Use MiB", "Unshared MiB", "Primary IP Address",
          "OS according to the configuration file", "OS according to the VMware Tools", "Annotation",
          "Datacenter", "Cluster", "Host", "VM UUID"]
ROWS = [
    ["shop-vm01", "poweredOn", "False", "False", "green", "shop-vm01.corp.example", "connected", 2, 2048, 1, 1,
     20480.5, 8192.25, 8192, "10.0.0.11", "Debian GNU/Linux 12 (64-bit)", "Debian GNU/Linux 12 (64-bit)",
     "shop", "DC1", "Cluster-A", "esx01.corp.example", "4210-aa"],
    ["DB01", "poweredOff", "False", "False", "green", "", "connected", 4, 8192, 1, 2, 102400, 51200, 51200, "",
     "Red Hat Enterprise Linux 8 (64-bit)", "", "", "DC1", "Cluster-B", "esx02.corp.example", "4210-bb"],
    ["tmpl-debian", "poweredOff", "True", "False", "green", "", "connected", 1, 1024, 1, 1, 10240, 2048, 2048, "",
     "Debian GNU/Linux 12 (64-bit)", "", "", "DC1", "Cluster-A", "esx01.corp.example", "4210-cc"],
]


def _xlsx(path, header=HEADER, rows=ROWS, sheet="vInfo"):
    wb = openpyxl.Workbook()
    wb.active.title = "vCPU"  # RVTools has many sheets; vInfo is not necessarily the first
    ws = wb.create_sheet(sheet)
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def _csv(path, header=HEADER, rows=ROWS, delimiter=","):
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "csv-semicolon"])
def test_vinfo_rows_become_sizing(tmp_path, fmt):
    p = (_xlsx(tmp_path / "export.xlsx") if fmt == "xlsx"
         else _csv(tmp_path / "vinfo.csv", delimiter=";" if "semicolon" in fmt else ","))
    rows = read_rvtools(p)
    assert [(n, s.vm) for n, s in rows] == [(2, "shop-vm01"), (3, "DB01")]  # the template row is left out
    shop = rows[0][1]
    assert (shop.cpus, shop.memory_mib, shop.provisioned_mib, shop.in_use_mib) == (2, 2048, 20480.5, 8192.25)
    assert (shop.os, shop.powerstate, shop.datacenter, shop.cluster, shop.host) == (
        "Debian GNU/Linux 12 (64-bit)", "poweredOn", "DC1", "Cluster-A", "esx01.corp.example")


def test_older_exports_say_mb(tmp_path):
    header = [h.replace("MiB", "MB") for h in HEADER]
    [(_, shop), _db] = read_rvtools(_csv(tmp_path / "old.csv", header=header))
    assert shop.provisioned_mib == 20480.5


@pytest.mark.parametrize("missing", ["VM", "CPUs", "Memory", "Provisioned MiB", "In Use MiB", "Powerstate",
                                     "Datacenter", "Cluster", "Host"])
def test_missing_column_is_named(tmp_path, missing):
    i = HEADER.index(missing)
    header = HEADER[:i] + HEADER[i + 1:]
    rows = [r[:i] + r[i + 1:] for r in ROWS]
    p = _xlsx(tmp_path / "export.xlsx", header, rows)
    with pytest.raises(FleetSourceInvalid) as exc:
        read_rvtools(p)
    assert f"'{missing}'" in str(exc.value) and str(p) in str(exc.value) and exc.value.exit_code == 41


def test_os_column_falls_back_to_vmware_tools_then_missing(tmp_path):
    i = HEADER.index("OS according to the configuration file")
    header = HEADER[:i] + HEADER[i + 1:]
    rows = [r[:i] + r[i + 1:] for r in ROWS]
    [(_, shop), _db] = read_rvtools(_csv(tmp_path / "a.csv", header, rows))
    assert shop.os == "Debian GNU/Linux 12 (64-bit)"
    j = header.index("OS according to the VMware Tools")
    with pytest.raises(FleetSourceInvalid, match="OS according to the configuration file"):
        read_rvtools(_csv(tmp_path / "b.csv", header[:j] + header[j + 1:], [r[:j] + r[j + 1:] for r in rows]))


def test_bad_values_name_row_and_column(tmp_path):
    rows = [list(r) for r in ROWS]
    rows[1][HEADER.index("Memory")] = "lots"
    with pytest.raises(FleetSourceInvalid, match=r"row 3, column 'Memory'"):
        read_rvtools(_csv(tmp_path / "bad.csv", rows=rows))
    rows = [list(r) for r in ROWS]
    rows[1][0] = "SHOP-VM01"
    with pytest.raises(FleetSourceInvalid, match="repeats row 2"):
        read_rvtools(_csv(tmp_path / "dup.csv", rows=rows))


def test_workbook_without_vinfo_and_non_workbook(tmp_path):
    with pytest.raises(FleetSourceInvalid, match="no 'vInfo' sheet"):
        read_rvtools(_xlsx(tmp_path / "x.xlsx", sheet="vHost"))
    zipped = tmp_path / "fake.xlsx"
    zipped.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(FleetSourceInvalid, match="not a readable .xlsx"):
        read_rvtools(zipped)


def test_cli_missing_column_exit_code(tmp_path):
    i = HEADER.index("In Use MiB")
    p = _xlsx(tmp_path / "export.xlsx", HEADER[:i] + HEADER[i + 1:], [r[:i] + r[i + 1:] for r in ROWS])
    proc = migrate_cli("fleet", "add", str(tmp_path / "fleet"), "--rvtools", str(p))
    assert proc.returncode == 41, proc.stderr
    assert "In Use MiB" in proc.stderr and "export.xlsx" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "fleet").exists()  # nothing written for a refused add


@pytest.mark.parametrize(("raw", "value"), [("2048", 2048), ("2,048", 2048), ("20,480.5", 20480.5),
                                            ("20.480,5", 20480.5), ("20480,5", 20480.5), ("1 024", 1024)])
def test_numbers_as_spreadsheets_write_them(tmp_path, raw, value):
    rows = [list(r) for r in ROWS[:1]]
    rows[0][HEADER.index("Provisioned MiB")] = raw
    [(_, shop)] = read_rvtools(_csv(tmp_path / "n.csv", rows=rows, delimiter=";"))
    assert shop.provisioned_mib == value


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_dns_name_and_primary_ip_are_the_vms_names(tmp_path, fmt):
    p = _xlsx(tmp_path / "export.xlsx") if fmt == "xlsx" else _csv(tmp_path / "vinfo.csv")
    [(_, shop), (_, db)] = read_rvtools(p)
    assert (shop.dns_name, shop.ip_addresses) == ("shop-vm01.corp.example", ["10.0.0.11"])
    assert (db.dns_name, db.ip_addresses) == (None, [])  # powered off: VMware Tools reported nothing


def test_vnetwork_ipv4_addresses_join_the_primary_ip(tmp_path):
    p = _xlsx(tmp_path / "export.xlsx")
    wb = openpyxl.load_workbook(p)
    ws = wb.create_sheet("vNetwork")
    ws.append(["VM", "Powerstate", "NIC label", "Network", "Mac Address", "IPv4 Address", "IPv6 Address"])
    ws.append(["SHOP-VM01", "poweredOn", "Network adapter 1", "VLAN10", "00:50:56:aa", "10.0.0.11, 10.0.1.11",
               "fe80::250:56ff:feaa:1"])
    ws.append(["DB01", "poweredOff", "Network adapter 1", "VLAN20", "00:50:56:bb", "169.254.3.4", ""])
    ws.append(["DB01", "poweredOff", "Network adapter 2", "VLAN20", "00:50:56:bc", "10.0.2.12", ""])
    ws.append(["not-in-vinfo", "poweredOn", "Network adapter 1", "VLAN20", "00:50:56:cc", "10.0.3.3", ""])
    wb.save(p)
    [(_, shop), (_, db)] = read_rvtools(p)
    assert shop.ip_addresses == ["10.0.0.11", "10.0.1.11"] and db.ip_addresses == ["10.0.2.12"]


def test_name_and_address_cells_that_are_not_are_left_out(tmp_path):
    rows = [list(r) for r in ROWS[:2]]
    dns, ip = HEADER.index("DNS Name"), HEADER.index("Primary IP Address")
    rows[0][dns], rows[0][ip] = "=HYPERLINK(\"http://x\")", "9" * 5000
    rows[1][dns], rows[1][ip] = "a" * 300 + ".example", "127.0.0.1"
    [(_, shop), (_, db)] = read_rvtools(_csv(tmp_path / "hostile.csv", rows=rows))
    assert (shop.dns_name, shop.ip_addresses, db.dns_name, db.ip_addresses) == (None, [], None, [])
    assert shop.cpus == 2  # the sizing is kept


def test_a_later_export_with_empty_cells_keeps_the_names_an_earlier_one_reported(tmp_path):
    first = _csv(tmp_path / "first.csv")
    rows = [list(r) for r in ROWS]
    rows[0][HEADER.index("Primary IP Address")] = ""
    rows[0][HEADER.index("CPUs")] = 4
    second = _csv(tmp_path / "second.csv", rows=rows)
    with FleetStore.create(tmp_path / "fleet") as s:
        add_sources(s, [], rvtools=first)
        add_sources(s, [], rvtools=second)
        shop = next(m for m in s.members() if m.name == "shop-vm01")
    assert (shop.state, shop.sizing.cpus, shop.sizing.ip_addresses) == ("no-image", 4, ["10.0.0.11"])
