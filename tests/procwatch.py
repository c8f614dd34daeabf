"""Watch every process's argv and environment for a secret while a command runs (keys and passwords
must never reach a child's argv or environment). Shared by the key tests of single-VM and fleet commands."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path


def processes_holding(needle: bytes) -> set[str]:
    """Processes whose argv or environment holds ``needle`` (all of them: the tests run as the user that
    starts qemu, the appliance helpers and the fleet's workers)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        for what in ("cmdline", "environ"):
            try:
                if needle in (proc / what).read_bytes():
                    found.add(f"{proc.name} {what}: {(proc / 'comm').read_text().strip()}")
            except OSError:
                continue
    return found


def assert_scan_sees_an_argv() -> None:
    """The scan finds an argv when there is one: a sentinel that lives until it is killed (a fixed sleep
    could end while a slow /proc scan is on its way to it) and says it runs. Matched by content, not pid:
    under a runner whose /proc belongs to another pid namespace, Popen's pid is not the one /proc lists."""
    sentinel = subprocess.Popen([sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.read()",
                                 "procwatch-sentinel-argv"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert sentinel.stdout is not None and sentinel.stdout.readline() == b"up\n"
        holding = processes_holding(b"procwatch-sentinel-argv")
        assert sentinel.poll() is None, "the sentinel ended before the scan reached it"
        assert any(" cmdline: " in x for x in holding), holding
    finally:
        sentinel.kill()
        sentinel.communicate()


class Watch:
    """``with Watch(secret) as w: ...`` then ``assert not w.seen``: every process's argv and environment
    searched for ``needle`` every 50 ms while the block runs, after proving the scan sees an argv."""

    def __init__(self, needle: bytes) -> None:
        self.needle, self.seen, self._stop = needle, set(), threading.Event()

    def __enter__(self) -> Watch:
        assert_scan_sees_an_argv()

        def watch() -> None:
            while not self._stop.is_set():
                self.seen.update(processes_holding(self.needle))
                self._stop.wait(0.05)

        self._thread = threading.Thread(target=watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
