"""The server-kind interface: what the planner and verify cannot derive from the guest's evidence.

A kind is a class with plain attributes (data) and a few methods with safe defaults; a kind module
defines one subclass and one instance, ``KIND``. Everything a kind says is a *hint about how that
server behaves* (how it stays in the foreground, how to probe it); which files, ports, users and data a
given VM uses still come from the inventory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import ClassVar

from migrate.model.inventory import ConfigFile, Inventory, Package, Service
from migrate.model.plan import FileEdit, Healthcheck, Link, Removal


@dataclass
class KindContext:
    """What a kind may look at while the planner plans one container."""

    service: Service
    inventory: Inventory
    installed: dict[str, Package] = field(default_factory=dict)  # name -> installed package of the guest
    manager: str = ""  # the image's package manager: apt, dnf, zypper, apk
    family: str = ""  # os family: debian, rhel, suse, alpine
    volumes: list[str] = field(default_factory=list)  # mount targets of the container's named volumes
    secret_of: dict[str, str] = field(default_factory=dict)  # config key (requirepass ...) -> stack secret name


@dataclass(frozen=True)
class Foreground:
    """The container's main command: ``argv`` stays in the foreground as PID 1; ``reason`` says what
    was changed from the VM's command and why."""

    argv: list[str]
    reason: str


@dataclass(frozen=True)
class Probe:
    """A check verify runs inside the service's own container with the server's own client.

    ``argv`` may contain ``{port}``; ``expect`` is the stripped stdout it must print (None: exit code 0
    is enough); ``password_env`` names the environment variable that receives the container's password
    secret (never argv)."""

    check: str  # the check's kind in the verification report (pg_isready, redis_ping, probe ...)
    argv: tuple[str, ...]
    expect: str | None = None
    password_env: str | None = None

    def command(self, port: int) -> list[str]:
        return [a.replace("{port}", str(port)) for a in self.argv]


class Kind:
    """One server kind. Subclass, set the attributes that apply, override methods only where needed.

    Matching: a service is of this kind when the analyzer gave it one of ``roles`` or, failing that,
    the basename of its main executable fully matches one of ``executables``."""

    name: ClassVar[str] = ""
    roles: ClassVar[tuple[str, ...]] = ()  # analyzer-assigned Service.role values
    executables: ClassVar[tuple[str, ...]] = ()  # regexes over the basename of exec_start[0]
    container: ClassVar[str | None] = None  # container name; None: from the service's name
    packages: ClassVar[tuple[str, ...]] = ()  # regexes over installed package names (hints until closure)
    user: ClassVar[str | None] = None  # the server's own account when its unit starts as root and drops to it
    drops_privileges: ClassVar[bool] = False  # runs as root and drops itself for its workers (web servers)
    weight: ClassVar[int] = 2  # share of the VM's CPU and memory (see SIZING_RULE)
    stop_signal: ClassVar[str | None] = None  # the signal for a clean shutdown, when not SIGTERM
    start_period: ClassVar[str] = "30s"  # healthcheck grace period
    runtime_dirs: ClassVar[tuple[tuple[str, int], ...]] = ()  # (path, mode) systemd/tmpfiles made in the VM
    schemes: ClassVar[dict[str, int]] = {}  # URL scheme -> the port clients use when the URL names none
    http: ClassVar[bool] = False  # speaks HTTP on its ports (healthcheck and verify GET /)
    rebinds: ClassVar[bool] = False  # its container form listens on all addresses whatever the VM said
    vm_only: ClassVar[tuple[tuple[str, str], ...]] = ()  # (service-name regex, reason): VM plumbing of this kind

    # -- matching ------------------------------------------------------------------------------

    def matches(self, service: Service) -> bool:
        if service.role and service.role in self.roles:
            return True
        exe = executable_name(service.exec_start)
        return bool(exe) and any(re.fullmatch(p, exe) for p in self.executables)

    def container_name(self, service: Service) -> str | None:
        """The container's name; None lets the planner name it after the service."""
        return self.container

    # -- command ---------------------------------------------------------------------------------

    def daemonises(self, argv: list[str]) -> bool:
        """True when ``argv`` (the VM's command) puts the server in the background. Type=forking units
        are detected by the planner; this is for daemonising commands under other unit types."""
        return False

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground | None:
        """The container form of the VM's command: in the foreground and listening on the container
        network. None: ``argv`` is used as it is (the planner adds a blocker if it daemonises)."""
        return None

    # -- probes ----------------------------------------------------------------------------------

    def healthcheck(self, port: int, ctx: KindContext) -> Healthcheck | None:
        """A kind-specific Docker healthcheck; None: the planner's generic HTTP or TCP check."""
        return None

    def probe(self) -> Probe | None:
        """The check verify runs with the server's own client; None: TCP/HTTP probes only."""
        return None

    # -- files -------------------------------------------------------------------------------------

    def config_edits(self, config: ConfigFile, ctx: KindContext) -> list[FileEdit]:
        """Edits to a copied config file so the server works in a container (logs to stdout ...)."""
        return []

    def links(self, ctx: KindContext) -> list[Link]:
        return []

    def removals(self, ctx: KindContext) -> list[Removal]:
        return []

    def __repr__(self) -> str:
        return f"<kind {self.name}>"


def executable_name(argv: list[str]) -> str:
    """Basename of the main executable, without systemd's prefixes (-@+!:)."""
    return PurePosixPath(argv[0].lstrip("-@+!:")).name if argv else ""


def drop_options(argv: list[str], options: dict[str, int]) -> list[str]:
    """``argv`` without the given options; ``options`` maps an option to how many values follow it.
    ``--opt=value`` forms are dropped too."""
    out: list[str] = []
    skip = 0
    for a in argv:
        if skip:
            skip -= 1
            continue
        if a in options:
            skip = options[a]
            continue
        if "=" in a and a.split("=", 1)[0] in options and a.startswith("--"):
            continue
        out.append(a)
    return out


def installed_matching(ctx: KindContext, pattern: str) -> list[str]:
    """Names of installed guest packages that fully match ``pattern``, sorted."""
    return sorted(n for n in ctx.installed if re.fullmatch(pattern, n))
