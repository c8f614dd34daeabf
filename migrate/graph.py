"""Inventory -> ServiceGraph: which service listens where, needs what, and talks to whom.

The graph is the planner's only view of relationships: a connection string is just text until it
is resolved here to the service that listens on its port. Resolution treats the guest's own names
(localhost, loopback addresses, its hostname and the names /etc/hosts gives to itself) as local;
anything else, or a local port nobody listens on, is an external dependency and is reported.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import networkx as nx

from migrate.errors import ExternalToolError, OutputError
from migrate.kinds import scheme_ports
from migrate.model.base import Evidence
from migrate.model.graph import ExternalDependency, GraphEdge, GraphNode, ServiceGraph, UnresolvedUnit
from migrate.model.inventory import Connection, Inventory, Port

DEFAULT_PORTS = scheme_ports()  # URL scheme -> port; one table (migrate/kinds), shared with the analyzers
ALL_ADDRESSES = {None, "", "*", "0.0.0.0", "::", "[::]"}
_IGNORED_UNIT_SUFFIXES = (".target", ".socket", ".mount", ".slice", ".device", ".path", ".timer", ".scope")


def service_id(name: str) -> str:
    return f"service:{name}"


def port_id(p: Port) -> str:
    where = p.path if p.proto == "unix" else f"{p.address or '*'}:{p.port}"
    return f"port:{p.service or '?'}/{p.proto}/{where}"


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address in ("localhost", "ip6-localhost", "ip6-loopback")


def local_names(inv: Inventory) -> set[str]:
    """Names and addresses by which the guest reaches itself."""
    names = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "127.0.0.1", "::1"}
    hostname = inv.network.hostname
    if hostname:
        names |= {hostname, hostname.split(".")[0]}
    for entry in inv.network.hosts:
        entry_names = set(entry.names)
        if is_loopback(entry.address) or (hostname and (hostname in entry_names
                                                         or hostname.split(".")[0] in entry_names)):
            names |= entry_names | {entry.address}
    return {n.lower() for n in names}


def _run_path(path: str) -> str:
    """/var/run is /run on every current distribution."""
    return "/run" + path[len("/var/run"):] if path.startswith("/var/run/") else path


def effective_port(c: Connection) -> int | None:
    return c.port if c.port is not None else DEFAULT_PORTS.get(c.scheme.lower())


def resolve_connection(inv: Inventory, c: Connection, local: set[str] | None = None) -> Port | str:
    """The listening Port a connection reaches, or a human reason why it is external."""
    local = local if local is not None else local_names(inv)
    host = c.host.strip("[]").lower()
    socket = c.host if host.startswith("/") else c.unix_socket  # MySQL clients: "localhost" is the socket
    if socket:
        for p in inv.ports:
            if p.proto == "unix" and p.path and _run_path(p.path) == _run_path(socket):
                return p
        if host.startswith("/"):
            return f"no service in the guest listens on the unix socket {c.host}"
    if host not in local and not is_loopback(host):
        return f"{c.host} is not this VM (not localhost, its hostname or an /etc/hosts name for itself)"
    port = effective_port(c)
    if port is None:
        return f"no port given and no default port known for scheme {c.scheme!r}"
    for p in sorted(inv.ports, key=lambda p: (p.service or "", p.address or "")):
        if p.proto != "tcp" or p.port != port:
            continue
        if p.address in ALL_ADDRESSES or is_loopback(p.address) or (p.address or "").lower() in local:
            return p
    return f"nothing in the guest listens on port {port}: an external dependency"


def _resolve_unit(inv: Inventory, unit: str) -> str | None:
    """The service a unit name means. Debian's ``postgresql.service`` is a oneshot /bin/true wrapper
    for its ``postgresql@15-main`` instances: a dependency on the wrapper is one on the instance."""
    base = unit.removesuffix(".service")
    by_name = {s.name: s for s in inv.services}
    instances = sorted(n for n in by_name if n.startswith(base + "@") and not n.endswith("@"))  # not templates
    exact = by_name.get(base)
    if exact is not None and not (instances and _is_wrapper(exact)):
        return base
    return instances[0] if instances else None


def _is_wrapper(s) -> bool:
    return s.unit_type == "oneshot" and (not s.exec_start or s.exec_start[0] in ("/bin/true", "/usr/bin/true"))


def build_graph(inv: Inventory) -> ServiceGraph:
    """Build the ServiceGraph of ``inv``; every edge carries the evidence it was drawn from."""
    nodes: dict[str, GraphNode] = {}
    edges: dict[tuple[str, str, str, str], GraphEdge] = {}

    def node(node_id: str, node_kind: str, label: str, evidence: Iterable[Evidence] = (), **attrs) -> str:
        if node_id not in nodes:
            nodes[node_id] = GraphNode(id=node_id, kind=node_kind, label=label, attrs=attrs)
        for ev in evidence:
            if ev not in nodes[node_id].evidence:
                nodes[node_id].evidence.append(ev)
        return node_id

    def edge(source: str, target: str, kind: str, evidence: Iterable[Evidence], detail: str | None = None):
        key = (source, target, kind, detail or "")
        if key not in edges:
            edges[key] = GraphEdge(source=source, target=target, kind=kind, detail=detail)
        for ev in evidence:
            if ev not in edges[key].evidence:
                edges[key].evidence.append(ev)

    services = {s.name: s for s in inv.services}
    for s in inv.services:
        node(service_id(s.name), "service", s.name, s.evidence, role=s.role, vm_only=s.vm_only,
             user=s.user, uid=s.uid, state=s.state)

    unresolved: list[UnresolvedUnit] = []
    for s in inv.services:
        unit_ev = s.evidence[:1] or [Evidence(analyzer="systemd", path=s.unit_path or s.name)]
        for relation, units in (("Requires", s.requires), ("Wants", s.wants), ("After", s.after)):
            for unit in units:
                if unit.endswith(_IGNORED_UNIT_SUFFIXES):
                    continue
                target = _resolve_unit(inv, unit)
                if target is None:
                    unresolved.append(UnresolvedUnit(service=s.name, unit=unit, relation=relation))
                elif target != s.name:
                    edge(service_id(s.name), service_id(target), "depends-on", unit_ev, f"{relation}={unit}")

    for p in inv.ports:
        pid = node(port_id(p), "port", f"{p.proto}/{p.path or p.port}", [p.evidence], proto=p.proto,
                   port=p.port, address=p.address, path=p.path)
        if p.service in services:
            edge(service_id(p.service), pid, "listens-on", [p.evidence])

    for c in inv.configs:
        cid = node(f"config:{c.path}", "config", c.path, [c.evidence], kind=c.kind,
                   contains_secrets=c.contains_secrets, from_package=c.from_package,
                   modified_from_package=c.modified_from_package)
        if c.service in services:
            edge(service_id(c.service), cid, "reads-config", [c.evidence])

    for pp in inv.persistent_paths:
        ppid = node(f"path:{pp.path}", "path", pp.path, [pp.evidence], kind=pp.kind, uid=pp.uid, gid=pp.gid)
        if pp.service in services:
            edge(service_id(pp.service), ppid, "writes-data", [pp.evidence], pp.reason)

    for sec in inv.secrets:
        sid = node(f"secret:{sec.id}", "secret", sec.id, [sec.evidence], kind=sec.kind, key=sec.key,
                   value_ref=sec.value_ref, redacted=sec.redacted)
        if sec.service in services:
            edge(service_id(sec.service), sid, "uses-secret", [sec.evidence], sec.key)

    by_name = {p.name: p for p in inv.packages}
    for c in inv.configs:
        if c.service in services and c.from_package in by_name:
            pkg = by_name[c.from_package]
            kid = node(f"package:{pkg.name}", "package", f"{pkg.name} {pkg.version}", [pkg.evidence],
                       version=pkg.version, manager=pkg.manager)
            edge(service_id(c.service), kid, "installed-from", [c.evidence], c.path)

    for i, job in enumerate(sorted(inv.jobs, key=lambda j: (j.evidence.path, j.schedule, j.command))):
        jid = node(f"job:{i + 1}", "job", f"{job.schedule} {job.command}", [job.evidence],
                   schedule=job.schedule, command=job.command, user=job.user, source=job.source)
        for s in inv.services:
            if s.vm_only:
                continue
            roots = [r for r in (s.working_directory, str(Path(s.script).parent) if s.script else None,
                                 *(pp.path for pp in inv.persistent_paths if pp.service == s.name))
                     if r and r not in ("/", "/usr", "/usr/bin", "/bin")]
            if any(re.search(rf"(^|[\s'\"=]){re.escape(r)}(/|\s|$)", job.command) for r in roots):
                edge(jid, service_id(s.name), "runs-with", [job.evidence], "command uses the service's files")
            elif job.user and s.user and job.user == s.user and s.user != "root":
                edge(jid, service_id(s.name), "runs-with", [job.evidence], f"runs as {job.user}")

    local = local_names(inv)
    external: list[ExternalDependency] = []
    for c in inv.connections:
        if c.from_service not in services:
            continue
        target = resolve_connection(inv, c, local)
        if isinstance(target, Port) and target.service in services:
            if target.service != c.from_service:
                edge(service_id(c.from_service), service_id(target.service), "connects-to", [c.evidence],
                     f"{c.via or c.scheme}: {c.url_redacted}")
            continue
        reason = target if isinstance(target, str) else f"port {target.port} has no known service"
        ext_id = node(f"external:{c.scheme}://{c.host}:{effective_port(c) or ''}", "external",
                      f"{c.scheme}://{c.host}:{effective_port(c) or ''}", [c.evidence])
        edge(service_id(c.from_service), ext_id, "connects-to", [c.evidence], f"{c.via or c.scheme}")
        external.append(ExternalDependency(from_service=c.from_service, scheme=c.scheme, host=c.host,
                                           port=effective_port(c), url_redacted=c.url_redacted, via=c.via,
                                           reason=reason, evidence=c.evidence))

    graph = ServiceGraph(source_vm=inv.name, nodes=list(nodes.values()), edges=list(edges.values()),
                         external=external, unresolved_units=unresolved)
    graph.cycles = find_cycles(graph)
    return graph.canonical()


def to_networkx(graph: ServiceGraph) -> nx.MultiDiGraph:
    """A MultiDiGraph (a DiGraph with one edge per relation kind): nodes keyed by id."""
    g = nx.MultiDiGraph(name=graph.source_vm)
    for n in graph.nodes:
        g.add_node(n.id, kind=n.kind, label=n.label, attrs={k: v for k, v in n.attrs.items() if v is not None})
    for e in graph.edges:
        g.add_edge(e.source, e.target, key=f"{e.kind}:{e.detail or ''}", kind=e.kind, detail=e.detail,
                   evidence=[ev.model_dump() for ev in e.evidence])
    return g


def find_cycles(graph: ServiceGraph) -> list[list[str]]:
    """Cycles among services through depends-on and connects-to edges (start order has to break them)."""
    g = nx.DiGraph()
    for e in graph.edges:
        if e.kind in ("depends-on", "connects-to") and e.source.startswith("service:") \
                and e.target.startswith("service:"):
            g.add_edge(e.source, e.target)
    cycles = []
    for cyc in nx.simple_cycles(g):
        i = cyc.index(min(cyc))
        cycles.append(cyc[i:] + cyc[:i])
    return sorted(cycles)


_DOT_SHAPES = {"service": "box", "port": "ellipse", "path": "folder", "config": "note", "secret": "octagon",
               "package": "component", "job": "cds", "external": "doubleoctagon"}


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: ServiceGraph) -> str:
    g = graph.canonical()
    lines = [f"digraph {_dot_quote(g.source_vm)} {{", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for n in g.nodes:
        style = ', style="filled", fillcolor="#e8f0fe"' if n.kind == "service" and not n.attrs.get("vm_only") \
            else (', style="dashed"' if n.kind == "service" else "")
        lines.append(f"  {_dot_quote(n.id)} [label={_dot_quote(n.label)}, shape={_DOT_SHAPES[n.kind]}{style}];")
    for e in g.edges:
        lines.append(f"  {_dot_quote(e.source)} -> {_dot_quote(e.target)} [label={_dot_quote(e.kind)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_id(node_id: str, ids: dict[str, str]) -> str:
    return ids.setdefault(node_id, f"n{len(ids)}")


_MERMAID_SHAPES = {"service": ('["', '"]'), "port": ('(["', '"])'), "path": ('[("', '")]'),
                   "config": ('[/"', '"/]'), "secret": ('{{"', '"}}'), "package": ('[["', '"]]'),
                   "job": ('>"', '"]'), "external": ('(("', '"))')}


def to_mermaid(graph: ServiceGraph) -> str:
    g = graph.canonical()
    ids: dict[str, str] = {}
    lines = ["flowchart LR"]
    for n in g.nodes:
        left, right = _MERMAID_SHAPES[n.kind]
        label = f"{n.kind}: {n.label}".replace('"', "#quot;").replace("\n", "<br/>")
        lines.append(f"  {_mermaid_id(n.id, ids)}{left}{label}{right}")
    for e in g.edges:
        lines.append(f"  {_mermaid_id(e.source, ids)} -->|{e.kind}| {_mermaid_id(e.target, ids)}")
    return "\n".join(lines) + "\n"


# --- the picture people look at --------------------------------------------------------------------

SLIDE_INCHES = (13.33, 7.5)  # a 16:9 slide; dot scales the drawing down (never up) to fit it
SLIDE_DPI = 96  # 1280 x 720 px at most: the size of a slide, readable when projected
# dot's layout grows much faster than the graph; a guest with thousands of units and relations
# must end in a clear error, not in subprocess's TimeoutExpired (an internal error)
DOT_TIMEOUT = 120.0
_VIEW_EDGES = ("depends-on", "connects-to", "writes-data")


def application_view(graph: ServiceGraph, inv: Inventory) -> ServiceGraph:
    """The part of the graph a migration is about: the services the planner would turn into
    containers (the VM's own plumbing, disabled and template units left out, by the planner's own
    rule), what they connect to (each other, external endpoints) and the data they write. Ports are
    folded into the service's label; configs, secrets, packages and jobs stay in graph.json."""
    from migrate.planning.selection import vm_only_reason

    listening = {p.service for p in inv.ports}
    timers = frozenset(j.unit.removesuffix(".timer") for j in inv.jobs
                       if j.source == "systemd-timer" and j.unit and j.unit.endswith(".timer"))
    kept = {service_id(s.name) for s in inv.services if vm_only_reason(s, s.name in listening, timers) is None}
    ports: dict[str, list[str]] = {}
    for p in sorted(inv.ports, key=lambda p: (p.proto, p.port or 0, p.path or "")):
        if p.service and p.proto != "unix":
            where = f"{p.port}/{p.proto}"
            if where not in ports.setdefault(service_id(p.service), []):
                ports[service_id(p.service)].append(where)
    edges = [e for e in graph.edges if e.kind in _VIEW_EDGES and e.source in kept]
    by_id = {n.id: n for n in graph.nodes}
    edges = [e for e in edges if e.target in kept or by_id[e.target].kind in ("external", "path")]
    shown = kept | {e.target for e in edges}
    nodes = []
    for n in graph.nodes:
        if n.id not in shown:
            continue
        n = n.model_copy(deep=True)
        if n.id in ports:
            n.label = f"{n.label}\n{', '.join(ports[n.id])}"
        nodes.append(n)
    return ServiceGraph(source_vm=graph.source_vm, nodes=nodes, edges=edges, cycles=graph.cycles,
                        external=graph.external, unresolved_units=[]).canonical()


