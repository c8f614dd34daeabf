"""Fixture inventories live in tests/data/inventories (built by build_fixtures.py there)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from migrate.model.inventory import Inventory

INVENTORIES = Path(__file__).parents[1] / "data" / "inventories"
FIXTURES = ("flagship-debian12", "rocky9", "leap15", "alpine319")


def load_fixture(name: str) -> Inventory:
    return Inventory.load(INVENTORIES / f"{name}.json")


def check_golden(path: Path, text: str) -> None:
    """Compare with a golden file; MIGRATE_UPDATE_GOLDEN=1 rewrites it (on purpose only)."""
    if os.environ.get("MIGRATE_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing: run the tests once with MIGRATE_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{path} differs (MIGRATE_UPDATE_GOLDEN=1 to accept the new output)"


@pytest.fixture
def flagship() -> Inventory:
    return load_fixture("flagship-debian12")
