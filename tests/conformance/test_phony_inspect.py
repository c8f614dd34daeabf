"""``migrate inspect`` on libguestfs's phony guests, with every backend, against virt-inspector's expected XML.

Each (guest, backend) case inspects the guest once (in process, as the CLI does) and compares OS type,
distro, version major.minor, product name, arch, hostname, package format and manager, mountpoints,
filesystems (type/label/UUID) and applications (name epoch:version-release) with the expected XML
(tests/conformance/compare.py). The case passes when the fields that differ are exactly the ones
tests/conformance/differences.py lists for it, each with its reason: a new difference fails, and so
does a listed one that no longer occurs (remove it from the list when a fix lands). A few differences
with an external, intermittent cause are accepted either way (``INTERMITTENT``, each with its reason).
"""

from __future__ import annotations

import pytest

from tests.conformance.compare import compare, run_inspect
from tests.conformance.differences import CASES, INTERMITTENT, KNOWN
from tests.conformance.phony import expected


@pytest.mark.parametrize(("name", "backend"), CASES, ids=[f"{n}-{b}" for n, b in CASES])
def test_inspect_agrees_with_virt_inspector(phony_guests, name, backend):
    phony_guests[name]  # built (or found in the cache) before the clock starts
    outcome = run_inspect(name, backend)
    result = compare(outcome, expected(name))
    listed = KNOWN.get((name, backend), {})
    either_way = INTERMITTENT.get((name, backend), {})
    new = {f: d for f, d in result.differences.items() if f not in listed and f not in either_way}
    gone = sorted(f for f in listed if f not in result.differences)
    assert not new, (f"{name} under {backend}: differences from virt-inspector not listed in "
                     f"tests/conformance/differences.py: {new}")
    assert not gone, (f"{name} under {backend}: listed differences that no longer occur (remove them from "
                      f"tests/conformance/differences.py): {gone}")
