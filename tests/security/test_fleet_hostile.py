"""Hostile fleet inputs (docs/security.md, "Fleets"): manifests and RVTools exports come from anyone,
file names in a client's datastore too. Each must end in a clear refusal naming the file (exit 41)
within a small budget, and nothing they hold may act as terminal markup.

The workbooks are written by hand (``_xlsx``): openpyxl writes inline strings, never a shared strings
table, and a zip bomb needs parts whose declared sizes are far larger than the file."""

from __future__ import annotations

import os
import subprocess
import tarfile
import time
import tracemalloc
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from migrate.errors import FleetSourceInvalid
from migrate.fleet import rvtools
from migrate.fleet.rvtools import read_rvtools
from migrate.fleet.sources import read_manifest
from tests.fleet.smallfleet import migrate_cli
from tests.security.image_cases import pax_bomb

NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
HEADER = ["VM", "Powerstate", "CPUs", "Memory", "Provisioned MiB", "In Use MiB",
          "OS according to the configuration file", "Datacenter", "Cluster", "Host"]
GOOD_ROW = ["vm1", "poweredOn", 2, 2048, 100, 50, "Debian GNU/Linux 12 (64-bit)", "DC1", "Cluster-A", "esx01"]
CSV_HEAD = ",".join(HEADER) + "\n"


def _row(r: int, values: list[object]) -> str:
    cells = "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' if isinstance(v, str) else f"<c><v>{v}</v></c>"
                    for v in values)
    return f'<row r="{r}">{cells}</row>'


def _sheet(extra: Iterable[bytes] = (), dimension: bool = True) -> Iterator[bytes]:
    dim = '<dimension ref="A1:J2"/>' if dimension else ""
    yield (f'<?xml version="1.0" encoding="UTF-8"?><worksheet {NS}>{dim}<sheetData>'
           + _row(1, HEADER) + _row(2, GOOD_ROW)).encode()
    yield from extra
    yield b"</sheetData></worksheet>"


def _shared(mib: int = 0) -> Iterator[bytes]:
    """A shared strings table of ``mib`` MiB of one-letter strings (what a 1 MB file can declare)."""
    yield f'<?xml version="1.0" encoding="UTF-8"?><sst {NS}>'.encode()
    block = b"<si><t>a</t></si>" * 4096
    for _ in range((mib << 20) // len(block) + (1 if mib else 0)):
        yield block
    yield b"</sst>"


def _xlsx(path: Path, sheets: list[Iterable[bytes]] | None = None, shared: Iterable[bytes] | None = None) -> Path:
    sheets = sheets or [_sheet()]
    names = [f"vInfo{'' if i == 0 else i}" for i in range(len(sheets))]
    overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" ContentType="application/'
                        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in range(len(sheets)))
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
            '"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
            'main+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
            f'officedocument.spreadsheetml.sharedStrings+xml"/>{overrides}</Types>'),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            f'package/2006/relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook {NS} xmlns:r="{REL}"><sheets>'
            + "".join(f'<sheet name="{n}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i, n in enumerate(names))
            + "</sheets></workbook>"),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships">'
            + "".join(f'<Relationship Id="rId{i + 1}" Type="{REL}/worksheet" Target="worksheets/sheet{i + 1}.xml"/>'
                      for i in range(len(sheets)))
            + f'<Relationship Id="rIdS" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>'),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, text in parts.items():
            z.writestr(name, text)
        streams = [(f"xl/worksheets/sheet{i + 1}.xml", s) for i, s in enumerate(sheets)]
        for name, chunks in [*streams, ("xl/sharedStrings.xml", shared or _shared())]:
            with z.open(name, "w", force_zip64=True) as w:
                for chunk in chunks:
                    w.write(chunk)
    return path


