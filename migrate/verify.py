"""``migrate verify OUTDIR``: prove that the running stack does what the VM did, and safely.

Probes run inside the stack: ``docker exec`` in a container of the stack, so names resolve
through Docker's embedded DNS exactly as the services see each other (the Debian-based images
all have bash, whose /dev/tcp gives a TCP connect and an HTTP/1.0 client without extra tools).
Daemon checks use the server's own client in its container, as its kind (migrate/kinds) describes
it (pg_isready, redis-cli with the password handed over in the environment, not in argv). A
container that exited or keeps restarting is a failed ``crashed`` check with its last log lines and,
where the log tells, the cause (a missing shared object); verify never ends in an internal error
because a container went away under it. Security checks scan every layer of every
image (``docker save``) and the image configs for every known secret value, compare the uid of each
container's main process with the plan, and list published ports against compose.yaml.
"""

from __future__ import annotations

import json
import re
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from migrate.deploy import Stack, collect_secrets, load_stack, project_name
from migrate.docker_engine import Engine, ExecResult
from migrate.errors import MigrateError, VerificationFailed
from migrate.kinds import kind_named
from migrate.model.plan import Plan
from migrate.model.verify import Check, ImageSizes, VerificationReport

Progress = Callable[[str], None]
EXPECT_FILE = "verify.yaml"

HTTP_SCRIPT = r"""
exec 3<>"/dev/tcp/$1/$2" || exit 7
printf 'GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: migrate-verify\r\nConnection: close\r\n\r\n' "$3" "$1" >&3
timeout 10 cat <&3
"""


def _noop(_m: str) -> None:
    pass


# --------------------------------------------------------------------------------------------------
# what the stack should do: plan.yaml (if present), compose.yaml, graph.json, verify.yaml


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None


def planned(stack: Stack, engine: Engine | None = None) -> dict[str, dict[str, Any]]:
    """Per service: ports, uid, role, healthcheck kind, source service; from plan.yaml (read and
    checked by ``Plan.load``) where the generate stage left it, else from compose.yaml and the image."""
    out: dict[str, dict[str, Any]] = {}
    path = stack.dir / "plan.yaml"
    plan = Plan.load(path) if path.is_file() else None
    for c in plan.containers if plan else []:
        out[c.name] = {
            "ports": [p.port for p in c.ports if p.proto == "tcp"],
            "uid": c.user.uid, "role": c.role, "health": c.healthcheck.kind, "source": c.source_service,
        }
    for name, s in stack.services.items():
        entry = out.setdefault(name, {"ports": [], "uid": None, "role": None, "health": None, "source": name})
        if not entry["ports"]:
            exposed: set[int] = set()
            info = engine.image(s.image) if engine is not None and s.image else None
            if info is not None:  # EXPOSE in the Dockerfile: what the service listens on
                exposed = {int(k.split("/")[0]) for k in (info.config.get("ExposedPorts") or {})
                           if k.endswith("/tcp")}
            entry["ports"] = sorted({p["target"] for p in s.ports} | set(s.expose) | exposed)
        if entry["uid"] is None and s.user:
            head = s.user.split(":")[0]
            entry["uid"] = int(head) if head.isdigit() else None
    return out


