"""Shared pytest set-up: real sample guests (tests/images_fixtures.py) and the Docker engine with
the local base image (tests/build/docker_fixtures.py), available to every test directory.

Two suite-wide rules live here (docs/testing.md):
- markers follow what a test really uses: a test that asks for a sample-image fixture is an ``image``
  test, one that asks for the Docker engine is a ``docker`` test, whatever its file says, so
  ``make test-fast`` (``-m "not image and not docker"``) never builds a VM or talks to dockerd;
- in CI (``CI=true``) a skipped test is a failed test: ``.ci/run`` installs and starts everything the
  suite needs, so a skip there can only hide a broken set-up.
"""

from __future__ import annotations

import os

import pytest

from tests.conformance.phony import FIXTURES as PHONY_FIXTURES

pytest_plugins = ["tests.images_fixtures", "tests.build.docker_fixtures", "tests.conformance.fixtures"]

IMAGE_FIXTURES = {"flagship_images", "classic_images", "units_images", "bad_images", "native_inventories"}
IMAGE_FIXTURES |= {"phony_guests", *PHONY_FIXTURES.values()}  # tests/conformance
DOCKER_FIXTURES = {"docker_engine", "base_image", "built_stack"}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & IMAGE_FIXTURES and not item.get_closest_marker("image"):
            item.add_marker(pytest.mark.image)
        if used & DOCKER_FIXTURES and not item.get_closest_marker("docker"):
            item.add_marker(pytest.mark.docker)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if not (in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, where every test must run: {reason}"