def _refused_within_budget(path: Path, words: str, *, seconds: float = 5, mib: int = 16) -> None:
    """read_rvtools refuses ``path`` naming it and saying ``words``, in ``seconds`` and with at most
    ``mib`` MiB of Python allocations (before these limits: 200 s and 790 MiB for a 1 MB file)."""
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(FleetSourceInvalid) as err:
            read_rvtools(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - t0 < seconds
    assert peak < mib << 20, f"peak {peak >> 20} MiB"
    assert str(path) in str(err.value) and words in str(err.value)


def test_handmade_workbook_reads(tmp_path: Path) -> None:
    """The builder makes a workbook openpyxl reads, shared strings table included: the refusals below
    are the limits', not a broken file's."""
    rows = read_rvtools(_xlsx(tmp_path / "ok.xlsx", shared=_shared(1)))
    assert [(n, s.vm, s.cpus, s.memory_mib) for n, s in rows] == [(2, "vm1", 2, 2048)]


def test_shared_strings_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    bomb = _xlsx(tmp_path / "rvtools.xlsx", shared=_shared((rvtools.MAX_XLSX_PARTS_BYTES >> 20) + 1))
    assert bomb.stat().st_size < 1 << 20
    _refused_within_budget(bomb, "shared parts inflate to 33 MiB, more than 32 MiB")


def test_one_huge_cell_is_refused_before_inflating(tmp_path: Path) -> None:
    """A sheet without <dimension> is parsed whole by openpyxl when the workbook opens: one 257 MiB
    cell cost 360 MiB before any row was read."""
    mib = (rvtools.MAX_XLSX_SHEET_BYTES >> 20) + 1
    cell = [b'<row r="3"><c t="inlineStr"><is><t>', *([b"a" * (1 << 20)] * mib), b"</t></is></c></row>"]
    bomb = _xlsx(tmp_path / "rvtools.xlsx", sheets=[_sheet(cell, dimension=False)])
    _refused_within_budget(bomb, f"xl/worksheets/sheet1.xml inflates to {mib} MiB")


def test_many_sheets_together_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worksheet under the one-sheet limit, all of them over the total (limit lowered: 1 GiB
    of XML would take the test a minute to write)."""
    monkeypatch.setattr(rvtools, "MAX_XLSX_SHEETS_BYTES", 4 << 20)
    filler = [b"<!--" + b"x" * (1 << 20) + b"-->"]
    bomb = _xlsx(tmp_path / "rvtools.xlsx", sheets=[_sheet(filler) for _ in range(5)])
    _refused_within_budget(bomb, "worksheets inflate to more than 4 MiB together")


@pytest.mark.parametrize("dimension", [True, False])
def test_broken_sheet_xml_is_invalid_not_a_traceback(tmp_path: Path, dimension: bool) -> None:
    """With <dimension> openpyxl meets the broken XML only while rows stream (was ParseError, an
    internal error), without it when the workbook opens."""
    broken = _xlsx(tmp_path / "rvtools.xlsx", sheets=[_sheet([b'<row r="3"><c t="inlineStr"><is><t>x</is>'],
                                                             dimension=dimension)])
    with pytest.raises(FleetSourceInvalid, match="not readable|not a readable"):
        read_rvtools(broken)


@pytest.mark.parametrize("name", ["db\x1b]8;;http://evil.example\x1b\\01", "db\x9b2J", "db\n01",
                                  "x" * 201])
def test_rvtools_vm_name_must_be_printable(tmp_path: Path, name: str) -> None:
    """A VM name becomes a member printed on terminals: no escape sequence (ESC, C1 CSI), no line
    break, no 200+ characters (the manifest's rule)."""
    path = tmp_path / "vInfo.csv"
    quoted = '"' + name + '"'
    path.write_text(CSV_HEAD + f"{quoted},poweredOn,2,2048,100,50,Debian,DC1,C,h\n", encoding="utf-8")
    with pytest.raises(FleetSourceInvalid, match="row 2: VM .* is not a usable VM name"):
        read_rvtools(path)
    xlsx = _xlsx(tmp_path / "vInfo.xlsx", sheets=[_sheet([_row(3, [name.replace("\x1b", "&#x1b;")
                                                                   .replace("\x9b", "&#x9b;"), *GOOD_ROW[1:]])
                                                          .encode()], dimension=False)])
    if "\x1b" not in name:  # XML 1.0 cannot carry ESC at all: that workbook is broken XML instead
        with pytest.raises(FleetSourceInvalid, match="row 3: VM .* is not a usable VM name"):
            read_rvtools(xlsx)


def test_manifest_name_with_c1_control_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("path,name\n,db\x9b2J\n", encoding="utf-8")
    with pytest.raises(FleetSourceInvalid, match="row 2: name .* is not a usable VM name"):
        read_manifest(tmp_path / "m.csv", [])


@pytest.mark.parametrize("which", ["manifest", "rvtools"])
def test_csv_field_over_the_csv_limit_is_exit_41(tmp_path: Path, which: str) -> None:
    """A 200 KB field (csv's limit is 128 KiB) was csv.Error: an internal error with a traceback."""
    path = tmp_path / f"{which}.csv"
    if which == "manifest":
        path.write_text("path,name\n" + "a" * 200_000 + ",vm1\n")
    else:
        path.write_text(CSV_HEAD + "b" * 200_000 + ",poweredOn,2,2048,100,50,Debian,DC1,C,h\n")
    r = migrate_cli("fleet", "add", str(tmp_path / "fleet"), f"--{which}", str(path))
    assert r.returncode == 41, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert str(path) in r.stderr and "field limit" in r.stderr
    assert not (tmp_path / "fleet").exists()  # nothing written: every source is read before the store


def test_cli_refuses_an_xlsx_bomb_with_41_and_writes_nothing(tmp_path: Path) -> None:
    bomb = _xlsx(tmp_path / "rvtools.xlsx", shared=_shared((rvtools.MAX_XLSX_PARTS_BYTES >> 20) + 1))
    r = migrate_cli("fleet", "add", str(tmp_path / "fleet"), "--rvtools", str(bomb), timeout=60)
    assert r.returncode == 41, r.stderr
    assert "Traceback" not in r.stderr and str(bomb) in r.stderr
    assert not (tmp_path / "fleet").exists()


def test_datastore_file_names_are_not_terminal_markup(tmp_path: Path) -> None:
    """A file name in a client's datastore is printed as it is: rich used to take ``[red]`` in it for
    markup (the printed path lost it, so it named another file)."""
    store = tmp_path / "datastore"
    store.mkdir()
    (store / "[red]db01.qcow2").symlink_to("/etc/hostname")  # a link out of the folder: reported as skipped
    r = migrate_cli("fleet", "add", str(tmp_path / "fleet"), str(store))
    assert r.returncode == 0, r.stderr
    assert f"{store}/[red]db01.qcow2: symbolic link out of the directory" in r.stderr.replace("\n", "")


@pytest.mark.image
def test_member_names_are_not_terminal_markup(tmp_path: Path) -> None:
    """A manifest name ``[/]db`` made `fleet inspect` die with rich's MarkupError (an internal error,
    exit 1) in the progress line and the failed-members table, after every VM had been inspected."""
    folder = tmp_path / "exports"
    folder.mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(folder / "blank.img"), "1M"], check=True)
    (folder / "m.csv").write_text("path,name\nblank.img,[/]db [link=https://evil.example]x\n")
    fleet = str(tmp_path / "fleet")
    assert migrate_cli("fleet", "add", fleet, "--manifest", str(folder / "m.csv")).returncode == 0
    r = migrate_cli("fleet", "inspect", fleet, "--workers", "1", "--backend", "native",
                    env={**os.environ, "COLUMNS": "250"})
    assert "MarkupError" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert "[/]db [link=https://evil.example]x" in r.stdout
    assert "\x1b]8;" not in r.stdout + r.stderr  # no terminal hyperlink


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME])
def test_ova_extended_header_bomb_is_refused(tmp_path: Path, kind: bytes) -> None:
    """tarfile reads a pax header / GNU long name whole: probing such a file for an OVA allocated
    its announced size (512 MiB here, 16 GiB as easily)."""
    from migrate.errors import ResourceBudgetExceeded
    from migrate.image.ova import is_ova, open_ova

    bomb = pax_bomb(tmp_path / "vm.ova", 512 << 20, kind)
    tracemalloc.start()
    try:
        for probe in (is_ova, lambda p: open_ova(p, tmp_path / "unpack")):
            with pytest.raises(ResourceBudgetExceeded, match="tar extended header of 536870912 bytes"):
                probe(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak >> 20} MiB"
    assert not (tmp_path / "unpack").exists() or list((tmp_path / "unpack").iterdir()) == []