def graph_edges(stack: Stack, plan: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """connects-to edges between two containers of the stack (graph.json speaks guest services)."""
    data = None
    try:
        data = json.loads((stack.dir / "graph.json").read_text())
    except (OSError, ValueError):
        return []
    by_source = {v["source"]: k for k, v in plan.items() if v.get("source")}
    edges = set()
    for e in data.get("edges") or []:
        if e.get("kind") != "connects-to":
            continue
        a = by_source.get(str(e["source"]).removeprefix("service:"))
        b = by_source.get(str(e["target"]).removeprefix("service:"))
        if a and b and a != b:
            edges.add((a, b))
    return sorted(edges)


# --------------------------------------------------------------------------------------------------
# the running stack


def detect_mode(engine: Engine, project: str) -> str:
    if engine.containers([f"com.docker.compose.project={project}"], all=False):
        return "compose"
    return "swarm"


def service_containers(engine: Engine, project: str, mode: str, service: str,
                       all: bool = False) -> list[dict[str, Any]]:  # noqa: A002 - docker's own word
    label = (f"com.docker.swarm.service.name={project}_{service}" if mode == "swarm"
             else f"com.docker.compose.service={service}")
    extra = [] if mode == "swarm" else [f"com.docker.compose.project={project}"]
    return engine.containers([label, *extra], all=all)


class Prober:
    """The stack's containers: ``containers`` the running ones probes go to, ``stopped`` those that
    exited or are restarting (reported as crashed, never probed: docker answers 409 to an exec)."""

    def __init__(self, engine: Engine, project: str, mode: str, services: list[str]) -> None:
        self.engine = engine
        self.mode = mode
        self.containers: dict[str, list[str]] = {}
        self.stopped: dict[str, list[dict[str, Any]]] = {}
        for s in services:
            found = service_containers(engine, project, mode, s, all=True)
            self.containers[s] = [c["Id"] for c in found if c.get("State") == "running"]
            stopped = [c for c in found if c.get("State") != "running"]
            if mode == "swarm" and self.containers[s]:
                # swarm keeps the containers of replaced tasks; those it stopped itself (SIGTERM/SIGKILL on an
                # update or redeploy) are history, not crashes
                stopped = [c for c in stopped if not re.search(r"Exited \((137|143)\)", c.get("Status") or "")]
            self.stopped[s] = stopped
        self._bash: dict[str, bool] = {}

    def exec(self, cid: str, argv: list[str], environment: dict[str, str] | None = None) -> ExecResult:
        """``docker exec``; a container that stopped or restarts meanwhile is an exit code, not a crash
        of verify."""
        try:
            return self.engine.exec(cid, argv, environment=environment)
        except Exception as exc:  # noqa: BLE001 - docker.errors.APIError (409 is restarting), connection errors
            return ExecResult(-1, f"docker exec failed: {exc}".encode()[-400:], 0.0)

    def first(self, service: str) -> str | None:
        ids = self.containers.get(service) or []
        return ids[0] if ids else None

    def has_bash(self, cid: str) -> bool:
        if cid not in self._bash:
            self._bash[cid] = self.exec(cid, ["bash", "-c", "true"]).exit_code == 0
        return self._bash[cid]

    def vantage(self, target: str, prefer: list[str]) -> tuple[str, str] | None:
        """A container (service, id) with bash to probe ``target`` from: a client of it first, then
        any other service, then the target itself."""
        order = prefer + [s for s in self.containers if s not in prefer and s != target] + [target]
        for s in order:
            cid = self.first(s)
            if cid and self.has_bash(cid):
                return s, cid
        return None


def _timed(fn: Callable[[], Check], kind: str = "tcp", service: str | None = None, target: str = "?") -> Check:
    """Run one check; whatever goes wrong inside it (the container went away, the engine refused) is
    that check failing with the reason, never an internal error of verify."""
    t0 = time.monotonic()
    try:
        c = fn()
    except Exception as exc:  # noqa: BLE001 - a probe's failure is a result, not a crash of verify
        c = Check(kind=kind, service=service, target=target, ok=False,  # type: ignore[arg-type]
                  detail=f"{type(exc).__name__}: {str(exc)[-300:]}")
    c.seconds = round(time.monotonic() - t0, 3)
    return c


def tcp_check(p: Prober, service: str, host: str, port: int, prefer: list[str], kind: str = "tcp") -> Check:
    v = p.vantage(service, prefer)
    target = f"{host}:{port}"
    if v is None:
        return Check(kind=kind, service=service, target=target, ok=False, detail="no running container with bash "
                     "to probe from")  # type: ignore[arg-type]
    src, cid = v
    res = p.exec(cid, ["bash", "-c", 'timeout 5 bash -c "exec 3<>/dev/tcp/$0/$1"', host, str(port)])
    return Check(kind=kind, service=service, target=target, ok=res.exit_code == 0,  # type: ignore[arg-type]
                 detail=f"from {src}" + ("" if res.exit_code == 0 else f": {res.text.strip()[-200:]}"))


def http_get(p: Prober, cid: str, host: str, port: int, path: str) -> tuple[int | None, dict[str, str], bytes]:
    res = p.exec(cid, ["bash", "-c", HTTP_SCRIPT, "_", host, str(port), path])
    head, _, body = res.output.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return None, {}, res.output
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def _json_shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_json_shape(value[0])] if value else []
    return type(value).__name__


