"""``migrate verify OUTDIR``: prove that the running stack does what the VM did, and safely.

Probes run inside the stack: ``docker exec`` in a container of the stack, so names resolve
through Docker's embedded DNS exactly as the services see each other (the Debian-based images
all have bash, whose /dev/tcp gives a TCP connect and an HTTP/1.0 client without extra tools).
Daemon checks use the daemon's own client in its container (pg_isready, redis-cli with the
password handed over in the environment, not in argv). Security checks scan every layer of every
image (``docker save``) and the image configs for every known secret value, compare the uid of each
container's main process with the plan, and list published ports against compose.yaml.
"""

from __future__ import annotations

import json
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from migrate.deploy import Stack, collect_secrets, load_stack, project_name
from migrate.docker_engine import Engine
from migrate.errors import MigrateError, VerificationFailed
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
    """Per service: ports, uid, role, healthcheck kind, source service; from plan.yaml where the
    generate stage left it, else from compose.yaml and the image."""
    out: dict[str, dict[str, Any]] = {}
    plan = _load_yaml(stack.dir / "plan.yaml") or {}
    for c in plan.get("containers") or []:
        out[c["name"]] = {
            "ports": [int(p["port"]) for p in c.get("ports") or [] if p.get("proto", "tcp") == "tcp"],
            "uid": (c.get("user") or {}).get("uid"), "role": c.get("role"),
            "health": (c.get("healthcheck") or {}).get("kind"), "source": c.get("source_service"),
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


def service_containers(engine: Engine, project: str, mode: str, service: str) -> list[dict[str, Any]]:
    label = (f"com.docker.swarm.service.name={project}_{service}" if mode == "swarm"
             else f"com.docker.compose.service={service}")
    extra = [] if mode == "swarm" else [f"com.docker.compose.project={project}"]
    return engine.containers([label, *extra], all=False)


class Prober:
    def __init__(self, engine: Engine, project: str, mode: str, services: list[str]) -> None:
        self.engine = engine
        self.containers = {s: [c["Id"] for c in service_containers(engine, project, mode, s)] for s in services}
        self._bash: dict[str, bool] = {}

    def first(self, service: str) -> str | None:
        ids = self.containers.get(service) or []
        return ids[0] if ids else None

    def has_bash(self, cid: str) -> bool:
        if cid not in self._bash:
            try:
                self._bash[cid] = self.engine.exec(cid, ["bash", "-c", "true"]).exit_code == 0
            except Exception:  # noqa: BLE001 - no bash, or the container went away
                self._bash[cid] = False
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


def _timed(fn: Callable[[], Check]) -> Check:
    t0 = time.monotonic()
    c = fn()
    c.seconds = round(time.monotonic() - t0, 3)
    return c


def tcp_check(p: Prober, service: str, host: str, port: int, prefer: list[str], kind: str = "tcp") -> Check:
    v = p.vantage(service, prefer)
    target = f"{host}:{port}"
    if v is None:
        return Check(kind=kind, service=service, target=target, ok=False, detail="no running container with bash "
                     "to probe from")  # type: ignore[arg-type]
    src, cid = v
    res = p.engine.exec(cid, ["bash", "-c", 'timeout 5 bash -c "exec 3<>/dev/tcp/$0/$1"', host, str(port)])
    return Check(kind=kind, service=service, target=target, ok=res.exit_code == 0,  # type: ignore[arg-type]
                 detail=f"from {src}" + ("" if res.exit_code == 0 else f": {res.text.strip()[-200:]}"))


def http_get(p: Prober, cid: str, host: str, port: int, path: str) -> tuple[int | None, dict[str, str], bytes]:
    res = p.engine.exec(cid, ["bash", "-c", HTTP_SCRIPT, "_", host, str(port), path])
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
        if info.get("role") in ("nginx", "apache", "httpd", "app", "tomcat") or info.get("health") == "http":
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
            pid = engine.inspect_container(cid)["State"].get("Pid")
            actual = None
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("Uid:"):
                        actual = int(line.split()[1])  # real uid of the main process, seen from the host
            except OSError:
                res = engine.exec(cid, ["sh", "-c", "id -u"])  # remote engine: ask inside
                actual = int(res.text.strip()) if res.text.strip().isdigit() else None
            out.append(Check(kind="user", service=service, target=cid[:12], ok=want is None or actual == want,
                             expected=str(want), actual=str(actual),
                             detail=None if want is not None else "no uid planned"))
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
    out = []
    for service, info in plan.items():
        cid = p.first(service)
        if cid is None:
            continue
        port = info["ports"][0] if info["ports"] else None
        if info.get("role") == "postgresql" or info.get("health") == "pg_isready":
            def pg(cid: str = cid, service: str = service, port: int | None = port) -> Check:
                res = p.engine.exec(cid, ["pg_isready", "-h", "127.0.0.1", "-p", str(port or 5432)])
                return Check(kind="pg_isready", service=service, target=f"{service}:{port or 5432}",
                             ok=res.exit_code == 0, actual=res.text.strip()[-200:])
            out.append(_timed(pg))
        if info.get("role") == "redis" or info.get("health") == "redis-cli":
            names = stack.services[service].secrets if service in stack.services else []
            pw = next((secrets[n] for n in names if n in secrets), None)

            def rd(cid: str = cid, service: str = service, port: int | None = port, pw: str | None = pw) -> Check:
                env = {"REDISCLI_AUTH": pw} if pw else None
                res = p.engine.exec(cid, ["redis-cli", "-h", "127.0.0.1", "-p", str(port or 6379), "ping"],
                                    environment=env)
                return Check(kind="redis_ping", service=service, target=f"{service}:{port or 6379}",
                             ok=res.text.strip() == "PONG", expected="PONG", actual=res.text.strip()[-200:],
                             detail="with the password from the secret" if pw else "no password secret")
            out.append(_timed(rd))
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
    edges = graph_edges(stack, plan)
    clients = {s: [a for a, b in edges if b == s] for s in stack.services}
    progress("TCP and HTTP probes")
    for service, info in plan.items():
        if service not in stack.services:
            continue
        for port in info["ports"]:
            report.checks.append(_timed(lambda s=service, pt=port: tcp_check(p, s, s, pt, clients.get(s, []))))
    for service, exps in expectations(stack, plan, expect).items():
        for exp in exps:
            port = int(exp.get("port") or (plan.get(service, {}).get("ports") or [80])[0])
            report.checks.append(_timed(lambda s=service, pt=port, e=exp: http_check(p, s, pt, e, clients.get(s, []))))
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
        report.checks.append(_timed(lambda a=a, b=b, pt=port: _edge(p, a, b, pt)))
    progress("security: users, published ports")
    report.checks += user_checks(engine, p, plan)
    report.checks += published_ports_check(engine, stack, name, mode, p)
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
    res = p.engine.exec(cid, ["bash", "-c", 'timeout 5 bash -c "exec 3<>/dev/tcp/$0/$1"', b, str(port)])
    return Check(kind="edge", service=a, target=target, ok=res.exit_code == 0,
                 detail="connected by name from inside" if res.exit_code == 0 else res.text.strip()[-200:])


def write_report(report: VerificationReport, outdir: Path) -> Path:
    from migrate.fsutil import atomic_write_text

    path = Path(outdir) / ".migrate" / "verify-report.json"
    atomic_write_text(path, report.to_json())
    return path


__all__ = ["VerificationFailed", "scan_images", "verify_stack", "write_report"]
