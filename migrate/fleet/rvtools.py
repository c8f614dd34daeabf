"""RVTools exports: the ``vInfo`` sheet of an .xlsx workbook, or that sheet saved as .csv.

RVTools is what VMware estates are inventoried with; its vInfo sheet has one row per VM with the
columns below (RVTools' own header names; RVTools before 4.x said "MB" where it now says "MiB",
for the same binary unit). Columns are found by header name, so their order and any extra columns
(RVTools has ~90 in vInfo) do not matter; a required one that is missing is an error naming it.
The workbook is read with openpyxl in read-only mode (rows stream; a large export is not loaded
whole), and only the cells of the columns used are kept.

Beside the sizing, the names VMware Tools reported from the running guest: vInfo "DNS Name" and
"Primary IP Address", and, in a workbook, the vNetwork sheet's "IPv4 Address" of each NIC (RVTools
before 4.x: "IP Address"). They let the fleet graph match a connection to a VM whose disk is not
exported yet. Cells that are not a host name or an IP address are left out; the VM keeps its sizing.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import ipaddress
import os
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from migrate.errors import FleetSourceInvalid
from migrate.model.fleet import RVToolsSizing

SHEET = "vInfo"
MAX_ROWS = 200_000
MAX_CSV_BYTES = 256 << 20
MAX_CSV_LINE = 1 << 20  # characters in one physical line (RVTools rows are a few KiB)
# An .xlsx is a zip: a 1 MB file can declare gigabytes of XML. openpyxl (read-only) still parses every
# part but the worksheets whole when it opens the workbook (the shared strings table holds every
# distinct text of every sheet: 128 MiB of it took 200 s and 790 MiB), scans every worksheet up to
# its <dimension> (the whole sheet when there is none) and streams a worksheet row by row, each cell
# whole. The sizes the zip declares bound what inflating can yield (zipfile stops at them), so they
# are checked before openpyxl opens anything.
MAX_XLSX_PARTS_BYTES = 32 << 20  # every part but the worksheets, together
MAX_XLSX_SHEET_BYTES = MAX_CSV_BYTES  # one worksheet
MAX_XLSX_SHEETS_BYTES = 1 << 30  # all worksheets together
MAX_NAME = 200  # a VM name: the manifest's limit (sources.read_manifest)

# field -> header names accepted, first preferred
COLUMNS: dict[str, tuple[str, ...]] = {
    "vm": ("VM",),
    "powerstate": ("Powerstate",),
    "cpus": ("CPUs",),
    "memory_mib": ("Memory",),
    "provisioned_mib": ("Provisioned MiB", "Provisioned MB"),
    "in_use_mib": ("In Use MiB", "In Use MB"),
    "os": ("OS according to the configuration file", "OS according to the VMware Tools", "OS"),
    "datacenter": ("Datacenter",),
    "cluster": ("Cluster",),
    "host": ("Host",),
}
REQUIRED = tuple(COLUMNS)
OPTIONAL = {"template": ("Template",),  # template rows are images of no running VM: skipped
            "dns_name": ("DNS Name",), "primary_ip": ("Primary IP Address",)}
NETWORK_SHEET = "vNetwork"
NETWORK_COLUMNS = {"vm": ("VM",), "ipv4": ("IPv4 Address", "IP Address")}
MAX_ADDRESSES_PER_VM = 32
_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?")
NUMERIC = {"cpus": int, "memory_mib": int, "provisioned_mib": float, "in_use_mib": float}


def read_rvtools(path: str | os.PathLike[str]) -> list[tuple[int, RVToolsSizing]]:
    """(row number, sizing) for every VM of the export (row numbers as a spreadsheet shows them:
    the header is row 1). Template rows are left out."""
    p = Path(path)
    if not _is_xlsx(p):
        return _vinfo(_csv_rows(p), p)
    with _workbook(p) as wb:
        out = _vinfo(_sheet_rows(wb, SHEET, p), p)
        nics = _vnetwork(_sheet_rows(wb, NETWORK_SHEET, p, required=False), p)
    for _row, sizing in out:
        extra = nics.get(sizing.vm.lower(), [])
        sizing.ip_addresses = list(dict.fromkeys([*sizing.ip_addresses, *extra]))[:MAX_ADDRESSES_PER_VM]
    return out


def _vinfo(rows: Iterator[list[str]], p: Path) -> list[tuple[int, RVToolsSizing]]:
    header = next(rows, None)
    if header is None:
        raise FleetSourceInvalid("empty RVTools export (no header row)", path=str(p))
    index = _columns(header, p)
    out: list[tuple[int, RVToolsSizing]] = []
    seen: dict[str, int] = {}
    for rowno, cells in enumerate(rows, start=2):
        if rowno > MAX_ROWS:
            raise FleetSourceInvalid(f"more than {MAX_ROWS} rows", path=str(p))
        values = {f: _cell(cells, i) for f, i in index.items()}
        if not any(values.values()):
            continue  # blank line
        if (values.get("template") or "").lower() in ("true", "1", "yes"):
            continue
        vm = values["vm"]
        if not vm:
            raise FleetSourceInvalid(f"row {rowno}: column 'VM' is empty", path=str(p))
        if len(vm) > MAX_NAME or any(unicodedata.category(ch) == "Cc" for ch in vm):
            # the name is printed on terminals and becomes a member name: no escape sequence, no megabyte
            raise FleetSourceInvalid(f"row {rowno}: VM {vm[:40]!r} is not a usable VM name", path=str(p))
        if vm.lower() in seen:
            raise FleetSourceInvalid(f"row {rowno}: VM {vm!r} repeats row {seen[vm.lower()]}", path=str(p))
        seen[vm.lower()] = rowno
        data: dict[str, object] = {}
        for f in REQUIRED:
            raw = values[f]
            if f in NUMERIC:
                data[f] = _number(raw, NUMERIC[f], rowno, COLUMNS[f][0], p)
            else:
                data[f] = raw or None
        data["dns_name"] = _hostname(values.get("dns_name") or "")
        data["ip_addresses"] = _addresses(values.get("primary_ip") or "")
        out.append((rowno, RVToolsSizing.model_validate(data)))
    return out


def _vnetwork(rows: Iterator[list[str]] | None, p: Path) -> dict[str, list[str]]:
    """Lowercase VM name -> the IPv4 addresses of its NICs in the vNetwork sheet, in sheet order. A sheet
    without the columns is as good as none: the addresses are an extra, the sizing does not need them."""
    found: dict[str, list[str]] = {}
    header = next(rows, None) if rows is not None else None
    if header is None:
        return found
    positions = {h.strip().lower(): i for i, h in reversed(list(enumerate(header))) if h}
    vm_col, ip_col = (next((positions[n.lower()] for n in names if n.lower() in positions), None)
                      for names in NETWORK_COLUMNS.values())
    if vm_col is None or ip_col is None:
        return found
    for rowno, cells in enumerate(rows, start=2):
        if rowno > MAX_ROWS:
            raise FleetSourceInvalid(f"sheet {NETWORK_SHEET}: more than {MAX_ROWS} rows", path=str(p))
        vm = _cell(cells, vm_col).lower()
        if vm and len(found.get(vm, ())) < MAX_ADDRESSES_PER_VM:
            have = found.setdefault(vm, [])
            have.extend(a for a in _addresses(_cell(cells, ip_col)) if a not in have)
    return found


def _hostname(text: str) -> str | None:
    """A DNS name as RVTools reports it, or None (empty, an IP, or anything a resolver would refuse)."""
    text = text.strip()
    if not text or _ip(text) or not _HOSTNAME.fullmatch(text):
        return None
    return text.rstrip(".")


def _addresses(text: str) -> list[str]:
    """The usable IP addresses of a cell ("10.0.0.5", "10.0.0.5, 10.0.0.6"): loopback, link-local,
    multicast and unspecified addresses are no other VM's way to reach this one."""
    out: list[str] = []
    for item in re.split(r"[,;\s]+", text[:4096]):
        ip = _ip(item)
        if ip is not None and ip not in out and len(out) < MAX_ADDRESSES_PER_VM:
            out.append(ip)
    return out