def http_check(p: Prober, service: str, port: int, exp: dict[str, Any], prefer: list[str]) -> Check:
    path = exp.get("path", "/")
    target = f"GET http://{service}:{port}{path}"
    v = p.vantage(service, prefer)
    if v is None:
        return Check(kind="http", service=service, target=target, ok=False, detail="no container to probe from")
    src, cid = v
    status, headers, body = http_get(p, cid, service, port, path)
    problems = []
    want_status = exp.get("status")
    if status is None:
        problems.append("no HTTP response")
    elif want_status is not None and status != int(want_status):
        problems.append(f"status {status} != {want_status}")
    elif want_status is None and status >= 500:
        problems.append(f"status {status}")
    ctype = headers.get("content-type", "")
    if exp.get("content_type") and not ctype.startswith(exp["content_type"]):
        problems.append(f"content-type {ctype!r} != {exp['content_type']!r}")
    shape = None
    if exp.get("json_keys") or exp.get("json_shape"):
        try:
            doc = json.loads(body)
            shape = _json_shape(doc)
            for key in exp.get("json_keys") or []:
                if not isinstance(doc, dict) or key not in doc:
                    problems.append(f"JSON has no key {key!r}")
            if exp.get("json_shape") is not None and shape != exp["json_shape"]:
                problems.append(f"JSON shape {shape} != {exp['json_shape']}")
            if exp.get("json_length"):
                key, n = next(iter(exp["json_length"].items()))
                if not isinstance(doc, dict) or len(doc.get(key) or []) != int(n):
                    problems.append(f"len({key}) {len(doc.get(key) or []) if isinstance(doc, dict) else '?'} != {n}")
        except ValueError:
            problems.append("body is not JSON")
    return Check(kind="http", service=service, target=target, ok=not problems,
                 expected=json.dumps({k: v for k, v in exp.items() if k != "path"}, sort_keys=True) or None,
                 actual=f"{status} {ctype}".strip(), detail=f"from {src}" + ("; " + "; ".join(problems)
                                                                            if problems else ""))


def expectations(stack: Stack, plan: dict[str, dict[str, Any]], extra: Path | None) -> dict[str, list[dict]]:
    """HTTP expectations per service: verify.yaml (or --expect) first; else for web servers and
    HTTP apps the root path answering without a server error."""
    out: dict[str, list[dict]] = {}
    for source in [stack.dir / EXPECT_FILE, extra]:
        data = _load_yaml(source) if source else None
        for item in (data or {}).get("http") or []:
            out.setdefault(item["service"], []).append(item)
    for name, info in plan.items():
        if name in out or not info["ports"]:
            continue
        if kind_named(info.get("role")).http or info.get("health") == "http":
            out[name] = [{"port": info["ports"][0], "path": "/"}]
    return out


# --------------------------------------------------------------------------------------------------
# security


def _scan_stream(stream: Iterator[bytes], needles: list[bytes]) -> set[int]:
    found: set[int] = set()
    keep = max((len(n) for n in needles), default=1) - 1
    tail = b""
    for chunk in stream:
        buf = tail + chunk
        for i, n in enumerate(needles):
            if i not in found and n in buf:
                found.add(i)
        tail = buf[-keep:] if keep else b""
    return found


class _Reader:
    """A file-like object over the ``docker save`` byte iterator (tarfile stream mode reads it)."""

    def __init__(self, it: Iterator[bytes]) -> None:
        self.it = it
        self.buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buf) < n:
            try:
                self.buf += next(self.it)
            except StopIteration:
                break
        if n < 0:
            out, self.buf = self.buf, b""
        else:
            out, self.buf = self.buf[:n], self.buf[n:]
        return out


