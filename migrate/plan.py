"""Inventory + ServiceGraph -> Plan: one container per service the VM really runs.

Every choice made here lands in the plan with a ``reason`` so a human can review and edit it; the
generator only executes the plan. Knowledge about particular server kinds (how PostgreSQL, Redis
and nginx are started, checked and made to listen on the container network) lives in ``ROLES``.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml

from migrate.errors import InvalidDocument, UsageError
from migrate.graph import ALL_ADDRESSES, build_graph, is_loopback, resolve_connection
from migrate.model.graph import ServiceGraph
from migrate.model.inventory import ConfigFile, Inventory, Port, Service
from migrate.model.plan import (
    BaseImage,
    Blocker,
    Command,
    Container,
    Dependency,
    Deploy,
    EnvVar,
    FileCopy,
    FileEdit,
    Fitness,
    Healthcheck,
    Job,
    Link,
    Network,
    OSDecision,
    Packages,
    PinnedPackage,
    Plan,
    PortSpec,
    Removal,
    ReportItem,
    Resources,
    RuntimeDir,
    SecretFill,
    SecretMount,
    StackSecret,
    UserSpec,
    Volume,
    VolumeMount,
)
from migrate.model.plan import Dropped as DroppedModel


class GuestReader(Protocol):
    """What the planner and generator need from a guest: RootFS provides it."""

    def read_bytes(self, path: str, *, max_bytes: int | None = None) -> bytes: ...
    def is_dir(self, path: str) -> bool: ...
    def exists(self, path: str) -> bool: ...
    def walk(self, top: str, *, max_entries: int = 1_000_000) -> Iterator[tuple[str, object]]: ...


UNIT_KINDS = ("unit", "systemd-unit", "systemd-dropin", "init-script", "openrc-script")
LABEL_KEYS = ("environment", "maturity", "maintainer", "geo", "ops-guide", "test-script")


@dataclass
class PlanOptions:
    org: str = "example"
    labels: dict[str, str] = field(default_factory=dict)  # keys of LABEL_KEYS
    base_image: str | None = None  # overrides the per-distro choice for every container
    image_prefix: str | None = None  # default: <org>/<vm>
    stack_name: str | None = None

    @classmethod
    def from_file(cls, path: Path, **overrides: object) -> PlanOptions:
        """A small YAML file: ``org: acme`` and ``labels: {environment: prod, maintainer: ...}``."""
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidDocument(f"cannot read label config: {exc}", path=str(path)) from exc
        if not isinstance(data, dict):
            raise InvalidDocument("expected a mapping with org and labels", path=str(path))
        unknown = set(data) - {"org", "labels", "base_image", "image_prefix", "stack_name"}
        if unknown:
            raise InvalidDocument(f"unknown keys: {', '.join(sorted(unknown))}", path=str(path))
        labels = data.get("labels") or {}
        if not isinstance(labels, dict):
            raise InvalidDocument("labels: expected a mapping", path=str(path))
        bad = set(labels) - set(LABEL_KEYS)
        if bad:
            raise InvalidDocument(f"labels: unknown keys {', '.join(sorted(bad))} (known: {', '.join(LABEL_KEYS)})",
                                  path=str(path))
        opts = cls(org=str(data.get("org", "example")), labels={k: str(v) for k, v in labels.items()},
                   base_image=data.get("base_image"), image_prefix=data.get("image_prefix"),
                   stack_name=data.get("stack_name"))
        for k, v in overrides.items():
            if v:
                if k == "labels":
                    opts.labels.update(v)  # type: ignore[arg-type]
                else:
                    setattr(opts, k, v)
        return opts


# --- knowledge about server kinds -------------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    container: str | None  # container name; None = the service's own name
    packages: tuple[str, ...]  # regexes over installed package names
    weight: int  # share of the VM's CPU and memory
    stop_signal: str | None = None
    start_period: str = "30s"
    runtime_dirs: tuple[tuple[str, int], ...] = ()  # (path, mode)
    http: bool = False


ROLES: dict[str, Role] = {
    "postgresql": Role("postgres", (r"postgresql-\d+", r"postgresql-client-\d+", r"postgresql-common",
                                    r"postgresql\d*-server", r"postgresql\d+", r"postgresql-contrib", r"ssl-cert"),
                       4, "SIGINT", "60s", (("/var/run/postgresql", 0o2775),)),
    "mysql": Role("mysql", (r"mysql-server.*", r"mysql-community-server"), 4, None, "60s",
                  (("/var/run/mysqld", 0o755),)),
    "mariadb": Role("mariadb", (r"mariadb-server.*",), 4, None, "60s", (("/var/run/mysqld", 0o755),)),
    "redis": Role("redis", (r"redis\d*", r"redis-server", r"redis-tools"), 2, None, "10s",
                  (("/var/run/redis", 0o2775),)),
    "memcached": Role("memcached", (r"memcached",), 2),
    "nginx": Role("nginx", (r"nginx", r"nginx-core", r"nginx-common"), 1, "SIGQUIT", "10s", (), True),
    "apache": Role("httpd", (r"apache2", r"apache2-bin", r"httpd", r"apache2-prefork"), 1, "SIGWINCH", "10s",
                   (), True),
    "httpd": Role("httpd", (r"apache2", r"apache2-bin", r"httpd"), 1, "SIGWINCH", "10s", (), True),
}
DEFAULT_ROLE = Role(None, (), 2)
ROLE_USERS = {"postgresql": "postgres", "redis": "redis", "mysql": "mysql", "mariadb": "mysql",
              "memcached": "memcache"}
INTERPRETER_PACKAGES = {
    "python3": (r"python3", r"python3-(?!minimal$|apt$|debian$|debconf|distutils$|lib2to3$|pkg-resources$|setuptools"
                r"$|pip$|venv$|dev$|gi$|dbus$|libs$|libcomps$|dnf|rpm$|hawkey$|gpg$|six$|chardet$)[a-z0-9.+-]+"),
    "python": (r"python3",),
    "node": (r"nodejs\d*",),
    "java": (r"openjdk-\d+-jre-headless", r"java-[\d.]+-openjdk-headless"),
    "php": (r"php\d*(\.\d+)?-cli", r"php\d*-cli", r"php-cli"),
    "ruby": (r"ruby\d*(\.\d+)?",),
    "perl": (r"perl",),
}

VM_ONLY = [
    (r"ssh|sshd|openssh.*", "remote login to the VM; containers are entered with `docker exec`"),
    (r"(serial-)?getty@.*|agetty.*", "console login on a terminal"),
    (r"cron|crond|cronie|anacron|atd", "a job scheduler daemon; the jobs themselves are planned one by one"),
    (r"systemd-.*|udev|systemd-udevd|dbus(-broker)?|polkit|logind", "part of the VM's init and device plumbing"),
    (r"chrony|chronyd|ntp|ntpd|ntpsec|systemd-timesyncd|openntpd", "time synchronisation belongs to the host"),
    (r"rsyslog|syslog-ng|syslog|journald", "logging: containers log to stdout and `docker logs`"),
    (r"cloud-.*|cloud-init", "cloud-init configures VMs at boot"),
    (r"networking|NetworkManager|network|wpa_supplicant|dhcpcd|ifup@.*|systemd-networkd",
     "VM networking; Docker provides the container network"),
    (r"qemu-guest-agent|open-vm-tools|vmtoolsd|waagent|hv-kvp-daemon", "hypervisor guest agent"),
    (r"unattended-upgrades|apt-daily.*|dnf-makecache|packagekit", "package updates: rebuild images instead"),
    (r"apparmor|auditd|firewalld|ufw|nftables|iptables|fail2ban|lvm2-.*|mdmonitor|smartd|irqbalance|tuned|"
     r"kdump|acpid|multipathd|rngd|lm-sensors|haveged|postfix-instance-generator|e2scrub.*|fstrim|"
     r"blk-availability|kmod-static-nodes|plymouth.*|console-setup|keyboard-setup|procps|rc-local",
     "host security, hardware or storage housekeeping"),
]

GUI_PACKAGES = r"xserver-xorg.*|xorg-x11-server.*|gdm3?|lightdm|sddm|gnome-shell|plasma-desktop|xfce4|xrdp|tigervnc.*"
KMOD_PACKAGES = r"dkms|.*-dkms|kmod-.*|nvidia-kernel.*"
HARDWARE_PACKAGES = r"nvidia-.*|cuda-.*|pcscd|usbutils|cups|sane-.*|bluez"

SIZING_RULE = (
    "limits: each container gets (weight / sum of weights) of the VM's vCPUs and memory, so together they "
    "never exceed what the VM had; weights: database 4, cache 2, application 2, web server 1; "
    "reservations: half the limits; cpus rounded to 0.01, memory down to 16 MiB, at least 0.05 CPU and 64 MiB"
)
FITNESS_RULE = "100, minus 35 per blocker and 10 per warning, never below 0"
VM_FITNESS_RULE = ("mean of the container scores (0 when nothing is containerised), minus 35 per VM-level "
                   "blocker and 10 per VM-level warning, never below 0")


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s or "x"


def family_manager(family: str) -> str:
    return {"debian": "apt", "rhel": "dnf", "suse": "zypper", "alpine": "apk"}.get(family, "")


DEBIAN_CODENAMES = {"10": "buster", "11": "bullseye", "12": "bookworm", "13": "trixie"}


def choose_base_image(inv: Inventory) -> BaseImage:
    os_ = inv.os
    version = os_.version or ""
    major = version.split(".")[0]
    distro = os_.distro.lower()
    if os_.family == "debian" and distro == "ubuntu":
        image = f"ubuntu:{version}" if version else "ubuntu:latest"
        why = f"Ubuntu {version} in the VM (os-release) -> the matching official ubuntu image"
    elif os_.family == "debian":
        codename = os_.codename or DEBIAN_CODENAMES.get(major)
        if not codename:
            raise InvalidDocument(f"os.version: cannot map Debian {version!r} to a release", path="inventory")
        image = f"debian:{codename}-slim"
        why = f"Debian {version or codename} ({codename}) in the VM -> debian:{codename}-slim, the same release"
    elif os_.family == "rhel":
        images = {"rocky": f"rockylinux:{major}", "almalinux": f"almalinux:{major}",
                  "rhel": f"registry.access.redhat.com/ubi{major}/ubi",
                  "centos": f"quay.io/centos/centos:stream{major}",
                  "ol": f"oraclelinux:{major}", "fedora": f"fedora:{major}"}
        image = images.get(distro, f"almalinux:{major}")
        why = (f"{os_.pretty_name or distro} in the VM -> {image}, same major release and dnf"
               + ("" if distro in images else f" (no image for {distro!r}: AlmaLinux is binary compatible)"))
    elif os_.family == "suse":
        minor = version or "15"
        image = f"registry.suse.com/bci/bci-base:{minor}" if distro.startswith("sle") else f"opensuse/leap:{minor}"
        why = f"{os_.pretty_name or distro} in the VM -> {image}, same service pack and zypper"
    elif os_.family == "alpine":
        branch = ".".join(version.split(".")[:2]) or "latest"
        image = f"alpine:{branch}"
        why = f"Alpine {version} in the VM -> alpine:{branch}, the same branch (apk pins need it)"
    else:
        raise InvalidDocument(f"os.family {os_.family!r} ({os_.distro}): no base image and package manager known; "
                              "supported: debian/ubuntu, rhel family, suse, alpine", path="inventory")
    return BaseImage(image=image, family=os_.family, package_manager=family_manager(os_.family),  # type: ignore
                     reason=why + "; override with --build-arg BASE_IMAGE=... or here")


def pin(manager: str, name: str, version: str) -> str:
    # dnf takes name-[epoch:]version-release; apt, zypper and apk take name=version
    return f"{name}-{version}" if manager == "dnf" else f"{name}={version}"


# --- the planner ------------------------------------------------------------------------------------


def vm_only_reason(s: Service, listens: bool = False) -> str | None:
    if s.vm_only:
        return s.vm_only_reason or "marked VM-only by the inspector"
    for pattern, reason in VM_ONLY:
        if re.fullmatch(pattern, s.name) or (s.role and re.fullmatch(pattern, s.role)):
            return reason
    if s.name.endswith("@"):
        return "a template unit: its instances are planned, not the template"
    if s.state in ("disabled", "masked"):
        return f"{s.state} in the VM: nothing started it"
    if s.role in ROLES or listens:
        return None  # a server, even behind a wrapper unit (Debian's postgresql.service): planned from its role
    if not s.exec_start:
        return "no command to run (no ExecStart or script found)"
    if s.unit_type == "oneshot" and s.exec_start[0].lstrip("-@+!:") in ("/bin/true", "/usr/bin/true"):
        return "a oneshot wrapper unit that runs /bin/true; its instances are the real services"
    return None


def container_name(s: Service) -> str:
    role = ROLES.get(s.role or "")
    if role and role.container:
        return role.container
    return slug(s.name.split("@")[0] if "@" in s.name and s.role else s.name)


class Planner:
    def __init__(self, inv: Inventory, graph: ServiceGraph, options: PlanOptions,
                 reader: GuestReader | None) -> None:
        self.inv = inv.canonical()
        self.graph = graph
        self.opts = options
        self.reader = reader
        self.base = choose_base_image(self.inv)
        if options.base_image:
            self.base.image = options.base_image
            ran = self.inv.os.pretty_name or self.inv.os.distro
            self.base.reason = f"set by the user (--base-image); the VM ran {ran}"
        self.manager = self.base.package_manager
        self.installed = {p.name: p for p in self.inv.packages if p.state in ("installed", "")}
        self.org = slug(options.org).replace("-", "")
        self.prefix = f"com.{self.org}.docker"
        self.stack = slug(options.stack_name or self.inv.name)
        self.image_prefix = options.image_prefix or f"{self.org}/{self.stack}"
        self.containers: dict[str, Service] = {}  # container name -> service
        self.by_service: dict[str, str] = {}  # service name -> container name
        self.dropped: list[DroppedModel] = []

    # -- selection

    def select(self) -> None:
        listening = {p.service for p in self.inv.ports}
        for s in self.inv.services:
            reason = vm_only_reason(s, s.name in listening)
            if reason:
                self.dropped.append(DroppedModel(service=s.name, reason=reason))
                continue
            name = container_name(s)
            if name in self.containers:
                name = slug(s.name)
            n, i = name, 2
            while n in self.containers:
                n, i = f"{name}-{i}", i + 1
            self.containers[n] = s
            self.by_service[s.name] = n

    # -- helpers

    def role(self, s: Service) -> Role:
        return ROLES.get(s.role or "", DEFAULT_ROLE)

    def user_of(self, s: Service) -> UserSpec:
        users = {u.name: u for u in self.inv.users}
        name = s.user or "root"
        default = ROLE_USERS.get(s.role or "")
        borrowed = False
        if s.user is None and default in users:
            name, borrowed = default, True  # the unit starts as root and the server drops to its user
        u = users.get(name)
        uid = s.uid if s.uid is not None and not borrowed else (u.uid if u else (0 if name == "root" else None))
        gid = s.gid if s.gid is not None and not borrowed else (u.gid if u else (0 if name == "root" else None))
        if uid is None or gid is None:
            raise InvalidDocument(f"services[{s.name}].user: {name!r} has no numeric uid/gid in the inventory",
                                  path="inventory")
        group = s.group or next((g.name for g in self.inv.groups if g.gid == gid), None) or name
        groups = sorted(g.name for g in self.inv.groups if name in g.members and g.gid != gid and name != "root")
        if borrowed:
            why = (f"the {s.role} server runs as {name} ({uid}:{gid}) in the VM (its unit starts as root and "
                   "drops privileges); the container starts as that user directly")
        elif uid == 0:
            why = ("runs as root in the VM" + (f" ({s.role} drops privileges for its workers itself)"
                                               if s.role in ("nginx", "apache", "httpd") else ""))
        else:
            why = (f"User={name} in the VM: the same numeric uid:gid {uid}:{gid} so files in volumes keep "
                   "the owner the service expects")
        if groups:
            why += (f"; also a member of {', '.join(groups)} in the VM: the image adds the memberships and USER "
                    "names the uid alone, because Docker drops supplementary groups when USER gives a group")
        return UserSpec(name=name, uid=uid, gid=gid, group=group, groups=groups, home=u.home if u else None,
                        shell=u.shell if u else None, reason=why)

    def packages_for(self, s: Service, extra: list[str]) -> Packages:
        patterns: list[tuple[str, str]] = [(p, f"{s.role} server") for p in self.role(s).packages]
        interp = s.interpreter or (Path(s.exec_start[0]).name if s.exec_start else "")
        interp = re.sub(r"[\d.]+$", "", interp) if interp not in INTERPRETER_PACKAGES else interp
        if interp == "python":
            interp = "python3"
        for p in INTERPRETER_PACKAGES.get(interp, ()):
            patterns.append((p, f"the {interp} interpreter and the libraries the VM had for it"))
        if s.role == "postgresql" and self.manager != "apt":
            patterns.append((r"postgresql", "client tools (pg_isready)"))
        chosen: dict[str, str] = {}
        for c in self.inv.configs:
            if c.service == s.name and c.from_package in self.installed:
                chosen.setdefault(c.from_package, f"owns {c.path}")
        for name in sorted(self.installed):
            for pattern, why in patterns:
                if re.fullmatch(pattern, name):
                    chosen.setdefault(name, why)
        for name in extra:
            if name in self.installed:
                chosen.setdefault(name, "used by the healthcheck")
        if s.exec_start and not chosen:
            why = f"no installed package matched {s.exec_start[0]}; add the ones it needs"
        else:
            why = ("versions as installed in the VM; dependencies come from the distribution's repositories "
                   "(the pinned versions must still be there: point the build at a snapshot mirror if not)")
        items = [PinnedPackage(name=n, version=self.installed[n].version,
                               spec=pin(self.manager, n, self.installed[n].version)) for n in sorted(chosen)]
        detail = "; ".join(f"{n}: {w}" for n, w in sorted(chosen.items()))
        return Packages(items=items, reason=f"{why}. {detail}" if detail else why)

    def command_for(self, s: Service, volumes: list[VolumeMount]) -> tuple[Command, list[Blocker]]:
        argv = list(s.exec_start)
        argv[0] = argv[0].lstrip("-@+!:")
        reasons = [f"ExecStart of {s.unit_path or s.name}"]
        blockers: list[Blocker] = []
        role = s.role or ""
        if role == "postgresql" and Path(argv[0]).name == "true":
            # Debian's postgresql.service wrapper: the cluster comes from the data directory
            ver, name = self.pg_cluster(volumes)
            argv = ["/usr/bin/pg_ctlcluster", f"{ver}-{name}", "start"]  # rewritten just below
        if role == "postgresql" and Path(argv[0]).name == "pg_ctlcluster":
            cluster = next((a for a in argv[1:] if re.fullmatch(r"\d+(\.\d+)?-[\w-]+", a)), None)
            if cluster is None:
                m = re.search(r"@(\d+)-(.+)$", s.name)
                cluster = f"{m.group(1)}-{m.group(2)}" if m else "-".join(self.pg_cluster(volumes))
            ver, name = cluster.split("-", 1)
            data = next((v.target for v in volumes), f"/var/lib/postgresql/{ver}/{name}")
            argv = [f"/usr/lib/postgresql/{ver}/bin/postgres", "-D", data,
                    "-c", f"config_file=/etc/postgresql/{ver}/{name}/postgresql.conf"]
            reasons = [f"pg_ctlcluster {cluster} forks postgres in the background; the container runs postgres "
                       "itself in the foreground with the cluster's data directory and config"]
        elif role == "postgresql" and Path(argv[0]).name == "postmaster":
            argv[0] = str(Path(argv[0]).with_name("postgres"))
            reasons.append("postmaster is an old alias of postgres")
        if role == "postgresql":
            argv += ["-c", "listen_addresses=*"]
            reasons.append("listen_addresses=* because in the VM clients came over loopback, in the stack they "
                           "come over the container network (the port is not published)")
        if role == "nginx":
            cleaned: list[str] = []
            skip = False
            for i, a in enumerate(argv):
                if skip:
                    skip = False
                    continue
                if a == "-g" and i + 1 < len(argv) and "daemon" in argv[i + 1]:
                    skip = True
                    continue
                cleaned.append(a)
            argv = cleaned + ["-g", "daemon off;"]
            reasons.append("`daemon off;` keeps nginx in the foreground as the container's main process")
        if role == "redis":
            cleaned = []
            it = iter(range(len(argv)))
            for i in it:
                if argv[i] in ("--supervised", "--daemonize") and i + 1 < len(argv):
                    next(it, None)
                    continue
                cleaned.append(argv[i])
            argv = cleaned + ["--daemonize", "no", "--bind", "0.0.0.0", "--logfile", ""]
            reasons.append("--daemonize no (foreground, no systemd supervision); --bind 0.0.0.0 because clients "
                           "reach it over the container network instead of loopback; --logfile '' logs to stdout "
                           "for `docker logs`")
        if s.unit_type == "forking" and role not in ("postgresql", "nginx", "redis"):
            blockers.append(Blocker(kind="forking", severity="warning", evidence=s.unit_path,
                                    detail="Type=forking: the command daemonises; give it its foreground flag"))
        return Command(argv=argv, workdir=s.working_directory, stop_signal=self.role(s).stop_signal,
                       reason="; ".join(reasons)), blockers

    def static_binary(self, s: Service) -> str | None:
        """The executable's path when it is a statically linked ELF file no package owns (needs a reader)."""
        if self.reader is None or not s.exec_start or s.role in ROLES or s.interpreter:
            return None
        path = s.exec_start[0].lstrip("-@+!:")
        if not path.startswith("/") or path.startswith(("/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/lib")):
            return None  # the distribution's own programs come from packages
        try:
            head = self.reader.read_bytes(path, max_bytes=256 * 1024 * 1024)
        except Exception:  # noqa: BLE001 - unreadable: not something we can put on scratch
            return None
        return path if is_static_elf(head) else None

    def pg_cluster(self, volumes: list[VolumeMount]) -> tuple[str, str]:
        """(version, cluster) of a Debian PostgreSQL cluster, from its data directory or package."""
        for v in volumes:
            m = re.fullmatch(r"/var/lib/postgresql/(\d+)/([\w-]+)", v.target)
            if m:
                return m.group(1), m.group(2)
        versions = sorted((int(m.group(1)) for n in self.installed if (m := re.fullmatch(r"postgresql-(\d+)", n))),
                          reverse=True)
        return (str(versions[0]) if versions else "15"), "main"

    def incoming(self, s: Service) -> list[str]:
        return sorted({e.source.removeprefix("service:") for e in self.graph.edges
                       if e.kind == "connects-to" and e.target == f"service:{s.name}"
                       and e.source.removeprefix("service:") in self.by_service})

    def ports_for(self, s: Service) -> tuple[list[PortSpec], list[Blocker]]:
        specs: dict[tuple[int, str], PortSpec] = {}
        blockers: list[Blocker] = []
        callers = self.incoming(s)
        for p in self.inv.ports:
            if p.service != s.name or p.proto == "unix" or p.port is None:
                continue
            key = (p.port, p.proto)
            addr = p.address
            if addr not in ALL_ADDRESSES and not is_loopback(addr):
                blockers.append(Blocker(kind="specific-bind", severity="blocker", evidence=p.evidence.path,
                                        detail=f"listens on {addr}:{p.port} only: a container has other addresses; "
                                               "make it listen on 0.0.0.0"))
            elif is_loopback(addr) and s.role not in ("postgresql", "redis") and callers:
                blockers.append(Blocker(kind="loopback-bind", severity="warning", evidence=p.evidence.path,
                                        detail=f"listens on {addr}:{p.port}: {', '.join(callers)} will reach it over "
                                               "the container network; make it listen on 0.0.0.0"))
            if key in specs:
                continue
            publish = not callers and not is_loopback(addr)
            if publish:
                why = (f"listens on {addr or 'all addresses'}:{p.port} and nothing in the VM connects to it: an "
                       "entry point of the stack, published")
            elif callers:
                who = ", ".join(self.by_service[c] for c in callers)
                why = f"reached by {who} over the stack network; not published"
            else:
                why = f"loopback-only in the VM ({addr}); not published (compose.debug.yaml publishes it)"
            specs[key] = PortSpec(port=p.port, proto=p.proto, publish=publish, reason=why)  # type: ignore[arg-type]
        return list(specs.values()), blockers

    def healthcheck_for(self, s: Service, ports: list[PortSpec], secret_of: dict[str, str],
                        pkgs: list[str]) -> tuple[Healthcheck, list[str]]:
        role = self.role(s)
        tcp = [p for p in ports if p.proto == "tcp"]
        if not tcp:
            return Healthcheck(kind="none", test=["NONE"], reason="listens on no TCP port: nothing to probe; "
                               "Docker watches the process"), []
        port = tcp[0].port
        if s.role == "postgresql":
            return Healthcheck(kind="pg_isready", test=["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)],
                               start_period=role.start_period,
                               reason=f"PostgreSQL accepts connections on {port} (pg_isready, no password needed)"), []
        if s.role == "redis":
            secret = secret_of.get("requirepass")
            if secret:
                cmd = (f'REDISCLI_AUTH="$(cat /run/secrets/{secret})" redis-cli -h 127.0.0.1 -p {port} ping '
                       "| grep -q PONG")
                why = f"redis-cli PING on {port}, authenticated with the {secret} secret file (never in argv)"
            else:
                cmd = f"redis-cli -h 127.0.0.1 -p {port} ping | grep -q PONG"
                why = f"redis-cli PING on {port}"
            return Healthcheck(kind="redis-cli", test=["CMD-SHELL", cmd], start_period=role.start_period,
                               reason=why), []
        http_callers = [e for e in self.graph.edges if e.kind == "connects-to" and e.target == f"service:{s.name}"
                        and (e.detail or "").lower().split(":")[0] in ("proxy_pass", "http", "https")
                        or (e.kind == "connects-to" and e.target == f"service:{s.name}"
                            and (e.detail or "").startswith("upstream"))]
        if role.http or http_callers or port in (80, 8000, 8080, 8008, 3000):
            url = f"http://127.0.0.1:{port}/"
            why_http = ("an HTTP server (" + ("role " + (s.role or "") if role.http else
                                               "spoken to over HTTP by " + ", ".join(sorted(
                                                   {self.by_service.get(e.source.removeprefix('service:'), '?')
                                                    for e in http_callers})) if http_callers else
                                               f"port {port}") + "): any answer below 500 is healthy")
            if any(p.startswith("python3") for p in pkgs):
                code = ("import sys, urllib.request as r, urllib.error as e\n"
                        "try:\n    r.urlopen('" + url + "', timeout=4)\n"
                        "except e.HTTPError as x:\n    sys.exit(x.code >= 500)\n"
                        "except Exception:\n    sys.exit(1)")
                return Healthcheck(kind="http", test=["CMD", "python3", "-c", code], start_period=role.start_period,
                                   reason=f"HTTP GET {url} with the container's own python3; {why_http}"), []
            for tool in ("curl", "wget"):
                if tool in self.installed:
                    cmd = (f"curl -s -o /dev/null -w '%{{http_code}}' {url} | grep -q '^[234]'" if tool == "curl"
                           else f"wget -q -S -O /dev/null {url} 2>&1 | grep -q 'HTTP/[0-9.]* [234]'")
                    return Healthcheck(kind="http", test=["CMD-SHELL", cmd], start_period=role.start_period,
                                       reason=f"HTTP GET {url} with {tool} (installed in the VM, added to the "
                                              f"image); {why_http}"), [tool]
        if self.base.family == "alpine":
            test = ["CMD", "nc", "-z", "127.0.0.1", str(port)]
            tool = "busybox nc"
        else:
            test = ["CMD", "bash", "-c", f"</dev/tcp/127.0.0.1/{port}"]
            tool = "bash's /dev/tcp"
        return Healthcheck(kind="tcp", test=test, start_period=role.start_period,
                           reason=f"TCP connect to {port} with {tool} (no HTTP client in the image)"), []

    # -- whole plan

    def plan(self) -> Plan:
        self.select()
        secrets, secret_members = self.plan_secrets()
        volumes: list[Volume] = []
        containers: list[Container] = []
        weights = {n: self.role(s).weight for n, s in self.containers.items()}
        total_weight = sum(weights.values()) or 1
        for name, s in sorted(self.containers.items()):
            containers.append(self.plan_container(name, s, secrets, secret_members, volumes,
                                                  weights[name] / total_weight))
        self.wire_dependencies(containers)
        jobs = self.plan_jobs(containers)
        networks = [Network(name="backend", labels=self.stack_labels(),
                            reason="one private network for the services that talked over loopback in the VM; "
                                   "bridge under compose, overlay under swarm")]
        if any(p.publish for c in containers for p in c.ports):
            networks.append(Network(name="frontend", labels=self.stack_labels(),
                                    reason="entry points (published ports) sit here as well, keeping the backend "
                                           "network for internal traffic"))
        external = [ReportItem(subject=f"{x.from_service} -> {x.url_redacted}", reason=x.reason)
                    for x in self.graph.external]
        notes = [ReportItem(subject=f"{u.service}: {u.relation}={u.unit}",
                            reason="the unit is not a service in the inventory; the dependency is ignored")
                 for u in self.graph.unresolved_units]
        for cyc in self.graph.cycles:
            notes.append(ReportItem(subject=" -> ".join(c.removeprefix("service:") for c in cyc),
                                    reason="a dependency cycle: the depends_on edge closing it was left out"))
        for sec in self.inv.secrets:
            if sec.kind == "password-hash":
                notes.append(ReportItem(subject=sec.id, reason=f"a password hash ({sec.evidence.path}) moves with "
                                        "the data it lives in; not a Docker secret"))
        for pp in self.inv.persistent_paths:
            if pp.service not in self.by_service:
                notes.append(ReportItem(subject=pp.path, reason=f"persistent data ({pp.reason}) of no containerised "
                                        "service: not carried over; move it by hand if still needed"))
        plan = Plan(
            name=self.stack, source_vm=self.inv.name, org=self.org, label_prefix=self.prefix,
            os=OSDecision(family=self.inv.os.family, distro=self.inv.os.distro, version=self.inv.os.version,
                          codename=self.inv.os.codename, reason="from the inventory (os-release)"),
            stack_labels=self.stack_labels(), sizing_rule=SIZING_RULE, containers=containers,
            dropped=self.dropped, jobs=jobs, volumes=volumes, secrets=secrets, networks=networks,
            external=external, shared_files=self.shared_files(containers, jobs), notes=notes,
            fitness=self.vm_fitness(containers),
        )
        plan = plan.canonical()
        problems = plan.check()
        if problems:  # a planner bug, not a user error
            raise AssertionError("; ".join(problems))
        return plan

    def stack_labels(self) -> dict[str, str]:
        labels = {f"{self.prefix}.source-vm": self.inv.name,
                  f"{self.prefix}.ops-guide": "README.md", f"{self.prefix}.test-script": "test.sh",
                  f"{self.prefix}.environment": "staging", f"{self.prefix}.maturity": "experimental"}
        for k, v in self.opts.labels.items():
            labels[f"{self.prefix}.{k}"] = v
        return labels

    def plan_secrets(self) -> tuple[list[StackSecret], dict[str, str]]:
        """One Docker secret per distinct value (value_ref); returns them and inventory id -> name."""
        groups: dict[str, list] = {}
        for sec in self.inv.secrets:
            if sec.kind == "password-hash":
                continue
            groups.setdefault(sec.value_ref or sec.id, []).append(sec)
        conns = {c.secret_id: c for c in self.inv.connections if c.secret_id}
        out: list[StackSecret] = []
        members: dict[str, str] = {}
        used: set[str] = set()
        for _ref, group in sorted(groups.items()):
            group.sort(key=lambda x: x.id)
            server = next((g for g in group if g.service in self.by_service and self.containers[
                self.by_service[g.service]].role in ROLES and g.kind != "connection-string"), None)
            name = None
            if server is not None:
                name = f"{self.by_service[server.service]}_password"
            else:
                for g in group:
                    c = conns.get(g.id)
                    if c is not None:
                        target = resolve_connection(self.inv, c)
                        if isinstance(target, Port) and target.service in self.by_service:
                            tname = self.by_service[target.service]
                            name = f"{tname}_{c.username}_password" if c.username else f"{tname}_password"
                            break
                if name is None:
                    g = group[0]
                    owner = self.by_service.get(g.service or "", slug(g.service or "stack"))
                    name = f"{owner}_{(g.key or g.kind).lower()}"
            name = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
            base, i = name, 2
            while name in used:
                name, i = f"{base}_{i}", i + 1
            used.add(name)
            where = ", ".join(f"{g.id} ({g.evidence.path})" for g in group)
            out.append(StackSecret(name=name, file=f"secrets/{name}.txt", kind=group[0].kind,
                                   found_as=[g.id for g in group], labels=self.stack_labels(),
                                   reason=f"the same value was found as {where}; a Docker secret mounted at "
                                          f"/run/secrets/{name}, never an image layer or an environment value"))
            for g in group:
                members[g.id] = name
        return out, members

    def plan_container(self, name: str, s: Service, secrets: list[StackSecret], members: dict[str, str],
                       all_volumes: list[Volume], share: float) -> Container:
        role = self.role(s)
        user = self.user_of(s)
        blockers: list[Blocker] = []
        to_provide: list[ReportItem] = []
        left_out: list[ReportItem] = []

        # volumes
        vols: list[VolumeMount] = []
        # `mounted` only means something when a backend mounted the guest's filesystems (not for trees)
        unmounted = [m for m in self.inv.mounts if not m.mounted and m.mountpoint != "/"] \
            if self.inv.filesystems else []
        for pp in sorted(self.inv.persistent_paths, key=lambda p: p.path):
            if pp.service != s.name:
                continue
            base = "data" if pp.kind in ("database", "data", "uploads") or posixpath.basename(pp.path) == name \
                else slug(posixpath.basename(pp.path))
            vname = f"{name}-{base}"
            if any(v.name == vname for v in all_volumes):
                vname = f"{name}-{slug(posixpath.basename(pp.path))}"
            all_volumes.append(Volume(name=vname, service=name, path=pp.path, labels=self.stack_labels(),
                                      reason=f"{pp.reason} ({pp.evidence.path}) -> named volume {vname}"))
            vols.append(VolumeMount(volume=vname, target=pp.path, uid=pp.uid, gid=pp.gid, mode=pp.mode,
                                    reason=f"persistent {pp.kind}: {pp.reason}; the image creates the mount point "
                                           f"owned {pp.uid}:{pp.gid} so a new volume starts with that owner"))
            for m in unmounted:
                if pp.path == m.mountpoint or pp.path.startswith(m.mountpoint.rstrip("/") + "/"):
                    blockers.append(Blocker(kind="unmounted-data", severity="blocker", evidence=m.evidence.path,
                                            detail=f"{pp.path} is on {m.spec} ({m.mountpoint}), which was not "
                                                   "mounted when the VM was read: its data was not inspected"))

        # secrets and environment
        mine = {sid: n for sid, n in members.items()
                if any(x.id == sid and x.service == s.name for x in self.inv.secrets)}
        by_key = {x.key: members[x.id] for x in self.inv.secrets if x.id in mine and x.key}
        mounts = [SecretMount(secret=n, target=n,
                              reason="found as " + ", ".join(sorted(k for k, v in mine.items() if v == n)))
                  for n in sorted(set(mine.values()))]
        env: list[EnvVar] = []
        for key, value in sorted(s.environment.items()):
            new, why = self.rewrite_hosts(s, key, value)
            secret = by_key.get(key) if "****" in new else None
            if "****" in new and secret is None:
                to_provide.append(ReportItem(subject=f"environment {key}",
                                             reason="holds a redacted secret migrate could not tie to a Docker secret: "
                                                    "set it by hand"))
            if secret:
                why.append(f"the secret part comes from /run/secrets/{secret} at start-up (entrypoint)")
            env.append(EnvVar(name=key, value=new, secret=secret,
                              reason="; ".join(why) or "from the unit's environment"))
        for ef in s.environment_files:
            left_out.append(ReportItem(subject=ef, reason="EnvironmentFile read by systemd: its variables are in "
                                                          "`environment` (secrets filled in by the entrypoint)"))

        # files
        files: list[FileCopy] = []
        for c in sorted(self.inv.configs, key=lambda c: c.path):
            if c.service != s.name:
                continue
            if c.kind in UNIT_KINDS or c.kind == "env-file" or c.path in s.environment_files:
                if c.kind in UNIT_KINDS:
                    left_out.append(ReportItem(subject=c.path, reason="systemd unit: replaced by the container's "
                                                                      "command, user and restart policy"))
                continue
            if any(c.path.startswith(v.target.rstrip("/") + "/") for v in vols):
                left_out.append(ReportItem(subject=c.path, reason="lives in a data directory that becomes a named "
                                                                  "volume: it moves with the data"))
                continue
            if c.modified_from_package is False:
                left_out.append(ReportItem(subject=c.path, reason=f"identical to the default of {c.from_package}, "
                                                                  "which the image installs at the same version"))
                continue
            copy = self.file_copy(s, c, members, to_provide)
            if copy is not None:
                files.append(copy)
        files += self.app_trees(s, user)
        files += self.web_roots(s, to_provide)

        base = self.base.model_copy()
        static = self.static_binary(s)
        if static:
            base.runtime = "scratch"
            base.reason = (f"{static} is a static executable (no ELF interpreter): the runtime stage is FROM "
                           f"scratch and holds only what runs; {base.image} is the build stage's base")
            files.append(FileCopy(source=static, kind="file", uid=0, gid=0, mode=0o755,
                                  reason="the service's static executable, copied from the VM"))
            pkgs_items = Packages(reason="none: a static executable on FROM scratch")
        else:
            pkgs_items = self.packages_for(s, [])
        ports, port_blockers = self.ports_for(s)
        blockers += port_blockers
        secret_of = {x.key: members[x.id] for x in self.inv.secrets if x.id in mine and x.key}
        if static:
            health, extra = Healthcheck(kind="none", test=["NONE"], reason="FROM scratch has no shell or probe "
                                        "tools; Docker watches the process (add a health endpoint client to the "
                                        "binary to do better)"), []
        else:
            health, extra = self.healthcheck_for(s, ports, secret_of, [p.name for p in pkgs_items.items])
        if extra:
            pkgs_items = self.packages_for(s, extra)
        command, cmd_blockers = self.command_for(s, vols)
        blockers += cmd_blockers
        blockers += self.service_blockers(s, user)

        runtime = [RuntimeDir(path=p, uid=user.uid, gid=user.gid, mode=mode,
                              reason="systemd's RuntimeDirectory/tmpfiles.d made it in the VM; the image has to")
                   for p, mode in role.runtime_dirs]
        links: list[Link] = []
        if s.role == "nginx":
            links = [Link(path=f"/var/log/nginx/{n}.log", target=f"/dev/{t}",
                          reason="the package's default logs go to the container's output (`docker logs`)")
                     for n, t in (("access", "stdout"), ("error", "stderr"))]
        removals: list[Removal] = []
        if s.role == "nginx" and self.manager == "apt" and not any(
                c.path == "/etc/nginx/sites-enabled/default" for c in self.inv.configs):
            removals.append(Removal(path="/etc/nginx/sites-enabled/default",
                                    reason="the package enables its default site; the VM had it disabled and two "
                                           "default_server blocks on one port stop nginx"))

        deploy = self.deploy_for(s, share, stateful=bool(vols))
        networks = ["backend"] + (["frontend"] if any(p.publish for p in ports) else [])
        labels = {
            "org.opencontainers.image.title": name,
            "org.opencontainers.image.description": s.description or f"{s.name} from {self.inv.name}",
            "org.opencontainers.image.vendor": self.org,
            **self.stack_labels(),
            f"{self.prefix}.source-service": s.name,
        }
        score = max(0, 100 - 35 * sum(b.severity == "blocker" for b in blockers)
                    - 10 * sum(b.severity == "warning" for b in blockers))
        why = f"{s.manager} service {s.name}" + (f" ({s.role})" if s.role else "") + " runs in the VM"
        return Container(
            name=name, source_service=s.name, role=s.role, image=f"{self.image_prefix}-{name}:latest",
            base=base, packages=pkgs_items, user=user,
            extra_users=self.extra_users(user, files, vols),
            command=command, files=files, runtime_dirs=runtime, remove=removals, links=links, ports=ports,
            healthcheck=health,
            volumes=vols, secrets=mounts, environment=env, depends_on=[], networks=networks, deploy=deploy,
            labels=labels, to_provide=to_provide, left_out=left_out,
            fitness=Fitness(score=score, rule=FITNESS_RULE, blockers=blockers), reason=why,
        )

    def rewrite_hosts(self, s: Service, key: str, value: str) -> tuple[str, list[str]]:
        why: list[str] = []
        for c in self.inv.connections:
            if c.from_service != s.name or c.via != key:
                continue
            target = resolve_connection(self.inv, c)
            if isinstance(target, Port) and target.service in self.by_service:
                tname = self.by_service[target.service]
                new = re.sub(rf"(?<![\w.-]){re.escape(c.host)}(?![\w.-])", tname, value)
                if new != value:
                    why.append(f"{c.host} -> {tname}: the service is the {tname} container, found by name "
                               "through Docker's DNS")
                    value = new
        return value, why

    def connection_edits(self, s: Service) -> list[FileEdit]:
        edits: list[FileEdit] = []
        for c in sorted(self.inv.connections, key=lambda c: (c.host, c.port or 0)):
            if c.from_service != s.name or c.via in s.environment:
                continue
            target = resolve_connection(self.inv, c)
            if isinstance(target, Port) and target.service in self.by_service and target.port:
                tname = self.by_service[target.service]
                edit = FileEdit(pattern=rf"(?<![\w.-]){re.escape(c.host)}:{target.port}(?!\d)",
                                replacement=f"{tname}:{target.port}",
                                reason=f"{c.via or c.scheme} pointed at {c.host}:{target.port}; in the stack that is "
                                       f"the {tname} container")
                if edit not in edits:
                    edits.append(edit)
        return edits

    def file_copy(self, s: Service, c: ConfigFile, members: dict[str, str],
                  to_provide: list[ReportItem]) -> FileCopy | None:
        fills = [SecretFill(secret=members[x.id], key=x.key or x.kind,
                            reason=f"{x.key} holds a secret: the image gets a placeholder, the entrypoint writes "
                                   f"the value from /run/secrets/{members[x.id]} when the container starts")
                 for x in self.inv.secrets if x.evidence.path == c.path and x.id in members]
        if c.contains_secrets and not fills:
            to_provide.append(ReportItem(subject=c.path, reason="contains secrets migrate could not locate; it is "
                                                                "not copied: provide it (e.g. as a Docker config)"))
            return None
        edits = self.connection_edits(s)
        if s.role == "nginx":
            for directive, target in (("access_log", "/dev/stdout"), ("error_log", "/dev/stderr")):
                edits.append(FileEdit(pattern=rf"^(\s*{directive}\s+)/[^\s;]+", replacement=rf"\g<1>{target}",
                                      reason=f"{directive} to the container's {target.rsplit('/', 1)[1]}, so "
                                             "`docker logs` shows it"))
        if s.role == "postgresql" and c.kind == "pg_hba.conf":
            ver = next((int(m.group(1)) for m in [re.search(r"/(\d+)/", c.path)] if m), 15)
            method = "scram-sha-256" if ver >= 14 else "md5"
            edits.append(FileEdit(append=f"host all all samenet {method}",
                                  reason="clients now connect from other containers on the stack network; "
                                         "samenet admits only the networks the container is attached to"))
        if c.modified_from_package:
            why = f"differs from the default of {c.from_package} (package checksum)"
        elif c.from_package:
            why = f"belongs to {c.from_package}; whether it was changed is unknown, so it is copied"
        else:
            why = "site configuration that no package installs"
        return FileCopy(source=c.path, kind="config", mode=c.mode, uid=c.uid, gid=c.gid, edits=edits,
                        secret_fills=fills, reason=why)

    def app_trees(self, s: Service, user: UserSpec) -> list[FileCopy]:
        roots: list[tuple[str, str]] = []
        if s.working_directory:
            roots.append((s.working_directory, "WorkingDirectory"))
        if s.script:
            roots.append((posixpath.dirname(s.script), f"directory of {s.script}"))
        system = ("/", "/usr", "/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/lib", "/usr/local/bin", "/etc",
                  "/var/lib", "/root", "/tmp")
        out: list[FileCopy] = []
        seen: set[str] = set()
        data_paths = [pp.path for pp in self.inv.persistent_paths if pp.service == s.name]
        for root, why in roots:
            if root in system or root in seen or any(root == d or root.startswith(d + "/") for d in data_paths):
                continue
            if any(root.startswith(r + "/") for r in seen):
                continue
            seen.add(root)
            inside = root.rstrip("/") + "/"
            secret_files = sorted(c.path for c in self.inv.configs if c.contains_secrets and c.path.startswith(inside))
            secret_files += sorted(d for d in data_paths if d.startswith(inside))
            out.append(FileCopy(source=root, kind="tree", uid=0, gid=0, exclude=secret_files,
                                reason=f"the application tree ({why}); owned by root in the image so the service "
                                       f"(uid {user.uid}) can read but not change its code"))
        return out

    def web_roots(self, s: Service, to_provide: list[ReportItem]) -> list[FileCopy]:
        if s.role not in ("nginx", "apache", "httpd"):
            return []
        cfgs = [c for c in self.inv.configs if c.service == s.name and c.kind not in ("unit",)]
        if self.reader is None:
            if cfgs:
                to_provide.append(ReportItem(subject="web roots", reason="document roots named in the web server's "
                                             "config were not read (no guest reader): add them as files"))
            return []
        roots: set[str] = set()
        for c in cfgs:
            try:
                text = self.reader.read_bytes(c.path, max_bytes=1 << 20).decode("utf-8", "replace")
            except Exception:  # noqa: BLE001 - a missing file is the generator's problem to report
                continue
            for m in re.finditer(r"^\s*(?:root|alias|DocumentRoot)\s+\"?([^\s;\"]+)", text, re.M):
                path = m.group(1).rstrip("/")
                if path.startswith("/") and not path.startswith(("/usr/share/nginx", "/etc")):
                    roots.add(path)
        out = []
        volumes = [pp.path for pp in self.inv.persistent_paths if pp.service == s.name]
        for r in sorted(roots):
            if any(r.startswith(o + "/") for o in roots):
                continue
            if any(r == v or r.startswith(v + "/") for v in volumes):
                continue  # a named volume: its data moves with the volume
            if self.reader.is_dir(r):
                out.append(FileCopy(source=r, kind="tree", uid=0, gid=0,
                                    reason="document root named by root/alias/DocumentRoot in the web config"))
        return out

    def extra_users(self, user: UserSpec, files: list[FileCopy], vols: list[VolumeMount]) -> list[UserSpec]:
        ids: dict[int, int] = {}
        for f in files:
            if f.uid not in (None, 0, user.uid):
                ids[f.uid] = f.gid if f.gid is not None else f.uid  # type: ignore[index]
        for v in vols:
            if v.uid not in (None, 0, user.uid):
                ids[v.uid] = v.gid if v.gid is not None else v.uid  # type: ignore[index]
        by_uid = {u.uid: u for u in self.inv.users}
        out = []
        for uid, gid in sorted(ids.items()):
            u = by_uid.get(uid)
            out.append(UserSpec(name=u.name if u else f"u{uid}", uid=uid, gid=gid, home=u.home if u else None,
                                shell="/usr/sbin/nologin" if self.base.family != "alpine" else "/sbin/nologin",
                                reason="owns copied files or volume contents in the VM; created with the same ids"))
        return out

    def service_blockers(self, s: Service, user: UserSpec) -> list[Blocker]:
        out: list[Blocker] = []
        for arg in s.exec_start:
            if arg.startswith("/dev/") and arg not in ("/dev/null", "/dev/stdout", "/dev/stderr"):
                out.append(Blocker(kind="hardware", severity="blocker", evidence=s.unit_path,
                                   detail=f"uses the device {arg}: pass it with `devices:` on the right host"))
        if user.uid == 0 and s.role not in ("nginx", "apache", "httpd"):
            out.append(Blocker(kind="runs-as-root", severity="warning", evidence=s.unit_path,
                               detail="runs as root; consider a dedicated user"))
        return out

    def deploy_for(self, s: Service, share: float, *, stateful: bool) -> Deploy:
        sizing = self.inv.sizing
        limits, reservations = Resources(), Resources()
        if sizing and sizing.vcpus:
            cpus = max(0.05, round(sizing.vcpus * share, 2))
            limits.cpus, reservations.cpus = cpus, max(0.05, round(cpus / 2, 2))
        if sizing and sizing.memory_mib:
            mem = max(64, int(sizing.memory_mib * share) // 16 * 16)
            limits.memory_mib, reservations.memory_mib = mem, max(64, mem // 2 // 16 * 16)
        if limits.cpus or limits.memory_mib:
            res_why = (f"{round(share * 100)}% of the VM's {sizing.vcpus} vCPU / {sizing.memory_mib} MiB "  # type: ignore
                       f"(weight {self.role(s).weight}; see sizing_rule)")
        else:
            res_why = "no VM sizing in the inventory: no resource limits"
        if stateful:
            why = ("1 replica: stateful, its named volume can't be shared between replicas; stop-first updates so "
                   "two copies never open the same data; pinned to the manager node where its volume lives "
                   "(on a multi-node swarm use a node label instead); " + res_why)
            return Deploy(replicas=1, limits=limits, reservations=reservations, update_order="stop-first",
                          placement_constraints=["node.role == manager"], reason=why)
        why = ("1 replica as in the VM (stateless: it can be scaled); start-first updates for no downtime; spread "
               "over zones where nodes carry a zone label; " + res_why)
        return Deploy(replicas=1, limits=limits, reservations=reservations, update_order="start-first",
                      placement_preferences=["node.labels.zone"], reason=why)

    def wire_dependencies(self, containers: list[Container]) -> None:
        by_name = {c.name: c for c in containers}
        cyc_edges = {(cyc[i], cyc[(i + 1) % len(cyc)]) for cyc in self.graph.cycles for i in range(len(cyc))}
        for c in containers:
            reasons: dict[str, list[str]] = {}
            for e in self.graph.edges:
                if e.source != f"service:{c.source_service}" or e.kind not in ("depends-on", "connects-to"):
                    continue
                target = self.by_service.get(e.target.removeprefix("service:"))
                if target is None or target == c.name or (e.source, e.target) in cyc_edges:
                    continue
                reasons.setdefault(target, []).append(f"{e.kind} ({e.detail})" if e.detail else e.kind)
            for target, why in sorted(reasons.items()):
                healthy = by_name[target].healthcheck.kind != "none"
                c.depends_on.append(Dependency(
                    service=target, condition="service_healthy" if healthy else "service_started",
                    reason="; ".join(sorted(set(why))) + (" -> start after it is healthy" if healthy else "")))

    def plan_jobs(self, containers: list[Container]) -> list[Job]:
        jobs = sorted(self.inv.jobs, key=lambda j: (j.evidence.path, j.schedule, j.command))
        runs_with: dict[str, str] = {}
        for e in self.graph.edges:
            if e.kind == "runs-with" and e.source.startswith("job:"):
                runs_with.setdefault(e.source, e.target.removeprefix("service:"))
        out: list[Job] = []
        for i, j in enumerate(jobs):
            svc = runs_with.get(f"job:{i + 1}")
            cname = self.by_service.get(svc or "")
            schedule = j.schedule
            if schedule.startswith("OnCalendar="):
                cal = schedule.removeprefix("OnCalendar=")
                schedule_cron = {"daily": "@daily", "hourly": "@hourly", "weekly": "@weekly",
                                 "monthly": "@monthly"}.get(cal)
            else:
                schedule_cron = schedule
            job = Job(schedule=j.schedule, command=j.command, user=j.user, source=f"{j.source}:{j.evidence.path}",
                      run_in=cname, reason="")
            if cname:
                c = next(c for c in containers if c.name == cname)
                job.uid, job.gid = c.user.uid, c.user.gid
                user = ""
                if j.user and j.user != c.user.name:
                    u = next((u for u in self.inv.users if u.name == j.user), None)
                    if u is not None:
                        job.uid, job.gid = u.uid, u.gid
                        user = f" --user {u.uid}:{u.gid}"
                job.host_cron = (f"{schedule_cron or '<schedule>'} cd /path/to/{self.stack} && docker compose run --rm "
                                 f"--no-deps{user} {cname} sh -c {shlex.quote(j.command)}")
                interval = cron_interval(schedule_cron or "")
                if interval:
                    job.action, job.interval_seconds = "service", interval
                    job.name = f"{cname}-job-{i + 1}"
                    job.reason = (f"runs every {interval // 60} min: a companion service {job.name} in the {cname} "
                                  "image (same volumes, secrets and environment) runs it in a loop; its output goes "
                                  "to `docker logs`")
                else:
                    job.reason = (f"a calendar schedule: Compose and swarm have no scheduler and cron inside a "
                                  f"container hides failures: run it from the host's cron in the {cname} container, "
                                  "which has its files and volumes (line below)")
            else:
                job.reason = ("uses nothing a planned container provides: keep it on a host (or rewrite it against "
                              "the stack, e.g. `docker compose exec`)")
            out.append(job)
        return out

    def shared_files(self, containers: list[Container], jobs: list[Job]) -> list[ReportItem]:
        out = []
        for c in containers:
            for v in c.volumes:
                users = sorted({o.name for o in containers if o is not c and any(
                    v.target in " ".join(o.command.argv + [e.value for e in o.environment]) for _ in [0])})
                users += sorted({f"job `{j.command}`" for j in jobs if v.target in j.command})
                if users:
                    out.append(ReportItem(subject=f"{v.volume} ({v.target})",
                                          reason=f"also used by {', '.join(users)}: mount the volume there too or "
                                                 "go through the service"))
        return out

    def vm_fitness(self, containers: list[Container]) -> Fitness:
        blockers: list[Blocker] = []
        for p in self.inv.packages:
            if re.fullmatch(KMOD_PACKAGES, p.name):
                blockers.append(Blocker(kind="kernel-module", severity="blocker", evidence=p.evidence.path,
                                        detail=f"{p.name} builds or ships kernel modules: containers share the "
                                               "host's kernel"))
            elif re.fullmatch(GUI_PACKAGES, p.name):
                blockers.append(Blocker(kind="gui", severity="blocker", evidence=p.evidence.path,
                                        detail=f"{p.name}: a graphical desktop does not belong in a container"))
            elif re.fullmatch(HARDWARE_PACKAGES, p.name):
                blockers.append(Blocker(kind="hardware", severity="warning", evidence=p.evidence.path,
                                        detail=f"{p.name} talks to hardware"))
        for c in self.inv.configs:
            if c.kind == "modules-load" or c.path.startswith("/etc/modules-load.d/") or c.path == "/etc/modules":
                blockers.append(Blocker(kind="kernel-module", severity="blocker", evidence=c.path,
                                        detail=f"{c.path} loads kernel modules at boot: the host must load them"))
        scores = [c.fitness.score for c in containers]
        mean = round(sum(scores) / len(scores)) if scores else 0
        score = max(0, mean - 35 * sum(b.severity == "blocker" for b in blockers)
                    - 10 * sum(b.severity == "warning" for b in blockers))
        return Fitness(score=score, rule=VM_FITNESS_RULE, blockers=blockers)


def is_static_elf(data: bytes) -> bool:
    """An ELF executable without a PT_INTERP program header: it needs no dynamic loader or libraries."""
    import struct

    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return False
    end = "<" if data[5] == 1 else ">"
    if data[4] == 2:
        e_type, = struct.unpack_from(end + "H", data, 16)
        phoff, = struct.unpack_from(end + "Q", data, 32)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 54)
    else:
        e_type, = struct.unpack_from(end + "H", data, 16)
        phoff, = struct.unpack_from(end + "I", data, 28)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 42)
    if e_type not in (2, 3) or phnum == 0:  # EXEC or DYN (static-pie)
        return False
    types = []
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 4 > len(data):
            return False
        types.append(struct.unpack_from(end + "I", data, off)[0])
    PT_INTERP, PT_DYNAMIC = 3, 2  # noqa: N806
    return PT_INTERP not in types and (e_type == 2 or PT_DYNAMIC in types)


def cron_interval(schedule: str) -> int | None:
    """Seconds between runs for schedules that are a plain interval below a day, else None."""
    fields = schedule.split()
    if schedule == "@hourly" or fields == ["0", "*", "*", "*", "*"]:
        return 3600
    if len(fields) != 5 or fields[2:] != ["*", "*", "*"]:
        return None
    minute, hour = fields[0], fields[1]
    if hour == "*":
        if minute == "*":
            return 60
        m = re.fullmatch(r"\*/(\d+)", minute)
        return int(m.group(1)) * 60 if m and 60 % int(m.group(1)) == 0 else None
    m = re.fullmatch(r"\*/(\d+)", hour)
    if m and re.fullmatch(r"\d+", minute) and 24 % int(m.group(1)) == 0:
        return int(m.group(1)) * 3600
    return None


def make_plan(inv: Inventory, graph: ServiceGraph | None = None, options: PlanOptions | None = None,
              reader: GuestReader | None = None) -> Plan:
    """The plan for ``inv``. ``reader`` (a RootFS) lets the planner look into config files for things
    the inventory does not list (web roots); without it those are listed under ``to_provide``."""
    return Planner(inv, graph or build_graph(inv), options or PlanOptions(), reader).plan()


def build_options(*, org: str | None = None, labels: list[str] | None = None, labels_config: Path | None = None,
                  base_image: str | None = None, stack_name: str | None = None) -> PlanOptions:
    """PlanOptions from command-line style input: ``labels`` as KEY=VALUE, an optional YAML file
    (``org:``, ``labels:``) whose values the explicit options override."""
    parsed: dict[str, str] = {}
    for item in labels or []:
        key, sep, value = item.partition("=")
        if not sep or key not in LABEL_KEYS:
            raise UsageError(f"--label {item!r}: expected KEY=VALUE with KEY one of {', '.join(LABEL_KEYS)}")
        parsed[key] = value
    if labels_config is not None:
        return PlanOptions.from_file(labels_config, org=org, labels=parsed, base_image=base_image,
                                     stack_name=stack_name)
    return PlanOptions(org=org or "example", labels=parsed, base_image=base_image, stack_name=stack_name)
