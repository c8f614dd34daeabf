"""Writes the real flagship inventory fixture: ``python -m tests.data.inventories.capture``.

``flagship-debian12.json`` is what ``migrate inspect`` reports for the built-in flagship VM (the OVA
export, so the VM's sizing comes from its OVF descriptor: 2 vCPU, 2048 MiB), not a hand-made model of
it. Two things are normalised so the file does not depend on the machine that captured it: image paths
become file names (the sample cache lives under the user's home) and nothing else. Package versions
are what the Debian mirror served when the sample was built: a later rebuild may see newer point
releases, which is why ``tests/test_inventory_fixture.py`` compares the fixture with a fresh inspection
with versions set aside, and why regenerating this file is done on purpose only.
"""

from __future__ import annotations

from pathlib import Path

from migrate.model.inventory import Inventory

HERE = Path(__file__).parent
FLAGSHIP = HERE / "flagship-debian12.json"


def normalise(inv: Inventory) -> Inventory:
    """The inventory with machine-specific image paths reduced to file names (the sample's cache folder
    is named by its recipe's key, which changes with the recipe's source)."""
    data = inv.canonical().model_copy(deep=True)
    for image in data.images:
        image.path = Path(image.path).name
        image.backing_chain = [Path(b).name for b in image.backing_chain]
    if data.sizing is not None and data.sizing.evidence is not None and data.sizing.evidence.path:
        data.sizing.evidence.path = Path(data.sizing.evidence.path).name  # the OVF inside the export
    return data.canonical()


def without_versions(inv: Inventory) -> dict:
    """The inventory as a dict with package versions, the export's file size and analyzer timings set aside."""
    data = normalise(inv).model_dump(mode="json")
    for p in data.get("packages") or []:
        p.pop("version", None)
    for image in data.get("images") or []:
        image.pop("file_size", None)  # compressed exports change size with their contents
    for run in data.get("analyzers") or []:
        run.pop("seconds", None)  # how long each analyzer took
    return data


def inspect_flagship() -> Inventory:
    from migrate.inspect import inspect_images
    from migrate.samples import build_sample

    images = build_sample("flagship")
    return inspect_images([images["ova"]], "native")


def main() -> None:
    FLAGSHIP.write_text(normalise(inspect_flagship()).to_json())
    print(f"wrote {FLAGSHIP}")


if __name__ == "__main__":
    main()