def scan_images(engine: Engine, tags: list[str], secrets: dict[str, str]) -> tuple[list[Check], ImageSizes]:
    """Every layer (each regular file in it) and every config of the images, searched for every
    secret value; plus the distinct layer bytes (what the stack really costs on disk)."""
    needles = [v.encode() for v in secrets.values() if v]
    names = list(secrets)
    checks = []
    sizes = ImageSizes()
    seen_layers: dict[str, int] = {}
    for tag in tags:
        info = engine.image(tag)
        if info is None:
            checks.append(Check(kind="secret_scan", target=tag, ok=False, detail="image not found"))
            continue
        sizes.images[tag] = info.size
        t0 = time.monotonic()
        hits: dict[int, set[str]] = {}
        tar = tarfile.open(fileobj=_Reader(engine.save(tag)), mode="r|")  # type: ignore[arg-type]  # noqa: SIM115 - closed below
        for member in tar:
            if not member.isfile():
                continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            if member.name.endswith("layer.tar") or member.name.startswith("blobs/"):
                seen_layers.setdefault(member.name, member.size)
                try:
                    inner = tarfile.open(fileobj=fh, mode="r|")  # noqa: SIM115 - a stream inside the outer one
                    for f in inner:
                        if f.isfile():
                            data = inner.extractfile(f)
                            if data is not None:
                                for i in _scan_stream(iter(lambda d=data: d.read(1 << 20), b""), needles):
                                    hits.setdefault(i, set()).add(f"{member.name}:{f.name}")
                    continue
                except tarfile.TarError:
                    fh = tar.extractfile(member)  # a config blob, not a layer
                    if fh is None:
                        continue
            for i in _scan_stream(iter(lambda f=fh: f.read(1 << 20), b""), needles):
                hits.setdefault(i, set()).add(member.name)
        tar.close()
        cfg = json.dumps(engine.api.inspect_image(tag)).encode()
        for i, n in enumerate(needles):
            if n in cfg:
                hits.setdefault(i, set()).add("image config")
        checks.append(Check(
            kind="secret_scan", target=tag, ok=not hits, seconds=round(time.monotonic() - t0, 2),
            expected=f"none of {len(needles)} secret value(s)",
            actual="clean" if not hits else "; ".join(f"{names[i]} in {', '.join(sorted(w)[:3])}"
                                                      for i, w in sorted(hits.items()))))
    sizes.sum_bytes = sum(sizes.images.values())
    sizes.unique_layer_bytes = sum(seen_layers.values())
    return checks, sizes


def user_checks(engine: Engine, p: Prober, plan: dict[str, dict[str, Any]]) -> list[Check]:
    out = []
    for service, ids in p.containers.items():
        want = plan.get(service, {}).get("uid")
        for cid in ids:
            def check(cid: str = cid, service: str = service, want: int | None = want) -> Check:
                pid = engine.inspect_container(cid)["State"].get("Pid")
                actual = None
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("Uid:"):
                            actual = int(line.split()[1])  # real uid of the main process, seen from the host
                except OSError:
                    res = p.exec(cid, ["sh", "-c", "id -u"])  # remote engine: ask inside
                    actual = int(res.text.strip()) if res.text.strip().isdigit() else None
                return Check(kind="user", service=service, target=cid[:12], ok=want is None or actual == want,
                             expected=str(want), actual=str(actual),
                             detail=None if want is not None else "no uid planned")
            out.append(_timed(check, "user", service, cid[:12]))
    return out


# --------------------------------------------------------------------------------------------------
# containers that exited or restart

LOG_LINES = 15
MISSING_LIBRARY = [
    # the dynamic loader: "error while loading shared libraries: libfoo.so.1: cannot open shared object file"
    re.compile(r"error while loading shared libraries: ([^\s:]+)"),
    # dlopen() failures as servers log them (nginx, Apache, PHP): the path of the module
    re.compile(r"dlopen\(\)\s+\"?([^\s\"]+)\"?\s+failed"),
    re.compile(r"Cannot load ([^\s]+) into server"),
    re.compile(r"([^\s:\"']+\.so(?:\.[\w.]+)?): cannot open shared object file"),
    re.compile(r"Unable to load dynamic library '?([^\s']+)'?"),
]
NOT_FOUND = re.compile(r"exec: \"?([^\s\":]+)\"?: (?:executable file not found|no such file or directory)"
                       r"|(/[^\s:]+): (?:No such file or directory|not found)")