def _ip(text: str) -> str | None:
    text = text.strip()
    if not text or len(text) > 64:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return None
    return str(ip)


def _is_xlsx(p: Path) -> bool:
    try:
        with open(p, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"  # a zip container: xlsx, whatever the extension
    except OSError as exc:
        raise FleetSourceInvalid(f"cannot read: {exc.strerror}", path=str(p)) from exc


@contextlib.contextmanager
def _workbook(p: Path) -> Iterator[Any]:
    import zipfile
    from xml.etree.ElementTree import ParseError

    import openpyxl

    _check_xlsx_sizes(p)
    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, ParseError, EOFError) as exc:
        raise FleetSourceInvalid(f"not a readable .xlsx workbook: {str(exc)[:200]}", path=str(p)) from exc
    try:
        yield wb
    finally:
        wb.close()


def _sheet_rows(wb: Any, sheet: str, p: Path, *, required: bool = True) -> Iterator[list[str]] | None:
    names = {n.lower(): n for n in wb.sheetnames}
    if sheet.lower() not in names:
        if not required:
            return None
        raise FleetSourceInvalid(f"no {sheet!r} sheet (sheets: {', '.join(wb.sheetnames[:20])})", path=str(p))
    return _stream(wb[names[sheet.lower()]], sheet, p)


def _stream(ws: Any, sheet: str, p: Path) -> Iterator[list[str]]:
    import zipfile
    from xml.etree.ElementTree import ParseError

    rows = ws.iter_rows(values_only=True)
    while True:
        try:  # the sheet is parsed while rows stream: broken XML shows only now
            row = next(rows)
        except StopIteration:
            break
        except (ParseError, zipfile.BadZipFile, ValueError, KeyError, EOFError, OSError) as exc:
            raise FleetSourceInvalid(f"sheet {sheet} is not readable: {str(exc)[:200]}", path=str(p)) from exc
        yield ["" if v is None else str(v).strip() for v in row]


