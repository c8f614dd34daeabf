"""The flagship fixture inventory (tests/data/inventories/flagship-debian12.json) that the graph, plan
and generate goldens are made from is the real VM's inventory, not a model of it."""

from __future__ import annotations

import pytest

from migrate.model.inventory import Inventory
from tests.data.inventories.capture import FLAGSHIP, inspect_flagship, without_versions

pytestmark = pytest.mark.image


def test_flagship_fixture_is_what_inspect_finds_in_the_real_vm(flagship_images) -> None:
    fixture = Inventory.load(FLAGSHIP)
    live = inspect_flagship()
    # package versions are a snapshot of the mirror at capture time; everything else must match exactly
    assert without_versions(fixture) == without_versions(live), (
        "the flagship fixture no longer matches the real VM: regenerate it on purpose with "
        "`python -m tests.data.inventories.capture` and review the golden diffs")
    assert {p.name for p in fixture.packages} == {p.name for p in live.packages}
    vm = flagship_images.facts["vm"]
    assert fixture.sizing is not None
    assert (fixture.sizing.vcpus, fixture.sizing.memory_mib) == (vm["cpus"], vm["memory_mb"])