def crash_cause(log: str, packages: dict[str, str]) -> str | None:
    """What the last log lines say stopped the container: a missing shared object (and the package
    that owns it, when the plan's package reasons name the file) or a missing executable."""
    for pattern in MISSING_LIBRARY:
        m = pattern.search(log)
        if m:
            missing = m.group(1)
            owner = next((name for name, why in packages.items() if missing in why), None)
            where = (f"; {owner} owns it in the VM: install it in the image" if owner else
                     "; install the package that owns it in the VM (dpkg -S / rpm -qf on the VM)")
            return f"missing shared object {missing}{where}"
    m = NOT_FOUND.search(log)
    if m:
        return f"missing file {m.group(1) or m.group(2)}: the image lacks what the command runs"
    return None


def _all_healthy(p: Prober, cids: list[str]) -> bool:
    """Every running container of a service is up, healthy where it has a healthcheck, never restarted."""
    if not cids:
        return False
    for cid in cids:
        try:
            info = p.engine.inspect_container(cid)
        except Exception:  # noqa: BLE001 - vanished meanwhile: not converged
            return False
        state = info.get("State") or {}
        health = (state.get("Health") or {}).get("Status")
        if state.get("Status") != "running" or int(info.get("RestartCount") or 0) or health not in (None, "healthy"):
            return False
    return True


def crash_checks(p: Prober, plan_doc: Plan | None) -> list[Check]:
    """One failed ``crashed`` check per container that exited with an error or keeps restarting (a
    running container that restarted counts too), with its last log lines and the cause when known."""
    packages: dict[str, dict[str, str]] = {}
    for c in plan_doc.containers if plan_doc else []:
        packages[c.name] = {i.name: i.reason or "" for i in c.packages.items}
    out: list[Check] = []
    for service in p.containers:
        converged = p.mode == "swarm" and _all_healthy(p, p.containers[service])
        candidates = [*p.stopped.get(service, []), *({"Id": cid} for cid in p.containers[service])]
        for entry in candidates:
            def check(cid: str = entry["Id"], service: str = service, converged: bool = converged) -> Check | None:
                info = p.engine.inspect_container(cid)
                state = info.get("State") or {}
                restarts = int(info.get("RestartCount") or 0)
                status = state.get("Status", "?")
                failed = status == "restarting" or (status in ("exited", "dead") and state.get("ExitCode"))
                if not failed and not restarts:
                    return None
                log = p.engine.api.logs(cid, tail=LOG_LINES, stdout=True, stderr=True).decode("utf-8", "replace")
                cause = crash_cause(log, packages.get(service, {}))
                lines = [ln for ln in log.splitlines() if ln.strip()][-LOG_LINES:]
                what = (f"{status}, exit code {state.get('ExitCode')}, restarted {restarts} time(s)"
                        + (f"; error: {state['Error']}" if state.get("Error") else ""))
                if converged and cid not in p.containers[service]:
                    # swarm starts services in no order: a task that failed while a dependency was not up yet
                    # was replaced by one that is running and healthy; shown, not counted as a failure
                    what += "; an earlier task: swarm replaced it and the service converged"
                return Check(kind="crashed", service=service, target=cid[:12],
                             ok=converged and cid not in p.containers[service], actual=what,
                             expected="running, never restarted",
                             detail=(f"cause: {cause}; " if cause else "") + "last log lines:\n" + "\n".join(lines))
            try:
                result = check()
            except Exception as exc:  # noqa: BLE001 - the container vanished between listing and inspecting
                result = Check(kind="crashed", service=service, target=entry["Id"][:12], ok=False,
                               detail=f"could not inspect it: {type(exc).__name__}: {str(exc)[-200:]}")
            if result is not None:
                out.append(result)
    return out