def test_fleet_scan_of_an_ova_bomb_stays_small(tmp_path: Path) -> None:
    """`fleet add DIR` probes every file of a client's datastore: a 4 KB file there cost 540 MiB."""
    from tests.security.test_image_budgets import run_measured

    store = tmp_path / "datastore"
    store.mkdir()
    pax_bomb(store / "vm.ova", 512 << 20)
    code, seconds, rss_kb, stderr = run_measured(["fleet", "add", str(tmp_path / "fleet"), str(store)])
    assert code == 0, stderr
    assert rss_kb < 200 * 1024, f"peak RSS {rss_kb >> 10} MiB"
    assert "vm.ova: refused while probing its format: tar extended header" in " ".join(stderr.split())  # said
    from migrate.fleet.store import FleetStore

    with FleetStore.open(tmp_path / "fleet") as fleet:
        assert fleet.members() == []  # the file is no VM: nothing added


@pytest.mark.parametrize("twin", [str.lower, str.upper])
def test_member_folders_cannot_be_shared_by_crafted_names(twin) -> None:  # type: ignore[no-untyped-def]
    """A name may copy another's cleaned folder name (``a b`` → ``a_b-c8687a08``): the two members
    then inspected into one folder, one VM's inventory standing for the other's. Case too: a fleet
    folder on a case-insensitive share holds ``a_b-C8687A08`` and ``a_b-c8687a08`` as one."""
    from migrate.fleet.store import member_slug

    for name in ("a b", "../etc", "Ünïcode vm", "x" * 100):
        slug = member_slug(name)
        crafted = twin(slug)
        assert member_slug(crafted).casefold() != slug.casefold(), (name, crafted)
    assert member_slug("web01") == "web01" and member_slug("db-2024") == "db-2024"  # plain names stay


