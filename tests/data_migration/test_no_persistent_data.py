"""A VM without persistent data (the units sample: a real Debian 12 guest on a qcow2 backing chain,
full of units and jobs, but no database, upload or web root): `data export` and `data import`
succeed with an empty manifest and say so, so the same chain runs for every VM."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from migrate.model.data import DataManifest

pytestmark = pytest.mark.image


def _migrate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=300)


def test_export_and_import_of_a_vm_without_persistent_data(units_images, tmp_path) -> None:
    out = tmp_path / "data"
    inspect = _migrate("inspect", str(units_images["overlay"]), "--json")
    assert inspect.returncode == 0, inspect.stderr
    assert json.loads(inspect.stdout)["persistent_paths"] == []  # what makes this guest the case

    export = _migrate("data", "export", str(units_images["overlay"]), "-o", str(out))
    assert export.returncode == 0, export.stderr
    assert "no persistent data" in " ".join(export.stdout.split())
    manifest = DataManifest.load(out / "manifest.json")
    assert manifest.volumes == [] and manifest.source_vm
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]

    again = _migrate("data", "export", str(units_images["overlay"]), "-o", str(out), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["volumes"] == []

    imported = _migrate("data", "import", str(out), "--project", "nodata")
    assert imported.returncode == 0, imported.stderr
    assert "nothing to seed" in " ".join(imported.stdout.split())
    as_json = _migrate("data", "import", str(out), "--project", "nodata", "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["volumes"] == []