def published_ports_check(engine: Engine, stack: Stack, project: str, mode: str, p: Prober) -> list[Check]:
    out = []
    for service, svc in stack.services.items():
        expected = sorted({int(x["published"]) for x in svc.ports if x.get("published")})
        actual: set[int] = set()
        if mode == "swarm":
            for s in engine.services([f"com.docker.stack.namespace={project}"]):
                if s["Spec"]["Name"] == f"{project}_{service}":
                    actual |= {int(x["PublishedPort"]) for x in (s.get("Endpoint") or {}).get("Ports") or []
                               if x.get("PublishedPort")}
        for cid in p.containers.get(service) or []:
            ports = engine.inspect_container(cid)["NetworkSettings"].get("Ports") or {}
            for bindings in ports.values():
                actual |= {int(b["HostPort"]) for b in bindings or [] if b.get("HostPort")}
        out.append(Check(kind="published_ports", service=service, target=service, ok=sorted(actual) == expected,
                         expected=",".join(map(str, expected)) or "none",
                         actual=",".join(map(str, sorted(actual))) or "none"))
    return out


# --------------------------------------------------------------------------------------------------


def daemon_checks(p: Prober, plan: dict[str, dict[str, Any]], stack: Stack, secrets: dict[str, str]) -> list[Check]:
    """The server's own client, run in its container as the service's kind describes (Probe)."""
    out = []
    for service, info in plan.items():
        cid = p.first(service)
        probe = kind_named(info.get("role")).probe()
        if cid is None or probe is None or not info["ports"]:
            continue
        port = info["ports"][0]
        names = stack.services[service].secrets if service in stack.services else []
        pw = next((secrets[n] for n in names if n in secrets), None) if probe.password_env else None

        def run(cid: str = cid, service: str = service, port: int = port, pw: str | None = pw,
                probe=probe) -> Check:
            env = {probe.password_env: pw} if pw and probe.password_env else None
            res = p.exec(cid, probe.command(port), environment=env)
            text = res.text.strip()
            ok = res.exit_code == 0 and (probe.expect is None or text == probe.expect)
            return Check(kind=probe.check, service=service, target=f"{service}:{port}", ok=ok,  # type: ignore[arg-type]
                         expected=probe.expect, actual=text[-200:],
                         detail=(("with the password from the secret" if pw else "no password secret")
                                 if probe.password_env else None))
        out.append(_timed(run, probe.check, service, f"{service}:{port}"))
    return out


def loopback_only(stack: Stack, plan: dict[str, dict[str, Any]]) -> set[tuple[str, int]]:
    """(container, port) pairs the VM served on loopback addresses only (inventory.json beside the
    plan). A server kind that does not rebind keeps such a port on loopback in its container (varnishd
    -T localhost:6082), so it is probed from inside that container, never from a sibling."""
    from migrate.graph import is_loopback
    from migrate.model.inventory import Inventory

    path = stack.dir / "inventory.json"
    if not path.is_file():
        return set()
    try:
        inv = Inventory.load(path)
    except MigrateError:
        return set()
    out: set[tuple[str, int]] = set()
    for name, info in plan.items():
        for port in info["ports"]:
            addrs = [q.address for q in inv.ports
                     if q.service == info.get("source") and q.port == port and q.proto == "tcp"]
            if addrs and all(is_loopback(a) for a in addrs):
                out.add((name, port))
    return out


