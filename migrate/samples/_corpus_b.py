"""What corpus-lemp, corpus-edge and corpus-infra share: one debootstrap tarball with the union of their
packages (one debootstrap instead of three), the units those packages enable, and build-time helpers
that run a real server inside the chroot long enough to load data and record what it answered.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from migrate.samples._common import Progress, SampleBuildError, _noop
from migrate.samples._corpus import keep_units, prune_packages
from migrate.samples.debootstrap import CHROOT_ENV

#: The union of the packages of corpus-lemp, corpus-edge and corpus-infra.
CORPUS_B_PACKAGES = [
    # every guest
    "systemd", "systemd-sysv", "dbus", "cron", "ca-certificates", "procps", "iproute2", "openssh-server",
    # corpus-lemp
    "nginx", "php-fpm", "php-mysql", "mariadb-server", "lighttpd",
    # corpus-edge
    "haproxy", "nodejs", "redis-server", "varnish",
    # corpus-infra
    "bind9", "bind9-dnsutils", "slapd", "ldap-utils", "mosquitto", "mosquitto-clients",
    "prometheus", "prometheus-node-exporter",
]  # fmt: skip

#: Units the package postinsts of the union tree enable; each guest keeps only the ones it runs.
CORPUS_B_UNITS = [
    "nginx.service", "php8.2-fpm.service", "mariadb.service", "lighttpd.service",
    "haproxy.service", "redis-server.service", "varnish.service", "varnishncsa.service",
    "named.service", "slapd.service", "mosquitto.service", "prometheus.service",
    "prometheus-node-exporter.service", "ssh.service", "cron.service",
]  # fmt: skip


#: What every guest of the three keeps besides its own servers (VM plumbing the pipeline leaves out).
CORPUS_B_BASE = ["systemd", "systemd-sysv", "dbus", "cron", "ca-certificates", "procps", "iproute2", "openssh-server"]


def keep_only(tree: Path, packages: list[str], units: set[str], progress: Progress = _noop) -> dict[str, list[str]]:
    """Make the shared tree this guest: purge the packages of the other guests (apt autoremove, see
    :func:`migrate.samples._corpus.prune_packages`), then disable any unit left that the guest does not
    run. Returns both lists for the facts."""
    removed = prune_packages(tree, [*CORPUS_B_BASE, *packages], progress)
    disabled = keep_units(tree, units, CORPUS_B_UNITS)
    return {"removed_packages": removed, "disabled_units": disabled}


@contextlib.contextmanager
def chroot_daemon(tree: Path, argv: Sequence[str], *, ready: Path, timeout: float = 60.0) -> Iterator[None]:
    """Run a real server in the foreground inside the chroot until the block ends.

    ``ready`` (a host path inside the tree, e.g. its socket) must appear before the block runs.
    The server is stopped with SIGTERM so it writes its data as on a clean shutdown."""
    proc = subprocess.Popen(["chroot", str(tree), *argv], env={**os.environ, **CHROOT_ENV},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
                raise SampleBuildError(f"{argv[0]} exited ({proc.returncode}) in the build chroot: {err}")
            if time.monotonic() > deadline:
                raise SampleBuildError(f"{argv[0]} did not become ready within {timeout:.0f}s")
            time.sleep(0.2)
        yield
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