def test_error_lines_carry_no_escape_sequence(tmp_path: Path) -> None:
    """A manifest header is quoted in its error: an OSC 8 hyperlink and a C1 CSI in it reached the
    terminal raw (rich passes escape sequences through). Every error/warning line shows them escaped."""
    manifest = tmp_path / "m.csv"
    manifest.write_bytes(b"path,\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\,\xc2\x9b2J\n")
    r = migrate_cli("fleet", "add", str(tmp_path / "fleet"), "--manifest", str(manifest))
    assert r.returncode == 41, r.stderr
    assert "\x1b" not in r.stderr and "\x9b" not in r.stderr
    shown = r.stderr.replace("\n", "")
    assert "\\x1b]8;;http://evil.example" in shown and "\\x9b2j" in shown  # (headers are read lower-cased)


def test_datastore_file_name_with_escape_sequence_names_no_member_raw(tmp_path: Path) -> None:
    from migrate.fleet.sources import add_sources, read_sources
    from migrate.fleet.store import FleetStore

    store = tmp_path / "datastore"
    store.mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(store / "db\x1b[2J\x9b01.qcow2"), "16M"],
                   check=True)
    with FleetStore.create(tmp_path / "fleet") as fleet:
        add_sources(fleet, read_sources([str(store)]))
        assert [m.name for m in fleet.members()] == ["db_[2J_01"]


@pytest.mark.image
def test_overlay_backed_by_a_host_file_fails_alone_without_opening_it(tmp_path: Path) -> None:
    """A datastore overlay whose backing file is outside the scanned folder (here a canary; in an
    attack /etc/shadow or another client's disk): scanning never opens it, and the member fails with
    the image layer's ChainMemberOutside (30) while its neighbour is inspected."""
    from migrate.fleet.sources import add_sources, read_sources
    from migrate.fleet.store import FleetStore
    from tests.security.audit import recording_opens

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    canary = outside / "canary.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(canary), "16M"], check=True)
    store = tmp_path / "datastore"
    store.mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(canary), "-F", "qcow2",
                    "-u", str(store / "overlay.qcow2"), "16M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(store / "plain.qcow2"), "16M"], check=True)
    fleet_dir = tmp_path / "fleet"
    with recording_opens() as opened, FleetStore.create(fleet_dir) as fleet:
        add_sources(fleet, read_sources([str(store)]))
        assert sorted(m.name for m in fleet.members()) == ["overlay", "plain"]
    assert not [p for p in opened if "elsewhere" in p], opened
    r = migrate_cli("fleet", "inspect", str(fleet_dir), "--workers", "1", "--backend", "native", "--json")
    assert "Traceback" not in r.stderr, r.stderr
    with FleetStore.open(fleet_dir) as fleet:
        by = {m.name: m for m in fleet.members()}
    assert by["overlay"].state == "failed" and by["overlay"].error is not None
    assert (by["overlay"].error.error_class, by["overlay"].error.exit_code) == ("ChainMemberOutside", 30)
    assert by["plain"].error is None or by["plain"].error.error_class != "ChainMemberOutside"


