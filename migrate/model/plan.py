"""The Plan document (plan.yaml): one entry per container, every decision with a reason.

A user may edit plan.yaml between `migrate plan` and `migrate generate`; ``Plan.load`` validates
both the shape (pydantic) and the cross references (``Plan.check``) and names the offending field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import BeforeValidator, Field, PlainSerializer, ValidationError

from migrate.errors import InvalidDocument
from migrate.model.base import Document, Model

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
PackageManager = Literal["apt", "dnf", "zypper", "apk"]


def _parse_mode(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value, 8)
        except ValueError:
            return value  # pydantic reports it
    return value


# File modes read and written as octal strings ("0640"), as people write them.
Mode = Annotated[int, BeforeValidator(_parse_mode), PlainSerializer(lambda v: f"{v:04o}", return_type=str),
                 Field(ge=0, le=0o7777)]


class Decision(Model):
    reason: str


class BaseImage(Decision):
    image: str  # default of ARG BASE_IMAGE (the build stage's base; the runtime's too unless scratch)
    family: str
    package_manager: PackageManager
    runtime: Literal["distro", "scratch"] = "distro"  # scratch: a static binary needs no distribution


class PinnedPackage(Model):
    name: str
    version: str
    spec: str  # what the package manager is given: nginx=1.22.1-9, nginx-1.20.1-14.el9, ...
    reason: str | None = None  # why it is installed: the files it owns that the service uses (migrate.closure)


class Packages(Decision):
    items: list[PinnedPackage] = Field(default_factory=list)


class FileEdit(Decision):
    """A change applied to a copied file: ``pattern`` (a Python regex, multiline) replaced by
    ``replacement`` (a re.sub template: \\1 is the first group), or ``append`` added at the end."""

    pattern: str | None = None
    replacement: str | None = None
    append: str | None = None


class SecretFill(Decision):
    """A secret the file holds in the VM: redacted in the image, filled in at start-up."""

    secret: str  # stack secret name
    key: str  # the setting that holds it (requirepass, DATABASE_URL ...)


class FileCopy(Decision):
    source: str  # guest path
    kind: Literal["config", "tree", "file"] = "config"
    target: str | None = None  # path in the image; default = source
    mode: Mode | None = None
    uid: int | None = None
    gid: int | None = None
    edits: list[FileEdit] = Field(default_factory=list)
    secret_fills: list[SecretFill] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)  # trees: guest paths left out (they hold secrets)

    @property
    def dest(self) -> str:
        return self.target or self.source


class UserSpec(Decision):
    name: str
    uid: int = Field(ge=0)
    gid: int = Field(ge=0)
    group: str | None = None
    groups: list[str] = Field(default_factory=list)  # supplementary groups in the VM (ssl-cert ...)
    home: str | None = None
    shell: str | None = None


class Command(Decision):
    argv: list[str]
    workdir: str | None = None
    stop_signal: str | None = None


class PortSpec(Decision):
    port: int = Field(ge=1, le=65535)
    proto: Literal["tcp", "udp"] = "tcp"
    publish: bool = False  # published by compose.yaml itself (entry points); compose.debug.yaml publishes all


class Healthcheck(Decision):
    # command: a server kind's own client (migrate/kinds); the others name the probe they run
    kind: Literal["pg_isready", "redis-cli", "http", "tcp", "mysqladmin", "command", "none"]
    test: list[str]  # Docker's form: ["CMD", ...] or ["CMD-SHELL", "..."]
    # Docker runs the first check only after one interval, and depends_on: service_healthy chains wait for
    # it at every hop: 30s made the flagship take 93 s to healthy, 10s about a third of that. (Docker 25's
    # start_interval would do better, but Debian 12's engine is 20.10.)
    interval: str = "10s"
    timeout: str = "5s"
    retries: int = 3
    start_period: str = "30s"


class VolumeMount(Decision):
    volume: str
    target: str
    uid: int | None = None
    gid: int | None = None
    mode: Mode | None = None


class SecretMount(Decision):
    secret: str
    target: str  # /run/secrets/<target>


class EnvVar(Decision):
    name: str
    value: str  # "****" marks where ``secret`` is filled in at start-up
    secret: str | None = None


class Dependency(Decision):
    service: str
    condition: Literal["service_started", "service_healthy", "service_completed_successfully"] = \
        "service_healthy"


class Resources(Model):
    cpus: float | None = None
    memory_mib: int | None = None


class Deploy(Decision):
    replicas: int = Field(default=1, ge=0)
    limits: Resources = Field(default_factory=Resources)
    reservations: Resources = Field(default_factory=Resources)
    restart_condition: Literal["none", "on-failure", "any"] = "any"
    restart_delay: str = "5s"
    restart_window: str = "120s"
    update_order: Literal["stop-first", "start-first"] = "stop-first"
    update_parallelism: int = 1
    update_delay: str = "10s"
    update_failure_action: Literal["continue", "rollback", "pause"] = "rollback"
    placement_constraints: list[str] = Field(default_factory=list)
    placement_preferences: list[str] = Field(default_factory=list)  # spread descriptors


class ReportItem(Decision):
    subject: str


class Blocker(Model):
    kind: str  # kernel-module, gui, hardware, specific-bind, unmounted-data, runs-as-root, ...
    severity: Literal["blocker", "warning"]
    detail: str
    evidence: str | None = None  # guest path


class Fitness(Model):
    score: int = Field(ge=0, le=100)
    rule: str
    blockers: list[Blocker] = Field(default_factory=list)


class RuntimeDir(Decision):
    """A directory the service needs at run time that systemd (RuntimeDirectory=, tmpfiles.d) made."""

    path: str
    uid: int = 0
    gid: int = 0
    mode: Mode = 0o755


class Removal(Decision):
    """A path the packages install that the VM did not have and that would change behaviour."""

    path: str


class Link(Decision):
    """A symlink made in the image, e.g. a log file pointed at the container's stdout."""

    path: str
    target: str


