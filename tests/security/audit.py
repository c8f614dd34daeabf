"""Recording which files the test process opens, with Python's audit hook.

``open`` audit events are raised by ``open()``, ``os.open()`` and everything built on them, in every
module, so a test can prove that a hostile guest never made the tool open a host file it names. An
audit hook cannot be removed once added: one hook is installed for the whole run and records only
while a ``recording_opens()`` block is active. tests/test_bad_input.py and tests/security use it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_active: list[list[str]] = []
_installed = False


def _hook(event: str, args: tuple) -> None:
    if event != "open" or not _active:
        return
    target = args[0] if args else None
    if isinstance(target, (str, bytes, os.PathLike)):
        name = os.fsdecode(target)
        for sink in _active:
            sink.append(name)


@contextmanager
def recording_opens() -> Iterator[list[str]]:
    """The paths (as given to open: absolute, relative or relative to a directory fd) opened while
    the block runs, in order."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    opened: list[str] = []
    _active.append(opened)
    try:
        yield opened
    finally:
        _active.remove(opened)