def to_slide_dot(graph: ServiceGraph, *, dpi: int = SLIDE_DPI, rankdir: str | None = None,
                 fit: bool = True) -> str:
    """dot for a picture: a 16:9 slide, one arrow per pair of nodes (parallel relations merged into
    one label), shapes by node kind. The direction (left-right or top-down) is the one whose drawing
    is closest to 16:9 (``slide_rankdir``), unless given; dot then spreads the nodes (``ratio``, the
    boxes keep their size) until the drawing is 16:9 and scales it to the slide (``size`` with !)."""
    g = graph.canonical()
    w, h = SLIDE_INCHES
    if rankdir is None:
        rankdir = slide_rankdir(g)
    fitting = f'size="{w},{h}!", ratio={h / w:.4f}, ' if fit else ""
    lines = [f"digraph {_dot_quote(g.source_vm)} {{",
             f"  graph [rankdir={rankdir}, {fitting}dpi={dpi}, nodesep=0.35, ranksep=0.6, "
             f'fontname="Helvetica", label={_dot_quote(g.source_vm)}, labelloc=t, fontsize=18];',
             '  node [fontname="Helvetica", fontsize=12, margin="0.15,0.06"];',
             '  edge [fontname="Helvetica", fontsize=10, color="#555555"];']
    for n in g.nodes:
        style = ', style="filled", fillcolor="#e8f0fe"' if n.kind == "service" and not n.attrs.get("vm_only") \
            else (', style="dashed"' if n.kind == "service" else "")
        lines.append(f"  {_dot_quote(n.id)} [label={_dot_quote(n.label)}, shape={_DOT_SHAPES[n.kind]}{style}];")
    merged: dict[tuple[str, str], list[str]] = {}
    for e in g.edges:
        word = {"depends-on": "after", "connects-to": "connects", "writes-data": "data"}.get(e.kind, e.kind)
        labels = merged.setdefault((e.source, e.target), [])
        if word not in labels:
            labels.append(word)
    for (a, b), labels in merged.items():
        lines.append(f"  {_dot_quote(a)} -> {_dot_quote(b)} [label={_dot_quote(', '.join(labels))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def slide_rankdir(graph: ServiceGraph) -> str:
    """LR or TB: lay the graph out both ways (``dot -Tplain``, milliseconds for a view) and keep the
    one whose width:height is closest to a slide's, so a long chain does not become a thin strip."""
    import math

    dot = shutil.which("dot")
    if dot is None:
        return "LR"
    target = SLIDE_INCHES[0] / SLIDE_INCHES[1]
    best, best_score = "LR", math.inf
    for rankdir in ("LR", "TB"):
        text = to_slide_dot(graph, rankdir=rankdir, fit=False)
        try:
            proc = subprocess.run([dot, "-Tplain"], input=text.encode(), capture_output=True,
                                  timeout=DOT_TIMEOUT / 2, check=False)
        except subprocess.TimeoutExpired:
            raise ExternalToolError(f"dot did not lay out the graph ({len(graph.nodes)} nodes) in "
                                    f"{DOT_TIMEOUT / 2:g} s") from None
        head = proc.stdout.decode(errors="replace").split("\n", 1)[0].split()
        if proc.returncode != 0 or len(head) < 4 or head[0] != "graph":
            continue
        width, height = float(head[2]), float(head[3])
        if width <= 0 or height <= 0:
            continue
        score = abs(math.log((width / height) / target))
        if score < best_score:
            best, best_score = rankdir, score
    return best


def render(dot_text: str, out: Path, fmt: str) -> None:
    """Render dot text with Graphviz ``dot`` to ``out`` (png or svg): dot writes a temporary file
    beside it that replaces ``out`` only when dot succeeded, so no half-drawn picture is left."""
    dot = shutil.which("dot")
    if dot is None:
        raise OutputError(f"{fmt.upper()} output needs Graphviz's `dot` (apt-get install graphviz)", path=str(out))
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror}", path=str(out)) from exc
    try:
        try:
            proc = subprocess.run([dot, f"-T{fmt}", "-o", tmp], input=dot_text.encode(), capture_output=True,
                                  timeout=DOT_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise ExternalToolError(f"dot did not draw the graph in {DOT_TIMEOUT:g} s", path=str(out)) from None
        if proc.returncode != 0:
            raise ExternalToolError(f"dot failed with exit status {proc.returncode}", path=str(out),
                                    output=proc.stderr.decode(errors="replace"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def render_png(graph: ServiceGraph, out: Path) -> None:
    """The whole graph as PNG, sized for a slide (kept for callers of the earlier API)."""
    render(to_slide_dot(graph), out, "png")


def export(graph: ServiceGraph, fmt: str) -> str:
    if fmt == "json":
        return graph.to_json()
    if fmt == "dot":
        return to_dot(graph)
    if fmt == "mermaid":
        return to_mermaid(graph)
    raise ValueError(f"unknown graph format {fmt!r}")