def test_sql_in_member_names_is_data(tmp_path: Path) -> None:
    """Names reach the store from manifests and RVTools: every statement takes them as parameters."""
    from migrate.fleet.store import FleetStore
    from migrate.model.fleet import FleetMember

    names = ["x'); DROP TABLE members;--", "a' OR '1'='1", 'b" OR "1"="1', "c%", "d_"]
    with FleetStore.create(tmp_path / "fleet") as fleet:
        fleet.upsert_members([FleetMember(name="first"), *[FleetMember(name=n) for n in names]])
        assert sorted(m.name for m in fleet.members()) == sorted(["first", *names])
        for n in names:
            got = fleet.get(n)
            assert got is not None and got.name == n
        assert fleet.get("c_") is None and fleet.get("a") is None


def test_rvtools_csv_is_streamed(tmp_path: Path) -> None:
    """A 200 MiB CSV (sparse here: one long line of NULs after the header) was read and decoded whole:
    1.7 GB at its peak. Streamed, a line over 1 MiB is refused at once."""
    path = tmp_path / "vInfo.csv"
    with open(path, "w") as fh:
        fh.write(CSV_HEAD + "vm1,poweredOn,2,2048,100,50,Debian,DC1,C,h\n")
        fh.truncate(200 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(FleetSourceInvalid, match="line 3 is longer than 1024 KiB"):
            read_rvtools(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"peak {peak >> 20} MiB"


def test_fleet_engine_listens_on_the_loopback_only() -> None:
    """The local Dask cluster's scheduler, workers and the scheduler's HTTP server (logs, call stacks,
    task names with the fleet's VM names) bind 127.0.0.1: the HTTP server used to listen on every
    interface while a fleet ran."""
    import psutil

    from migrate.fleet.engine import EngineOptions, dask_client

    with dask_client(EngineOptions(workers=1)) as client:
        assert client.scheduler_info()["workers"]
        me = psutil.Process()
        procs = [me, *me.children(recursive=True)]
        listening = [c.laddr for p in procs for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert len(listening) >= 3  # scheduler, its HTTP server, the worker (and its nanny)
    assert all(addr.ip in ("127.0.0.1", "::1") for addr in listening), listening


def test_deep_datastore_folders_end_the_scan_cleanly(tmp_path: Path) -> None:
    """os.walk recurses: a datastore folder 1100 levels deep was a RecursionError (internal error).
    The scan stops MAX_SCAN_DEPTH folders down, says so, and keeps what it found above."""
    from migrate.fleet.sources import MAX_SCAN_DEPTH, read_sources

    store = tmp_path / "datastore"
    deep = store / "vm01"
    deep.mkdir(parents=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(deep / "vm01.qcow2"), "16M"], check=True)
    for _ in range(1100):  # level by level: Path.mkdir(parents=True) recurses too
        deep = deep / "a"
        deep.mkdir()
    try:
        src = read_sources([str(store)])
        assert [Path(i.path).name for i in src.images] == ["vm01.qcow2"]
        assert any(f"not scanned below {MAX_SCAN_DEPTH} folders deep" in n for n in src.result.notes)
    finally:
        # pytest's own clean-up of old temp folders (shutil.rmtree) recurses too and would end a later
        # session with a RecursionError: take the tree down level by level here
        while deep != store / "vm01":
            deep.rmdir()
            deep = deep.parent