def _check_xlsx_sizes(p: Path) -> None:
    """Refuse a workbook whose declared sizes pass the MAX_XLSX_* limits (a zip bomb) before openpyxl
    inflates any of it."""
    import zipfile

    try:
        with zipfile.ZipFile(p) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FleetSourceInvalid(f"not a readable .xlsx workbook: {exc}", path=str(p)) from exc
    sheets = [i for i in infos if i.filename.startswith("xl/worksheets/")]
    whole = sum(i.file_size for i in infos) - sum(i.file_size for i in sheets)
    if whole > MAX_XLSX_PARTS_BYTES:
        raise FleetSourceInvalid(f"the workbook's shared parts inflate to {whole >> 20} MiB, more than "
                                 f"{MAX_XLSX_PARTS_BYTES >> 20} MiB", path=str(p))
    largest = max(sheets, key=lambda i: i.file_size, default=None)
    if largest is not None and largest.file_size > MAX_XLSX_SHEET_BYTES:
        raise FleetSourceInvalid(f"{largest.filename[:80]} inflates to {largest.file_size >> 20} MiB, more than "
                                 f"{MAX_XLSX_SHEET_BYTES >> 20} MiB", path=str(p))
    if sum(i.file_size for i in sheets) > MAX_XLSX_SHEETS_BYTES:
        raise FleetSourceInvalid(f"the worksheets inflate to more than {MAX_XLSX_SHEETS_BYTES >> 20} MiB together",
                                 path=str(p))


def _csv_rows(p: Path) -> Iterator[list[str]]:
    """Rows streamed from the file (a 200 MB CSV read whole took 1.7 GB), each physical line at most
    MAX_CSV_LINE characters."""
    try:
        if p.stat().st_size > MAX_CSV_BYTES:
            raise FleetSourceInvalid(f"larger than {MAX_CSV_BYTES >> 20} MiB", path=str(p))
        encoding = _csv_encoding(p)
        fh = open(p, encoding=encoding, errors="replace", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise FleetSourceInvalid(f"cannot read: {exc.strerror}", path=str(p)) from exc
    with fh:
        sample = fh.read(8192)
        fh.seek(0)
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(_lines(fh, p), dialect)
        try:
            for row in reader:
                yield [c.strip() for c in row]
        except csv.Error as exc:  # a field over csv's limit (128 KiB), a stray quote in strict dialects
            raise FleetSourceInvalid(f"line {reader.line_num}: {exc}", path=str(p)) from None


def _csv_encoding(p: Path) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes as UTF-8, checked in 1 MiB pieces;
    else cp1252, RVTools' CSV export on a Western Windows."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(p, "rb") as fh:
        try:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig"


def _lines(fh: io.TextIOBase, p: Path) -> Iterator[str]:
    for n, line in enumerate(iter(lambda: fh.readline(MAX_CSV_LINE + 1), ""), start=1):
        if len(line) > MAX_CSV_LINE:
            raise FleetSourceInvalid(f"line {n} is longer than {MAX_CSV_LINE >> 10} KiB", path=str(p))
        yield line


def _columns(header: list[str], p: Path) -> dict[str, int]:
    positions = {h.strip().lower(): i for i, h in reversed(list(enumerate(header))) if h}
    index: dict[str, int] = {}
    for f, names in {**COLUMNS, **OPTIONAL}.items():
        found = next((positions[n.lower()] for n in names if n.lower() in positions), None)
        if found is None:
            if f in COLUMNS:
                alt = f" (or {', '.join(repr(n) for n in names[1:])})" if len(names) > 1 else ""
                raise FleetSourceInvalid(f"sheet {SHEET}: required column {names[0]!r}{alt} is missing",
                                         path=str(p))
            continue
        index[f] = found
    return index


def _cell(cells: list[str], i: int) -> str:
    return cells[i] if i < len(cells) else ""


def _number(raw: str, kind: type, rowno: int, column: str, p: Path) -> int | float | None:
    if not raw:
        return None
    text = raw.replace("\u00a0", "").replace(" ", "")
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", text):  # 20,480 or 20,480.5: thousands separators
        text = text.replace(",", "")
    elif re.fullmatch(r"\d{1,3}(\.\d{3})+(,\d+)?", text):  # 20.480,5: a European export
        text = text.replace(".", "").replace(",", ".")
    else:
        text = text.replace(",", ".")  # 20480,5
    try:
        value = float(text)
    except ValueError:
        raise FleetSourceInvalid(f"row {rowno}, column {column!r}: {raw[:40]!r} is not a number", path=str(p)) from None
    if value < 0 or value != value or value in (float("inf"),):
        raise FleetSourceInvalid(f"row {rowno}, column {column!r}: {raw[:40]!r} is not a size", path=str(p))
    return int(value) if kind is int else value
