"""Localhost step: clients that reach a sibling as localhost in code the plan cannot rewrite.

In the VM a PHP page's ``mysqli("localhost")`` talks to MariaDB's Unix socket, and code may hard-code
``127.0.0.1:6379``. In the stack the server is another container: the files step rewrites host names
where it can (environment values, ``host:port`` in copied config files); for the rest this step keeps
the client's view of localhost true, from evidence only (the inventory's connections, the server's
listening ports and sockets), never from the server's kind:

- a Unix-socket client: the server's socket directory becomes a named volume mounted in both
  containers (Compose and a single-node swarm share a local volume; on several nodes the client is
  pinned next to the server);
- a TCP client: a forwarder in the client container listens on 127.0.0.1:PORT and carries the
  connection to the sibling (socat from the distribution, started by the entrypoint).
"""

from __future__ import annotations

import posixpath
import re

from migrate.graph import resolve_connection
from migrate.model.inventory import Connection, Port
from migrate.model.plan import Container, Forwarder, PinnedPackage, Volume, VolumeMount
from migrate.planning.base_image import pin
from migrate.planning.context import PlanContext

FORWARDER_PACKAGE = "socat"


def _norm(path: str) -> str:
    """/var/run is /run on every current distribution."""
    return "/run" + path[len("/var/run"):] if path.startswith("/var/run/") else path


def socket_port(ctx: PlanContext, c: Connection) -> Port | None:
    want = _norm(c.unix_socket or c.host)
    return next((p for p in ctx.inv.ports if p.proto == "unix" and p.path and _norm(p.path) == want), None)


def rewritten(ctx: PlanContext, client: Container, c: Connection, port: int) -> bool:
    """True when the files step already points the client at the sibling by name: an environment
    value, or ``host:port`` in a config file copied with edits (checked in the file when a guest
    reader is there). Files inside copied trees are never edited."""
    if c.via and any(e.name == c.via for e in client.environment):
        return True
    path = c.evidence.path
    copy = next((f for f in client.files if f.kind == "config" and f.source == path), None)
    if copy is None:
        return False
    if ctx.reader is None:
        return True  # the edit is planned; without the guest it cannot be checked
    try:
        text = ctx.reader.read_bytes(path, max_bytes=4 << 20).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - unreadable: the file copy reports it
        return True
    return re.search(rf"(?<![\w.-]){re.escape(c.host)}:{port}(?!\d)", text) is not None


def bridge(ctx: PlanContext, containers: list[Container], volumes: list[Volume]) -> None:
    by_name = {c.name: c for c in containers}
    for c in sorted(ctx.inv.connections, key=lambda c: (c.from_service or "", c.host, c.port or 0)):
        client = by_name.get(ctx.by_service.get(c.from_service or "", ""))
        if client is None:
            continue
        if c.unix_socket or c.host.startswith("/"):
            sock = socket_port(ctx, c)
            server = by_name.get(ctx.by_service.get(sock.service or "", "")) if sock else None
            if sock and server and server is not client and not rewritten(ctx, client, c, 0):
                share_socket(ctx, client, server, c, sock, volumes)
                continue
        target = resolve_connection(ctx.inv, c)
        if not isinstance(target, Port) or target.proto != "tcp" or not target.port:
            continue
        server = by_name.get(ctx.by_service.get(target.service or "", ""))
        if server is None or server is client or rewritten(ctx, client, c, target.port):
            continue
        forward(ctx, client, server, c, target.port)


def share_socket(ctx: PlanContext, client: Container, server: Container, c: Connection, sock: Port,
                 volumes: list[Volume]) -> None:
    server_dir = posixpath.dirname(_norm(sock.path or ""))
    client_dir = posixpath.dirname(_norm(c.unix_socket or c.host))
    name = f"{server.name}-socket"
    why = (f"{c.from_service} reaches {sock.service} through the Unix socket {c.unix_socket or c.host} "
           f"({c.via or c.scheme} in {c.evidence.path}: localhost means the socket, and the code cannot be "
           f"rewritten); the server's socket directory is a named volume mounted in both containers")
    if not any(v.name == name for v in volumes):
        volumes.append(Volume(name=name, service=server.name, path=server_dir, labels=ctx.stack_labels(),
                              reason=why + "; it holds no data: nothing to export or import"))
    if not any(v.volume == name for v in server.volumes):
        server.volumes.append(VolumeMount(volume=name, target=server_dir, uid=server.user.uid, gid=server.user.gid,
                                          mode=0o755, reason=f"the server's socket directory, shared with "
                                                             f"{client.name}: {why}"))
    if not any(v.volume == name for v in client.volumes):
        client.volumes.append(VolumeMount(volume=name, target=client_dir, uid=server.user.uid, gid=server.user.gid,
                                          mode=0o755, reason=f"{server.name}'s socket directory: {why}"))
    pin_together(client, server, name)


def pin_together(client: Container, server: Container, volume: str) -> None:
    """A local named volume is shared only on one node: the client runs where the server runs."""
    for constraint in server.deploy.placement_constraints or ["node.role == manager"]:
        if constraint not in client.deploy.placement_constraints:
            client.deploy.placement_constraints.append(constraint)
            client.deploy.reason += (f"; placed with {server.name} ({constraint}) because both mount the local "
                                     f"volume {volume}")


def forward(ctx: PlanContext, client: Container, server: Container, c: Connection, port: int) -> None:
    if any(f.listen == port for f in client.forwarders) or any(p.port == port for p in client.ports):
        return
    client.forwarders.append(Forwarder(
        listen=port, service=server.name, port=port,
        reason=(f"{c.from_service} reaches {c.host}:{port} ({c.via or c.scheme} in {c.evidence.path}), code the "
                f"plan cannot rewrite; in the stack that port is the {server.name} container: the entrypoint "
                f"starts socat on 127.0.0.1:{port} forwarding to {server.name}:{port}")))
    installed = ctx.installed.get(FORWARDER_PACKAGE)
    if not any(p.name == FORWARDER_PACKAGE for p in client.packages.items):
        version = installed.version if installed else ""
        client.packages.items.append(PinnedPackage(
            name=FORWARDER_PACKAGE, version=version,
            spec=pin(ctx.manager, FORWARDER_PACKAGE, version) if version else FORWARDER_PACKAGE,
            reason="the localhost forwarder (forwarders)" + ("" if installed else
                                                              ": not in the VM, the distribution's current version")))
        client.packages.items.sort(key=lambda p: p.name)
