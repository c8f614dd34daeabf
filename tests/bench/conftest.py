import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow_vm: boots QEMU guests (TCG here; tens of seconds)")
    config.addinivalue_line("markers", "docker: needs a running Docker engine")
