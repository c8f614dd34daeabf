"""Numbers in guest configuration files (docs/security.md): ``str.isdigit`` admits ``²`` and other
digits int() refuses, and int() refuses more than 4300 digits. The shared address parser used by the
Apache, HAProxy and app analyzers raised ValueError on either, and the runner then kept nothing of
that analyzer but one unknown."""

from __future__ import annotations

import pytest

from migrate.analyzers._support import split_host_port


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:80", ("127.0.0.1", 80)), ("[::1]:8443", ("::1", 8443)), ("80", (None, 80)),
    ("*:8080", (None, 8080)), ("db01", ("db01", None)),
    ("*:\u00b2", (None, None)), ("[::1]:" + "9" * 5000, ("::1", None)), ("9" * 5000, (None, None)),
    ("\u00b2", ("\u00b2", None)),
])
def test_listen_addresses_with_odd_numbers(text: str, expected: tuple[str | None, int | None]) -> None:
    assert split_host_port(text) == expected
