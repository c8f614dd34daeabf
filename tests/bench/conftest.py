import pytest

from tests.build.docker_fixtures import base_image, docker_engine  # noqa: F401


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow_vm: boots QEMU guests (TCG here; tens of seconds)")
    config.addinivalue_line("markers", "docker: needs a running Docker engine")
