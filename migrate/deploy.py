"""Running a generated stack: ``migrate up`` (Compose or swarm) and ``migrate down``.

The generated OUTDIR is the contract: ``compose.yaml`` (Compose Specification) with per-service
``build:`` contexts and ``image:`` tags, named volumes and file-based secrets
(``./secrets/<name>.txt``). ``up`` never prompts: secret values come from a secrets file
(``NAME=value`` lines, ``NAME=base64:...`` for values with line breaks, mode 0600 or stricter) or
``MIGRATE_SECRET_<NAME>`` variables and are written to the files compose.yaml names (directory
0700, so only root on the host can reach them; the files themselves are readable inside the
containers, whose services run as non-root uids). Compose bind-mounts them; ``docker stack
deploy`` turns them into swarm secrets.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from migrate.docker_engine import DockerError, Engine
from migrate.errors import (  # noqa: F401 - raised here, defined with the others
    InsecureSecretsFile,
    InvalidDocument,
    MigrateError,
    SecretsMissing,
    StackNotHealthy,
    UsageError,
)

Progress = Callable[[str], None]
COMPOSE_FILE = "compose.yaml"
SECRET_ENV_PREFIX = "MIGRATE_SECRET_"
MAX_SECRETS_FILE = 16 * 1024 * 1024


def _noop(_m: str) -> None:
    pass


# --------------------------------------------------------------------------------------------------
# the generated stack, as compose.yaml describes it


@dataclass
class VolumeUse:
    source: str
    target: str
    type: str = "volume"
    read_only: bool = False


@dataclass
class StackService:
    name: str
    image: str | None
    build_context: Path | None
    dockerfile: str
    build_args: dict[str, str]
    build_labels: dict[str, str]
    build_target: str | None
    labels: dict[str, str]
    user: str | None
    ports: list[dict[str, Any]]  # long syntax, normalised: target, published, protocol
    expose: list[int]
    volumes: list[VolumeUse]
    secrets: list[str]
    healthcheck: dict[str, Any] | None
    environment: dict[str, str]
    networks: list[str]
    depends_on: list[str]
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stack:
    dir: Path
    compose_file: Path
    name: str
    services: dict[str, StackService]
    volumes: dict[str, dict[str, Any]]
    secrets: dict[str, dict[str, Any]]
    networks: dict[str, dict[str, Any]]
    raw: dict[str, Any]

    def volume_for_path(self, guest_path: str) -> str | None:
        """The named volume some service mounts at ``guest_path`` (the plan mounts each persistent
        path of the VM at the same path in the container)."""
        norm = guest_path.rstrip("/") or "/"
        for svc in self.services.values():
            for v in svc.volumes:
                if v.type == "volume" and (v.target.rstrip("/") or "/") == norm and v.source in self.volumes:
                    return v.source
        return None

    def volume_labels(self, name: str) -> dict[str, str]:
        spec = self.volumes.get(name) or {}
        return _labels(spec.get("labels"))

    def secret_file(self, name: str) -> Path | None:
        spec = self.secrets.get(name) or {}
        f = spec.get("file")
        return (self.dir / f).resolve() if f else None

    def image_tags(self) -> dict[str, str]:
        return {n: s.image for n, s in self.services.items() if s.image}


def _labels(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    if isinstance(value, list):
        out = {}
        for item in value:
            k, _, v = str(item).partition("=")
            out[k] = v
        return out
    return {}


def _env(value: Any) -> dict[str, str]:
    return _labels(value)


def _parse_port(p: Any) -> dict[str, Any]:
    if isinstance(p, dict):
        return {"target": int(p["target"]), "published": int(p["published"]) if p.get("published") else None,
                "protocol": p.get("protocol", "tcp"), "host_ip": p.get("host_ip")}
    text = str(p)
    proto = "tcp"
    if "/" in text:
        text, proto = text.rsplit("/", 1)
    parts = text.split(":")
    target = int(parts[-1])
    published = int(parts[-2]) if len(parts) >= 2 and parts[-2] else None
    host_ip = parts[0] if len(parts) == 3 else None
    return {"target": target, "published": published, "protocol": proto, "host_ip": host_ip}


def _parse_volume(v: Any) -> VolumeUse:
    if isinstance(v, dict):
        return VolumeUse(source=str(v.get("source", "")), target=str(v["target"]), type=v.get("type", "volume"),
                         read_only=bool(v.get("read_only")))
    parts = str(v).split(":")
    if len(parts) == 1:
        return VolumeUse(source="", target=parts[0], type="volume")
    src, target = parts[0], parts[1]
    kind = "bind" if src.startswith((".", "/", "~")) else "volume"
    return VolumeUse(source=src, target=target, type=kind, read_only=len(parts) > 2 and "ro" in parts[2])


def _plan_name(outdir: Path) -> str | None:
    """The stack name plan.yaml chose (the generated README deploys under it)."""
    try:
        plan = yaml.safe_load((outdir / "plan.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    return str(plan["name"]) if isinstance(plan, dict) and plan.get("name") else None


def load_stack(outdir: Path, compose_file: str = COMPOSE_FILE) -> Stack:
    outdir = Path(outdir).resolve()  # commands run with cwd=outdir: every path in the Stack must be absolute
    path = outdir / compose_file
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InvalidDocument(f"cannot read: {exc.strerror} (run `migrate generate` first)", path=str(path)) from exc
    except yaml.YAMLError as exc:
        raise InvalidDocument(f"not valid YAML: {exc}", path=str(path)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise InvalidDocument("no services in the compose file", path=str(path))
    name = data.get("name") or _plan_name(outdir) or re.sub(r"[^a-z0-9_-]+", "-",
                                                             outdir.resolve().name.lower()).strip("-")
    services: dict[str, StackService] = {}
    for sname, s in data["services"].items():
        s = s or {}
        build = s.get("build")
        ctx: Path | None = None
        dockerfile, args, blabels, target = "Dockerfile", {}, {}, None
        if isinstance(build, str):
            ctx = (outdir / build).resolve()
        elif isinstance(build, dict):
            ctx = (outdir / build.get("context", ".")).resolve()
            dockerfile = build.get("dockerfile", "Dockerfile")
            args = _env(build.get("args"))
            blabels = _labels(build.get("labels"))
            target = build.get("target")
        deps = s.get("depends_on") or []
        services[sname] = StackService(
            name=sname, image=s.get("image"), build_context=ctx, dockerfile=dockerfile, build_args=args,
            build_labels=blabels, build_target=target, labels=_labels(s.get("labels")),
            user=str(s["user"]) if s.get("user") is not None else None,
            ports=[_parse_port(p) for p in s.get("ports") or []],
            expose=[int(str(e).split("/")[0]) for e in s.get("expose") or []],
            volumes=[_parse_volume(v) for v in s.get("volumes") or []],
            secrets=[x if isinstance(x, str) else x["source"] for x in s.get("secrets") or []],
            healthcheck=s.get("healthcheck"), environment=_env(s.get("environment")),
            networks=list(s.get("networks") or []) if not isinstance(s.get("networks"), dict)
            else list(s["networks"]),
            depends_on=list(deps) if isinstance(deps, list) else list(deps),
            raw=s,
        )
    return Stack(dir=outdir.resolve(), compose_file=path, name=str(name), services=services,
                 volumes={k: v or {} for k, v in (data.get("volumes") or {}).items()},
                 secrets={k: v or {} for k, v in (data.get("secrets") or {}).items()},
                 networks={k: v or {} for k, v in (data.get("networks") or {}).items()}, raw=data)


# --------------------------------------------------------------------------------------------------
# secrets


SECRETS_FILE_B64 = "base64:"


def format_secrets_file(values: dict[str, str]) -> str:
    """The secrets-file text for ``values`` (name -> clear value), sorted by name.

    One ``NAME=value`` line per secret, so a file written by hand stays that simple. A value that a
    line cannot carry unambiguously (several lines such as a PEM private key, a carriage return,
    surrounding blanks, or one that itself starts with ``base64:``) is written as
    ``NAME=base64:<standard base64 of its UTF-8 bytes>``; :func:`read_secrets_file` decodes it."""
    lines = []
    for name in sorted(values):
        value = values[name]
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise UsageError(f"secret name {name!r} cannot be written to a secrets file")
        if ("\n" in value or "\r" in value or value != value.strip() or value.startswith(SECRETS_FILE_B64)):
            value = SECRETS_FILE_B64 + base64.b64encode(value.encode("utf-8", "surrogateescape")).decode("ascii")
        lines.append(f"{name}={value}\n")
    return "".join(lines)


def read_secrets_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines (``#`` comments, blank lines allowed); ``NAME=base64:...`` carries a value
    with line breaks (see :func:`format_secrets_file`). Refused unless only its owner can read it: a
    secrets file readable by others has already leaked. Errors name the line, never its content."""
    try:
        st = path.stat()
    except OSError as exc:
        raise UsageError(f"cannot read secrets file: {exc.strerror}", path=str(path)) from exc
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise InsecureSecretsFile(f"mode {stat.S_IMODE(st.st_mode):04o} lets others read it; chmod 600 it first",
                                  path=str(path))
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SECRETS_FILE:
        raise UsageError(f"not a regular file of at most {MAX_SECRETS_FILE} bytes", path=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read secrets file: {getattr(exc, 'strerror', None) or 'not UTF-8 text'}",
                         path=str(path)) from exc
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"line {n}: expected NAME=value (a value with line breaks is written "
                             "NAME=base64:...)", path=str(path))
        if value.startswith(SECRETS_FILE_B64):
            try:
                value = base64.b64decode(value[len(SECRETS_FILE_B64):].strip(), validate=True).decode(
                    "utf-8", "surrogateescape")
            except (ValueError, binascii.Error) as exc:
                raise UsageError(f"line {n}: {key.strip()}: the value after base64: is not valid base64",
                                 path=str(path)) from exc
        out[key.strip()] = value
    return out


