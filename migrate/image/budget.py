"""Resource budgets for reading hostile images (docs/security.md, design §9).

A 200 KB image must not be able to make the tool allocate gigabytes, spin for minutes or fill the
disk. The rules are stated once here and applied by every reader:

- a table (L1/L2, grain directory and tables, BAT, block map, GPT entry array) is sized from the
  virtual size, checked against the file size, and refused above ``MAX_TABLE_BYTES`` before a byte
  is allocated;
- caches of decoded tables and decompressed chunks are bounded in bytes, not only in entries;
- counts that drive work (partitions, logical volumes, extents, chain depth) have ceilings;
- every image operation runs under a wall-clock deadline (``MIGRATE_IMAGE_TIMEOUT`` seconds,
  default 600), checked on each read of an image file;
- SIGTERM is turned into KeyboardInterrupt while images are open, so the same cleanup that runs
  for Ctrl-C (temporary OVA folders) runs when a supervisor stops the tool.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

from migrate.errors import ResourceBudgetExceeded, TimeBudgetExceeded

MAX_TABLE_BYTES = 64 << 20  # one mapping table; a 64 TiB VHDX with 32 MiB blocks needs 16 MiB
CACHE_BYTES = 64 << 20  # decoded tables kept per image file
CHUNK_CACHE_BYTES = 64 << 20  # decompressed clusters/grains kept per image file
MAX_PARTITIONS = 256
MAX_LOGICAL_VOLUMES = 1024
MAX_EXTENTS = 2048  # a twoGbMaxExtent VMDK of 4 TiB has 2048
MAX_CHAIN_DEPTH = 32
DEFAULT_TIMEOUT = 600.0

_local = threading.local()  # per thread (a fleet opens images in several): stack of (deadline, what)


def _stack() -> list[tuple[float, str]]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack  # type: ignore[no-any-return]


def check_table(nbytes: int, what: str, report_path: str) -> None:
    """Refuse a table larger than the budget before it is read or allocated."""
    if nbytes > MAX_TABLE_BYTES:
        raise ResourceBudgetExceeded(
            f"{what} would need {nbytes} bytes (budget {MAX_TABLE_BYTES}); refused before reading it",
            path=report_path)


def check_count(count: int, limit: int, what: str, report_path: str) -> None:
    if count > limit:
        raise ResourceBudgetExceeded(f"{count} {what} (at most {limit} are read)", path=report_path)


def timeout_seconds() -> float:
    raw = os.environ.get("MIGRATE_IMAGE_TIMEOUT", "")
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT


@contextlib.contextmanager
def deadline(what: str, seconds: float | None = None) -> Iterator[None]:
    """Run the block under a wall-clock budget; nested budgets keep the earliest deadline."""
    limit = timeout_seconds() if seconds is None else seconds
    end = time.monotonic() + limit
    stack = _stack()
    if stack and stack[-1][0] < end:
        end, what = stack[-1]
    stack.append((end, what))
    try:
        yield
    finally:
        stack.pop()


def check_deadline(report_path: str) -> None:
    """Called on every read of an image file: cheap, and the place every long loop passes through."""
    stack = _stack()
    if stack and time.monotonic() > stack[-1][0]:
        _end, what = stack[-1]
        raise TimeBudgetExceeded(f"{what} ran past its time budget of {timeout_seconds():g} s "
                                 "(MIGRATE_IMAGE_TIMEOUT)", path=report_path)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises KeyboardInterrupt in the main thread, so context
    managers (temporary folders, open files) clean up exactly as for Ctrl-C. A no-op off the main
    thread, where Python cannot install signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