class Forwarder(Decision):
    """A TCP forwarder the entrypoint starts in the container (socat from the distribution): the client's
    code reaches 127.0.0.1:``listen`` as in the VM, the forwarder carries it to ``service``:``port``."""

    listen: int = Field(ge=1, le=65535)
    service: str
    port: int = Field(ge=1, le=65535)


class Switch(Decision):
    """A hardening setting, on or off, with why."""

    enabled: bool = False


class Capability(Decision):
    """A Linux capability given back after ``cap_drop: [ALL]`` (name without CAP_)."""

    name: str = Field(pattern=r"^[A-Z_]+$")


class Tmpfs(Decision):
    """A path that becomes a tmpfs when the root filesystem is read-only."""

    path: str
    mode: Mode = 0o1777


def _off() -> Switch:
    return Switch(reason="not decided in this plan: Docker's default")


class Hardening(Model):
    """Runtime restrictions that cannot break the service (see migrate/planning/hardening.py): each is
    on only where the guest gives evidence it is safe, and says why either way."""

    no_new_privileges: Switch = Field(default_factory=_off)
    cap_drop_all: Switch = Field(default_factory=_off)
    cap_add: list[Capability] = Field(default_factory=list)  # only with cap_drop_all
    read_only: Switch = Field(default_factory=_off)
    tmpfs: list[Tmpfs] = Field(default_factory=list)  # only with read_only


class Container(Decision):
    name: str
    source_service: str
    role: str | None = None
    image: str  # tag built by compose and used by swarm
    base: BaseImage
    packages: Packages
    user: UserSpec
    extra_users: list[UserSpec] = Field(default_factory=list)  # owners of copied files/volumes
    command: Command
    files: list[FileCopy] = Field(default_factory=list)
    runtime_dirs: list[RuntimeDir] = Field(default_factory=list)
    remove: list[Removal] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    ports: list[PortSpec] = Field(default_factory=list)
    healthcheck: Healthcheck
    volumes: list[VolumeMount] = Field(default_factory=list)
    secrets: list[SecretMount] = Field(default_factory=list)
    environment: list[EnvVar] = Field(default_factory=list)
    depends_on: list[Dependency] = Field(default_factory=list)
    networks: list[str] = Field(default_factory=list)
    deploy: Deploy
    labels: dict[str, str] = Field(default_factory=dict)
    # clients that reach a sibling as localhost in code the plan cannot rewrite (see migrate/planning/localhost.py)
    forwarders: list[Forwarder] = Field(default_factory=list)
    hardening: Hardening = Field(default_factory=Hardening)
    to_provide: list[ReportItem] = Field(default_factory=list)  # needs a human before it runs as in the VM
    left_out: list[ReportItem] = Field(default_factory=list)  # deliberately not carried over
    fitness: Fitness


class Dropped(Decision):
    service: str


class Job(Decision):
    schedule: str
    command: str
    user: str | None = None
    source: str
    action: Literal["report", "service"] = "report"
    run_in: str | None = None  # container whose image has what the job needs
    host_cron: str | None = None  # suggested host crontab line
    name: str | None = None  # compose service running it (action: service)
    interval_seconds: int | None = Field(default=None, ge=60)
    uid: int | None = Field(default=None, ge=0)
    gid: int | None = Field(default=None, ge=0)