def env_secret_name(name: str) -> str:
    return SECRET_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper())


def collect_secrets(stack: Stack, secrets_file: Path | None = None,
                    environ: dict[str, str] | None = None) -> dict[str, str]:
    """The value of every secret of the stack: secrets file, then MIGRATE_SECRET_<NAME>, then a
    non-empty existing secret file. Missing ones are all named in one error, never prompted for."""
    env = os.environ if environ is None else environ
    given = read_secrets_file(secrets_file) if secrets_file else {}
    values: dict[str, str] = {}
    missing = []
    for name in stack.secrets:
        if name in given:
            values[name] = given[name]
        elif env_secret_name(name) in env:
            values[name] = env[env_secret_name(name)]
        else:
            f = stack.secret_file(name)
            if f is not None and f.is_file() and f.read_text().strip():
                values[name] = f.read_text().rstrip("\n")
            else:
                missing.append(name)
    if missing:
        raise SecretsMissing("no value for secret(s) " + ", ".join(missing) + ": give them in --secrets-file "
                             "(NAME=value lines, mode 0600) or as " +
                             ", ".join(env_secret_name(m) for m in missing))
    return values


def write_secret_files(stack: Stack, values: dict[str, str]) -> list[Path]:
    written = []
    for name, value in values.items():
        f = stack.secret_file(name)
        if f is None:
            continue  # external secret: provided by the platform
        if not f.is_relative_to(stack.dir):
            raise InvalidDocument(f"secret {name}: file {f} is outside the stack directory",
                                  path=str(stack.compose_file))
        f.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(f.parent, 0o700)
        tmp = f.with_name(f".{f.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value if value.endswith("\n") else value + "\n")
        # readable inside the containers (their services run as the VM's non-root uids); the 0700
        # directory keeps everybody but root on the host out.
        os.chmod(tmp, 0o444)
        os.replace(tmp, f)
        written.append(f)
    return written


# --------------------------------------------------------------------------------------------------
# up / down


@dataclass
class ServiceState:
    service: str
    state: str  # running, healthy, starting, unhealthy, exited, missing
    containers: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.state in ("healthy", "running")


@dataclass
class UpResult:
    project: str
    mode: str
    seconds_deploy: float
    seconds_to_healthy: float
    services: list[ServiceState]
    output: str


OVERRIDE_FILE = "compose.override.yaml"


def _compose_args(stack: Stack, project: str, overlays: list[str]) -> list[str]:
    """``-f compose.yaml`` plus compose.override.yaml when the stack has one (Compose only loads it
    by itself when no ``-f`` is given; it carries the health-conditioned start order) and overlays."""
    args = ["-p", project, "-f", str(stack.compose_file)]
    if (stack.dir / OVERRIDE_FILE).is_file() and OVERRIDE_FILE not in overlays:
        args += ["-f", str(stack.dir / OVERRIDE_FILE)]
    for o in overlays:
        args += ["-f", str(stack.dir / o)]
    return args


def compose_states(engine: Engine, stack: Stack, project: str) -> list[ServiceState]:
    out = []
    for name, svc in stack.services.items():
        cs = engine.containers([f"com.docker.compose.project={project}", f"com.docker.compose.service={name}"])
        if not cs:
            out.append(ServiceState(name, "missing"))
            continue
        states = []
        for c in cs:
            info = engine.inspect_container(c["Id"])
            st = info["State"]
            health = (st.get("Health") or {}).get("Status")
            if st.get("Status") != "running":
                states.append(("exited", f"exit {st.get('ExitCode')}"))
            elif health:
                states.append((health, ""))
            else:
                states.append(("running" if not svc.healthcheck else "starting", ""))
        worst = next((s for s in ("exited", "unhealthy", "starting", "running", "healthy")
                      if any(x[0] == s for x in states)), states[0][0])
        out.append(ServiceState(name, worst, [c["Id"][:12] for c in cs], "; ".join(d for _, d in states if d)))
    return out


def swarm_states(engine: Engine, stack: Stack, project: str) -> list[ServiceState]:
    out = []
    for name in stack.services:
        full = f"{project}_{name}"
        tasks = [t for t in engine.tasks(full) if t.get("DesiredState") == "running"]
        if not tasks:
            out.append(ServiceState(name, "missing"))
            continue
        states, ids, detail = [], [], []
        for t in tasks:
            status = t.get("Status") or {}
            cid = (status.get("ContainerStatus") or {}).get("ContainerID")
            if status.get("State") != "running" or not cid:
                states.append("starting")
                if status.get("Err"):
                    detail.append(status["Err"])
                continue
            ids.append(cid[:12])
            try:
                health = ((engine.inspect_container(cid)["State"].get("Health")) or {}).get("Status")
            except Exception:  # noqa: BLE001 - the task moved on; next poll sees the new one
                health = "starting"
            states.append(health or "running")
        worst = next((s for s in ("unhealthy", "starting", "running", "healthy") if s in states), "starting")
        out.append(ServiceState(name, worst, ids, "; ".join(detail)))
    return out


def wait_healthy(engine: Engine, stack: Stack, project: str, mode: str, *, timeout: float,
                 progress: Progress = _noop, poll: float = 2.0) -> tuple[list[ServiceState], float]:
    t0 = time.monotonic()
    states: list[ServiceState] = []
    while True:
        states = (swarm_states if mode == "swarm" else compose_states)(engine, stack, project)
        ready = [s for s in states if s.ready]
        progress(f"{len(ready)}/{len(states)} healthy: " + ", ".join(f"{s.service}={s.state}" for s in states))
        if len(ready) == len(states):
            return states, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            bad = ", ".join(f"{s.service} ({s.state}{': ' + s.detail if s.detail else ''})"
                            for s in states if not s.ready)
            raise StackNotHealthy(f"not healthy after {timeout:.0f}s: {bad}; see `docker logs` of those "
                                  "containers", path=str(stack.dir))
        time.sleep(poll)


SWARM_FILE = ".compose.swarm.yaml"


def ipvs_available() -> bool:
    """Swarm's service virtual IPs and its ingress routing mesh are built on the kernel's IPVS.
    Minimal VM kernels (this project's CI machines among them) have none: there a VIP accepts no
    connection ("No route to host") and published ports answer nothing."""
    return os.path.exists("/proc/net/ip_vs")


def _host_mode_port(port: object) -> object:
    """A published port in long syntax with ``mode: host`` (the ingress mesh needs IPVS)."""
    if isinstance(port, dict):
        return {**port, "mode": "host"}
    text = str(port)
    proto = "tcp"
    if "/" in text:
        text, proto = text.split("/", 1)
    parts = text.split(":")
    if len(parts) == 1:
        return {"target": int(parts[0]), "protocol": proto, "mode": "host"}
    out = {"target": int(parts[-1]), "published": int(parts[-2]), "protocol": proto, "mode": "host"}
    if len(parts) == 3:
        out["host_ip"] = parts[0]
    return out


def swarm_compose_file(stack: Stack, endpoint_mode: str = "auto") -> tuple[Path, str]:
    """compose.yaml as ``docker stack deploy`` accepts it, and the endpoint mode used.

    Its schema has no top-level ``name`` (the stack name is given on the command line). Without
    IPVS (``endpoint_mode`` auto) every service gets ``endpoint_mode: dnsrr`` and host-mode
    published ports, so services still find each other by name. Written next to compose.yaml so
    relative paths (secret files) keep their meaning; compose.yaml itself is used when nothing changes."""
    mode = endpoint_mode if endpoint_mode != "auto" else ("vip" if ipvs_available() else "dnsrr")
    if "name" not in stack.raw and mode == "vip":
        return stack.compose_file, mode
    data = {k: v for k, v in stack.raw.items() if k != "name"}
    note = "without `name`"
    if mode == "dnsrr":
        note += "; endpoint_mode dnsrr and host-mode ports, as this engine's kernel has no IPVS"
        services = {}
        for svc_name, svc in data.get("services", {}).items():
            svc = dict(svc)
            svc["deploy"] = {**svc.get("deploy", {}), "endpoint_mode": "dnsrr"}
            if svc.get("ports"):
                svc["ports"] = [_host_mode_port(p) for p in svc["ports"]]
            services[svc_name] = svc
        data["services"] = services
    path = stack.dir / SWARM_FILE
    path.write_text(f"# written by migrate up --swarm from compose.yaml ({note})\n"
                    + yaml.safe_dump(data, sort_keys=False))
    return path, mode


def project_name(stack: Stack, project: str | None) -> str:
    name = project or stack.name
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise UsageError(f"invalid project/stack name {name!r}: lower-case letters, digits, '-' and '_'")
    return name


def up(outdir: Path, *, swarm: bool = False, project: str | None = None, secrets_file: Path | None = None,
       overlays: list[str] | None = None, timeout: float = 300, engine: Engine | None = None,
       progress: Progress = _noop, environ: dict[str, str] | None = None,
       endpoint_mode: str = "auto") -> UpResult:
    stack = load_stack(outdir)
    engine = engine or Engine()
    name = project_name(stack, project)
    missing = [f"{s}: {tag}" for s, tag in stack.image_tags().items() if engine.image(tag) is None]
    if missing:
        raise UsageError("images not built: " + ", ".join(missing) + f" (run `migrate build {outdir}`)")
    values = collect_secrets(stack, secrets_file, environ)
    write_secret_files(stack, values)
    t0 = time.monotonic()
    if swarm:
        if not engine.swarm_active():
            raise UsageError("this engine is not a swarm manager: `docker swarm init` first, or deploy without "
                             "--swarm")
        swarm_file, used_mode = swarm_compose_file(stack, endpoint_mode)
        progress(f"docker stack deploy {name} (endpoint mode {used_mode})")
        res = engine.docker("stack", "deploy", "--resolve-image", "never", "--prune", "-c",
                            str(swarm_file), name, cwd=stack.dir)
    else:
        progress(f"docker compose -p {name} up -d")
        # `up -d` itself waits for depends_on health conditions (compose.override.yaml): bound it too
        res = engine.compose(*_compose_args(stack, name, overlays or []), "up", "-d", "--no-build",
                             "--pull", "never", "--remove-orphans", cwd=stack.dir, timeout=timeout + 60)
    if res.returncode != 0:
        raise DockerError(f"deploying {name} failed: {res.output[-3000:]}", output=res.output)
    if not swarm and not engine.containers([f"com.docker.compose.project={name}"]):
        # Compose v2 exits 0 on some errors (e.g. a compose file it cannot open): do not wait for nothing
        raise DockerError(f"docker compose created no container for {name}: {res.output[-3000:]}",
                          output=res.output)
    deployed = time.monotonic() - t0
    states, healthy = wait_healthy(engine, stack, name, "swarm" if swarm else "compose", timeout=timeout,
                                   progress=progress)
    return UpResult(name, "swarm" if swarm else "compose", round(deployed, 2), round(deployed + healthy, 2),
                    states, res.output)


@dataclass
class DownResult:
    project: str
    mode: str
    output: str
    removed_volumes: list[str]
    leftovers: list[str]


def leftovers(engine: Engine, project: str, *, volumes: bool) -> list[str]:
    """What of the project still exists: containers, swarm services, networks, secrets, (volumes)."""
    left = []
    for label in (f"com.docker.compose.project={project}", f"com.docker.stack.namespace={project}"):
        left += [f"container {c['Names'][0]}" for c in engine.containers([label])]
        left += [f"network {n['Name']}" for n in engine.networks([label])]
        if engine.swarm_active():
            left += [f"service {s['Spec']['Name']}" for s in engine.services([label])]
            left += [f"secret {s['Spec']['Name']}" for s in engine.secrets([label])]
        if volumes:
            left += [f"volume {v['Name']}" for v in engine.volumes(label)]
    return sorted(set(left))


def down(outdir: Path, *, project: str | None = None, volumes: bool = False, timeout: float = 120,
         engine: Engine | None = None, progress: Progress = _noop) -> DownResult:
    """Remove the project whichever way it was deployed: its Compose containers and networks, its
    swarm stack (services, networks, secrets), and with ``volumes`` its named volumes."""
    stack = load_stack(outdir)
    engine = engine or Engine()
    name = project_name(stack, project)
    outputs = []
    if engine.containers([f"com.docker.compose.project={name}"]) or engine.networks(
            [f"com.docker.compose.project={name}"]):
        progress(f"docker compose -p {name} down")
        args = ["down", "--remove-orphans", "-t", "20"] + (["-v"] if volumes else [])
        res = engine.compose(*_compose_args(stack, name, []), *args, cwd=stack.dir)
        outputs.append(res.output)
        if res.returncode != 0:
            raise DockerError(f"compose down of {name} failed: {res.output[-3000:]}", output=res.output)
    if engine.swarm_active() and engine.services([f"com.docker.stack.namespace={name}"]):
        progress(f"docker stack rm {name}")
        res = engine.docker("stack", "rm", name)
        outputs.append(res.output)
        if res.returncode != 0:
            raise DockerError(f"stack rm {name} failed: {res.output[-3000:]}", output=res.output)
    # stack rm returns before the tasks' containers and the networks are gone
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        rest = [x for x in leftovers(engine, name, volumes=False) if not x.startswith("volume ")]
        if not rest:
            break
        progress("waiting for " + ", ".join(rest))
        time.sleep(1)
    removed: list[str] = []
    if volumes:
        wanted = {f"{name}_{v}" for v in stack.volumes}
        for label in (f"com.docker.compose.project={name}", f"com.docker.stack.namespace={name}"):
            wanted |= {v["Name"] for v in engine.volumes(label)}
        for v in sorted(wanted):
            if engine.volume(v) is not None:
                engine.remove_volume(v, force=True)
                removed.append(v)
    return DownResult(name, "any", "\n".join(outputs), removed, leftovers(engine, name, volumes=volumes))
