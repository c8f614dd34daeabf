"""pytest plugin (registered in tests/conftest.py, so every test directory has them): one session fixture
per libguestfs phony guest, ``phony_<name>`` (tests/conformance/phony.py builds and caches them).

Every fixture here is an ``image`` fixture (tests/conftest.py marks the tests that use one), so
``make test-fast`` never builds a phony guest. Where the reference data folder (../shared/conformance)
is absent the tests skip naming it: that is the only reason they may skip. A build that fails fails
the test with the tool's message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.samples import SampleBuildError
from tests.conformance.phony import FIXTURES, NAMES, PhonyUnavailable, phony_disks


def _disks(name: str) -> list[Path]:
    try:
        return phony_disks(name)
    except PhonyUnavailable as exc:
        pytest.skip(str(exc))
    except SampleBuildError as exc:
        pytest.fail(f"phony guest {name} could not be built: {str(exc)[:800]}")
    raise AssertionError("unreachable")


def _make_fixture(name: str):  # type: ignore[no-untyped-def]
    @pytest.fixture(scope="session", name=FIXTURES[name])
    def _fixture() -> list[Path]:
        return _disks(name)

    _fixture.__doc__ = f"The disks of libguestfs's phony {name} guest (built once, cached)."
    return _fixture


for _name in NAMES:
    globals()[f"_fixture_{FIXTURES[_name]}"] = _make_fixture(_name)


@pytest.fixture(scope="session")
def phony_guests() -> PhonyGuests:
    """Any phony guest's disks by name, for tests parametrized over the guests."""
    return PhonyGuests()


class PhonyGuests:
    def __getitem__(self, name: str) -> list[Path]:
        return _disks(name)
