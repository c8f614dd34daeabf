"""`migrate fleet report` on a real fleet store: two real images (the flagship's OVA, the classic
qcow2, hard-linked into one folder) added and inspected by the fleet commands, then reported, PDF
included. Checks what a user gets: the files, the links to each VM's inventory, the PDF's words."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from migrate.report import chromium

ROOT = Path(__file__).resolve().parents[2]


def _migrate(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=timeout,
                       cwd=ROOT)
    assert r.returncode == 0, (args, r.stdout[-2000:], r.stderr[-2000:])
    return r


def test_fleet_report_command(tmp_path, flagship_images, classic_images):
    images = tmp_path / "datastore"
    images.mkdir()
    for src in (flagship_images["ova"], classic_images["qcow2"]):
        os.link(src, images / src.name)
    fleet = tmp_path / "fleet"
    _migrate("fleet", "add", str(fleet), str(images))
    _migrate("fleet", "inspect", str(fleet), "--workers", "1")
    r = _migrate("fleet", "report", str(fleet), "--pdf", "--cost-per-host", "8000", "--host-cores", "4",
                 "--host-memory", "8")
    out = fleet / "report"
    assert f"report: {out / 'report.html'}" in r.stdout
    assert {p.name for p in out.iterdir()} == {"report.html", "report.pdf", "fleet-report.json", "members.csv",
                                               "waves.csv", "blockers.csv"}
    rows = {row["name"]: row for row in csv.DictReader((out / "members.csv").open())}
    assert set(rows) == {"shop-vm01", "classic"}
    assert rows["shop-vm01"]["distro"] == "debian" and rows["shop-vm01"]["vcpus"] == "2"  # from its OVF
    html = (out / "report.html").read_text()
    link = rows["shop-vm01"]["inventory"]
    assert f'href="../{link}"' in html and (fleet / link).is_file()
    assert str(tmp_path) not in html  # the fleet's display name is its folder name, never a path
    text = chromium.pdf_text(out / "report.pdf")
    assert "Fleet report: fleet" in text and "Overview" in text and "Capacity" in text
    assert "2 VMs" in text and "classic" in text and "debian 12" in text  # (a narrow cell may split "shop-vm01")
