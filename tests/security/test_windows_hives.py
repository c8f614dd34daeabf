"""Hostile Windows guests: registry hives and NTFS names built to hurt the inspector (issue 11, K3).

Each case is a Windows guest tree (real hives from hivexregedit, then damaged on purpose) inspected
with ``python -m migrate inspect DIR`` in a measured child: it must end in under 30 s and 500 MB with
exit 0, the damage recorded as an unknown naming the hive (so ``--strict`` fails with 3), never a
traceback, and nothing from the host read through a link.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from migrate.analysis import run_analyzers
from migrate.analyzers import windows_hive
from migrate.analyzers.base import Context
from migrate.rootfs import RootFS
from migrate.samples import windows as sample
from tests.security.test_image_budgets import RSS_LIMIT_KB, TIME_LIMIT, run_measured
from tests.windows.test_registry_tree import make_tree

SYSTEM = "Windows/System32/config/SYSTEM"


def _nks(data: bytes, name: bytes) -> list[int]:
    """Offsets in the file of the nk cells (their size fields) of every key called ``name``."""
    out, at = [], data.find(name, 0x1000)
    while at != -1:
        if data[at - 76:at - 74] == b"nk" and struct.unpack_from("<H", data, at - 4)[0] == len(name):
            out.append(at - 80)
        at = data.find(name, at + 1)
    assert out, name
    return out


def _patch(path: Path, fn) -> None:  # noqa: ANN001
    data = bytearray(path.read_bytes())
    fn(data)
    path.write_bytes(bytes(data))


def huge_hive(root: Path) -> None:
    """A SYSTEM hive of 2 GiB (sparse): over the size cap, never opened."""
    with open(root / SYSTEM, "r+b") as fh:
        fh.truncate(2 << 30)


def absurd_counts(root: Path) -> None:
    """Services claims 2^31 sub-keys and W3SVC 2^31 values, cells far larger than the hive."""
    def fn(data: bytearray) -> None:
        for services in _nks(data, b"Services"):
            struct.pack_into("<I", data, services + 4 + 20, 0x7FFFFFFF)
        (w3,) = _nks(data, b"W3SVC")
        struct.pack_into("<I", data, w3 + 4 + 36, 0x7FFFFFFF)
        struct.pack_into("<i", data, w3, -0x7FFFFFF8)  # the cell itself claims 2 GiB
    _patch(root / SYSTEM, fn)


def cyclic_keys(root: Path) -> None:
    """Services' sub-key list names Services itself and the root key: a cycle for any tree walk."""
    def fn(data: bytearray) -> None:
        root_off = struct.unpack_from("<I", data, 36)[0]
        for services in _nks(data, b"Services"):
            cell = 0x1000 + struct.unpack_from("<I", data, services + 4 + 28)[0]
            assert data[cell + 4:cell + 6] in (b"lf", b"lh")
            count = struct.unpack_from("<H", data, cell + 6)[0]
            for i in range(count):
                struct.pack_into("<I", data, cell + 8 + 8 * i, (services - 0x1000) if i % 2 == 0 else root_off)
    _patch(root / SYSTEM, fn)


def garbage_hive(root: Path) -> None:
    """A regf signature followed by noise, and a header that claims 4 GiB of hive bins."""
    data = bytearray(os.urandom(64 * 1024))
    data[:4] = b"regf"
    struct.pack_into("<I", data, 40, 0xFFFFF000)
    (root / SYSTEM).write_bytes(bytes(data))


def deep_keys(root: Path) -> None:
    """400 nested keys under one service: nothing walks it, so nothing recurses."""
    parts = ["HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet002\\Services\\Deep"]
    lines = ["Windows Registry Editor Version 5.00", ""]
    for _ in range(400):
        lines += [f"[{chr(92).join(parts)}]", ""]
        parts.append("D")
    reg = root / "deep.reg"
    reg.write_text("\n".join(lines))
    sample.run(["hivexregedit", "--merge", root / SYSTEM, "--prefix", "HKEY_LOCAL_MACHINE\\SYSTEM", reg])
    reg.unlink()


def hive_link_out(root: Path) -> None:
    """SYSTEM is a link to the host's /etc/passwd: it resolves inside the guest (where there is none)."""
    (root / SYSTEM).unlink()
    (root / SYSTEM).symlink_to("/etc/passwd")


def xml_bomb(root: Path) -> None:
    """applicationHost.config and web.config as entity-expansion bombs (a billion laughs)."""
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE c [<!ENTITY a "aaaaaaaaaa">' +
            "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)) +
            ']>\n<configuration><sites><site name="&j;"/></sites></configuration>\n')
    (root / "Windows/System32/inetsrv/config/applicationHost.config").write_text(bomb)


# case -> (what damages the tree, whether the registry facts must still be complete)
CASES = {
    "huge-hive": (huge_hive, False),
    "absurd-counts": (absurd_counts, False),
    "cyclic-keys": (cyclic_keys, False),
    "garbage-hive": (garbage_hive, False),
    "deep-keys": (deep_keys, True),
    "hive-link-out": (hive_link_out, False),
    "xml-bomb": (xml_bomb, True),
}


@pytest.mark.image  # two measured CLI processes per case, 3-5 s each: kept out of `make test-fast`
@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_hive_is_bounded(case: str, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "guest")
    damage, complete = CASES[case]
    damage(tree)
    out = tmp_path / "inventory.json"
    code, seconds, rss_kb, stderr = run_measured(["inspect", str(tree), "-o", str(out)])
    print(f"{case}: exit {code}, {seconds:.1f} s, peak RSS {rss_kb // 1024} MiB")
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert seconds < TIME_LIMIT and rss_kb < RSS_LIMIT_KB
    inv = json.loads(out.read_text())
    text = out.read_text()
    assert "root:x:0:0" not in text  # nothing from the host
    if complete:
        assert inv["os"]["family"] == "windows" and len(inv["services"]) == 4  # Deep has no Type: no service
        if case == "xml-bomb":  # refused by defusedxml, said so; the registry facts stand
            assert [u["analyzer"] for u in inv["unknowns"]] == ["iis"] and not inv["iis_sites"]
        return
    unknowns = [u for u in inv["unknowns"] if u["analyzer"].startswith(("windows", "iis", "mssql"))]
    assert inv["os"]["family"] == "windows" and unknowns, inv["unknowns"]
    assert all("Traceback" not in u["message"] for u in unknowns)
    strict = run_measured(["inspect", str(tree), "--strict", "-o", str(tmp_path / "strict.json")])
    assert strict[0] == 3, strict[3]


def test_listing_cap_is_an_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More service keys than MAX_SUBKEYS: the first ones are read, the rest reported, never silently cut."""
    monkeypatch.setattr(windows_hive, "MAX_SUBKEYS", 2)
    rootfs = RootFS.from_directory(make_tree(tmp_path))
    result, _ctx = run_analyzers(rootfs, Context(rootfs=rootfs))
    assert len(result.merged.services) <= 2
    assert any("more service keys not read" in u.message for u in result.merged.unknowns)
