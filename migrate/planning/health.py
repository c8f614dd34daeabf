"""Healthcheck step: the server kind's own client when it has one, else HTTP for HTTP servers, else a
TCP connect; the first TCP port the service really listens on is probed."""

from __future__ import annotations

from migrate.kinds import Kind, KindContext
from migrate.model.inventory import Service
from migrate.model.plan import Healthcheck, PortSpec
from migrate.planning.context import PlanContext

HTTP_PORTS = (80, 8000, 8080, 8008, 3000)  # ports conventionally spoken HTTP on, when nothing else tells


def healthcheck_for(ctx: PlanContext, s: Service, kind: Kind, kctx: KindContext, ports: list[PortSpec],
                    pkgs: list[str]) -> tuple[Healthcheck, list[str]]:
    tcp = [p for p in ports if p.proto == "tcp"]
    if not tcp:
        return Healthcheck(kind="none", test=["NONE"], reason="listens on no TCP port: nothing to probe; "
                           "Docker watches the process"), []
    port = tcp[0].port
    own = kind.healthcheck(port, kctx)
    if own is not None:
        return own, []
    http_callers = [e for e in ctx.graph.edges if e.kind == "connects-to" and e.target == f"service:{s.name}"
                    and ((e.detail or "").lower().split(":")[0] in ("proxy_pass", "http", "https")
                         or (e.detail or "").startswith("upstream"))]
    if kind.http or http_callers or port in HTTP_PORTS:
        url = f"http://127.0.0.1:{port}/"
        if kind.http:
            spoken = f"role {s.role or kind.name}"
        elif http_callers:
            spoken = "spoken to over HTTP by " + ", ".join(sorted(
                {ctx.by_service.get(e.source.removeprefix("service:"), "?") for e in http_callers}))
        else:
            spoken = f"port {port}"
        why_http = f"an HTTP server ({spoken}): any answer below 500 is healthy"
        if any(p.startswith("python3") for p in pkgs):
            code = ("import sys, urllib.request as r, urllib.error as e\n"
                    "try:\n    r.urlopen('" + url + "', timeout=4)\n"
                    "except e.HTTPError as x:\n    sys.exit(x.code >= 500)\n"
                    "except Exception:\n    sys.exit(1)")
            return Healthcheck(kind="http", test=["CMD", "python3", "-c", code], start_period=kind.start_period,
                               reason=f"HTTP GET {url} with the container's own python3; {why_http}"), []
        for tool in ("curl", "wget"):
            if tool in ctx.installed:
                cmd = (f"curl -s -o /dev/null -w '%{{http_code}}' {url} | grep -q '^[234]'" if tool == "curl"
                       else f"wget -q -S -O /dev/null {url} 2>&1 | grep -q 'HTTP/[0-9.]* [234]'")
                return Healthcheck(kind="http", test=["CMD-SHELL", cmd], start_period=kind.start_period,
                                   reason=f"HTTP GET {url} with {tool} (installed in the VM, added to the "
                                          f"image); {why_http}"), [tool]
        if ctx.base.family != "alpine":
            # bash's /dev/tcp speaks enough HTTP/1.0 to read the status line: no client to install
            script = (f"exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET / HTTP/1.0\\r\\nHost: localhost\\r\\n"
                      "Connection: close\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q '^HTTP/[0-9.]* [1-4][0-9][0-9]'")
            return Healthcheck(kind="http", test=["CMD", "bash", "-c", script], start_period=kind.start_period,
                               reason=f"HTTP GET {url} with bash's /dev/tcp (no HTTP client in the image); "
                                      f"{why_http}"), []
    if ctx.base.family == "alpine":
        test = ["CMD", "nc", "-z", "127.0.0.1", str(port)]
        tool = "busybox nc"
    else:
        test = ["CMD", "bash", "-c", f"</dev/tcp/127.0.0.1/{port}"]
        tool = "bash's /dev/tcp"
    return Healthcheck(kind="tcp", test=test, start_period=kind.start_period,
                       reason=f"TCP connect to {port} with {tool} (no HTTP client in the image)"), []