def verify_stack(outdir: Path, *, project: str | None = None, secrets_file: Path | None = None,
                 expect: Path | None = None, scan: bool = True, engine: Engine | None = None,
                 progress: Progress = _noop, environ: dict[str, str] | None = None) -> VerificationReport:
    t0 = time.monotonic()
    stack = load_stack(outdir)
    engine = engine or Engine()
    name = project_name(stack, project)
    mode = detect_mode(engine, name)
    plan = planned(stack, engine)
    p = Prober(engine, name, mode, list(stack.services))
    report = VerificationReport(project=name, mode=mode)  # type: ignore[arg-type]
    for service, ids in p.containers.items():
        report.checks.append(Check(kind="running", service=service, target=service, ok=bool(ids),
                                   actual=f"{len(ids)} container(s)"))
    plan_path = stack.dir / "plan.yaml"
    report.checks += crash_checks(p, Plan.load(plan_path) if plan_path.is_file() else None)
    edges = graph_edges(stack, plan)
    clients = {s: [a for a, b in edges if b == s] for s in stack.services}
    progress("TCP and HTTP probes")
    local = loopback_only(stack, plan)
    for service, info in plan.items():
        if service not in stack.services:
            continue
        for port in info["ports"]:
            if (service, port) in local and not clients.get(service):
                # loopback-only in the VM and nobody else's: only the container itself can reach it
                report.checks.append(_timed(lambda s=service, pt=port: tcp_check(p, s, "127.0.0.1", pt, [s]),
                                            "tcp", service, f"{service} 127.0.0.1:{port}"))
                continue
            report.checks.append(_timed(lambda s=service, pt=port: tcp_check(p, s, s, pt, clients.get(s, [])),
                                        "tcp", service, f"{service}:{port}"))
    for service, exps in expectations(stack, plan, expect).items():
        for exp in exps:
            known = plan.get(service, {}).get("ports") or []
            if not exp.get("port") and not known:
                report.checks.append(Check(kind="http", service=service, ok=False,
                                           target=f"GET http://{service}{exp.get('path', '/')}",
                                           detail="no port given and none planned: nothing to GET"))
                continue
            port = int(exp.get("port") or known[0])
            report.checks.append(_timed(lambda s=service, pt=port, e=exp: http_check(p, s, pt, e, clients.get(s, [])),
                                        "http", service, f"GET http://{service}:{port}{exp.get('path', '/')}"))
    secrets: dict[str, str] = {}
    try:
        secrets = collect_secrets(stack, secrets_file, environ)
    except MigrateError as exc:
        report.checks.append(Check(kind="secret_scan", target="secrets", ok=False, detail=str(exc)))
    progress("daemon checks")
    report.checks += daemon_checks(p, plan, stack, secrets)
    progress("service-to-service edges")
    for a, b in edges:
        port = (plan.get(b, {}).get("ports") or [None])[0]
        if port is None:
            continue
        report.checks.append(_timed(lambda a=a, b=b, pt=port: _edge(p, a, b, pt), "edge", a, f"{a} -> {b}:{port}"))
    progress("security: users, published ports")
    report.checks += user_checks(engine, p, plan)
    try:
        report.checks += published_ports_check(engine, stack, name, mode, p)
    except Exception as exc:  # noqa: BLE001 - the engine refused: a failed check, not an internal error
        report.checks.append(Check(kind="published_ports", target="stack", ok=False,
                                   detail=f"{type(exc).__name__}: {str(exc)[-300:]}"))
    if scan:
        progress("security: scanning image layers for secret values")
        checks, sizes = scan_images(engine, sorted(set(stack.image_tags().values())), secrets)
        report.checks += checks
        report.images = sizes
    report.seconds = round(time.monotonic() - t0, 2)
    return report.canonical()


def _edge(p: Prober, a: str, b: str, port: int) -> Check:
    cid = p.first(a)
    target = f"{a} -> {b}:{port}"
    if cid is None:
        return Check(kind="edge", service=a, target=target, ok=False, detail=f"{a} has no running container")
    if not p.has_bash(cid):
        return Check(kind="edge", service=a, target=target, ok=False, detail=f"{a} has no bash to probe with")
    res = p.exec(cid, ["bash", "-c", 'timeout 5 bash -c "exec 3<>/dev/tcp/$0/$1"', b, str(port)])
    return Check(kind="edge", service=a, target=target, ok=res.exit_code == 0,
                 detail="connected by name from inside" if res.exit_code == 0 else res.text.strip()[-200:])


def write_report(report: VerificationReport, outdir: Path) -> Path:
    from migrate.fsutil import atomic_write_text

    path = Path(outdir) / ".migrate" / "verify-report.json"
    atomic_write_text(path, report.to_json())
    return path


__all__ = ["VerificationFailed", "scan_images", "verify_stack", "write_report"]