class Volume(Decision):
    name: str
    service: str
    path: str
    labels: dict[str, str] = Field(default_factory=dict)


class StackSecret(Decision):
    name: str
    file: str  # relative to the stack dir
    kind: str
    found_as: list[str] = Field(default_factory=list)  # inventory secret ids sharing this value
    labels: dict[str, str] = Field(default_factory=dict)


class Network(Decision):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)


class OSDecision(Decision):
    family: str
    distro: str
    version: str | None = None
    codename: str | None = None


class Plan(Document):
    KIND = "plan"
    SCHEMA_VERSION = 1

    name: str  # stack name
    source_vm: str
    org: str
    label_prefix: str  # com.<org>.docker
    os: OSDecision
    stack_labels: dict[str, str] = Field(default_factory=dict)
    sizing_rule: str
    containers: list[Container] = Field(default_factory=list)
    dropped: list[Dropped] = Field(default_factory=list)
    jobs: list[Job] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)
    secrets: list[StackSecret] = Field(default_factory=list)
    networks: list[Network] = Field(default_factory=list)
    external: list[ReportItem] = Field(default_factory=list)
    shared_files: list[ReportItem] = Field(default_factory=list)
    notes: list[ReportItem] = Field(default_factory=list)
    fitness: Fitness

    def canonical(self) -> Plan:
        data = self.model_copy(deep=True)
        data.containers.sort(key=lambda c: c.name)
        for c in data.containers:
            c.files.sort(key=lambda f: f.source)
            c.ports.sort(key=lambda p: (p.port, p.proto))
            c.volumes.sort(key=lambda v: v.target)
            c.secrets.sort(key=lambda s: s.secret)
            c.environment.sort(key=lambda e: e.name)
            c.depends_on.sort(key=lambda d: d.service)
            c.networks.sort()
            c.extra_users.sort(key=lambda u: u.uid)
            c.runtime_dirs.sort(key=lambda v: v.path)
            c.links.sort(key=lambda v: v.path)
            c.hardening.cap_add.sort(key=lambda v: v.name)
            c.hardening.tmpfs.sort(key=lambda v: v.path)
        data.dropped.sort(key=lambda d: d.service)
        data.jobs.sort(key=lambda j: (j.source, j.schedule, j.command))
        data.volumes.sort(key=lambda v: v.name)
        data.secrets.sort(key=lambda s: s.name)
        data.networks.sort(key=lambda n: n.name)
        return data

    def container(self, name: str) -> Container | None:
        return next((c for c in self.containers if c.name == name), None)

    def to_yaml(self) -> str:
        header = (
            "# migrate plan: one entry per container; every decision says why in `reason`.\n"
            "# Edit it, then run `migrate generate plan.yaml -o OUTDIR`; the edits are honoured.\n"
        )
        body = yaml.dump(self.canonical().model_dump(mode="json"), Dumper=_Dumper, sort_keys=False,
                         allow_unicode=True, width=4096, default_flow_style=False)
        return header + body

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "plan.yaml") -> Self:
        try:
            data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise InvalidDocument(f"not valid YAML: {exc}", path=source) from exc
        if not isinstance(data, dict):
            raise InvalidDocument("expected a mapping at the top level", path=source)
        if data.get("kind") not in (None, cls.KIND):
            raise InvalidDocument(f"is a {data.get('kind')!r} document, expected {cls.KIND!r}", path=source)
        version = data.get("schema_version")
        if isinstance(version, int) and version > cls.SCHEMA_VERSION:
            raise InvalidDocument(f"schema_version {version} is newer than this migrate understands", path=source)
        try:
            plan = cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidDocument(f"{field_path(first['loc'], data)}: {first['msg']}", path=source) from exc
        problems = plan.check()
        if problems:
            raise InvalidDocument("; ".join(problems), path=source)
        return plan

    @classmethod
    def load(cls, path: str | Path) -> Self:
        p = Path(path)
        text = cls.read_source(p)
        if p.suffix == ".json":
            plan = cls.from_json(text, source=str(p))
            problems = plan.check()
            if problems:
                raise InvalidDocument("; ".join(problems), path=str(p))
            return plan
        return cls.from_yaml(text, source=str(p))

    def check(self) -> list[str]:
        """Cross-reference problems, each naming the field (containers[shop].depends_on[0].service)."""
        problems: list[str] = []
        names = [c.name for c in self.containers]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"containers: two containers are named {dup!r}")
        volumes = {v.name for v in self.volumes}
        secrets = {s.name for s in self.secrets}
        networks = {n.name for n in self.networks}
        for v in self.volumes:
            if not NAME_RE.match(v.name):
                problems.append(f"volumes[{v.name}].name: use lower-case letters, digits, '-' and '_'")
        for s in self.secrets:
            if not NAME_RE.match(s.name):
                problems.append(f"secrets[{s.name}].name: use lower-case letters, digits, '-' and '_'")
            if s.file.startswith("/") or ".." in Path(s.file).parts:
                problems.append(f"secrets[{s.name}].file: must be a relative path inside the stack directory")
        for c in self.containers:
            at = f"containers[{c.name}]"
            if not NAME_RE.match(c.name):
                problems.append(f"{at}.name: use lower-case letters, digits, '-' and '_'")
            if not c.base.image.strip():
                problems.append(f"{at}.base.image: must not be empty")
            if not c.command.argv:
                problems.append(f"{at}.command.argv: must not be empty")
            if c.healthcheck.kind != "none" and not c.healthcheck.test:
                problems.append(f"{at}.healthcheck.test: must not be empty")
            for i, d in enumerate(c.depends_on):
                if d.service not in names:
                    problems.append(f"{at}.depends_on[{i}].service: no container named {d.service!r}")
                elif d.service == c.name:
                    problems.append(f"{at}.depends_on[{i}].service: a container cannot depend on itself")
            for i, v in enumerate(c.volumes):
                if v.volume not in volumes:
                    problems.append(f"{at}.volumes[{i}].volume: {v.volume!r} is not in the top-level volumes")
                if not v.target.startswith("/"):
                    problems.append(f"{at}.volumes[{i}].target: must be an absolute path")
            for i, s in enumerate(c.secrets):
                if s.secret not in secrets:
                    problems.append(f"{at}.secrets[{i}].secret: {s.secret!r} is not in the top-level secrets")
            for i, e in enumerate(c.environment):
                if e.secret and e.secret not in {s.secret for s in c.secrets}:
                    problems.append(f"{at}.environment[{i}].secret: {e.secret!r} is not mounted in this container")
                if e.secret and e.value.count("****") != 1:
                    problems.append(f"{at}.environment[{i}].value: must contain **** exactly once "
                                    "(where the secret goes)")
            for i, f in enumerate(c.files):
                if not f.source.startswith("/") or not f.dest.startswith("/"):
                    problems.append(f"{at}.files[{i}].source: must be an absolute guest path")
                for j, fill in enumerate(f.secret_fills):
                    if fill.secret not in {s.secret for s in c.secrets}:
                        problems.append(f"{at}.files[{i}].secret_fills[{j}].secret: {fill.secret!r} is not "
                                        "mounted in this container")
                for j, edit in enumerate(f.edits):
                    if edit.pattern is not None:
                        try:
                            re.compile(edit.pattern)
                        except re.error as exc:
                            problems.append(f"{at}.files[{i}].edits[{j}].pattern: not a valid regex: {exc}")
            for i, n in enumerate(c.networks):
                if n not in networks:
                    problems.append(f"{at}.networks[{i}]: {n!r} is not in the top-level networks")
            ports = [(p.port, p.proto) for p in c.ports]
            if len(set(ports)) != len(ports):
                problems.append(f"{at}.ports: a port is listed twice")
        for i, j in enumerate(self.jobs):
            at = f"jobs[{i}]"
            if j.action == "service":
                if j.run_in not in names:
                    problems.append(f"{at}.run_in: a job service runs in a container's image; {j.run_in!r} is not one")
                if not j.name or not NAME_RE.match(j.name) or j.name in names:
                    problems.append(f"{at}.name: needs a service name that is not a container's")
                if j.interval_seconds is None:
                    problems.append(f"{at}.interval_seconds: a job service needs its interval")
        job_names = [j.name for j in self.jobs if j.action == "service"]
        if len(set(job_names)) != len(job_names):
            problems.append("jobs: two job services have the same name")
        return problems


def field_path(loc: tuple[Any, ...], data: Any) -> str:
    """pydantic's location with list indexes shown as the item's name where it has one."""
    out = ""
    cur = data
    for part in loc:
        if isinstance(part, int):
            name = cur[part].get("name") if isinstance(cur, list) and part < len(cur) \
                and isinstance(cur[part], dict) else None
            out += f"[{name}]" if isinstance(name, str) else f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            cur = None
    return out


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings so plan diffs stay readable."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice (PyYAML would silently keep the last one)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
