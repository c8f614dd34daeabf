"""Varnish: varnishd's command line (the unit's ExecStart after drop-ins, or DAEMON_OPTS of a SysV
default file) says where it listens (-a), its admin port (-T), the VCL (-f) and the admin secret
file (-S); the VCL's ``backend`` blocks are its connections."""

from __future__ import annotations

import re
import shlex

from migrate.analyzers._support import (
    config_file,
    digits_port,
    enrich,
    known_services,
    parse_env_file,
    pick_service,
    read_text,
    split_host_port,
    unknown,
)
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Connection, Findings, Port

DEFAULT_VCL = "/etc/varnish/default.vcl"
BACKEND_RE = re.compile(r"\bbackend\s+(\w+)\s*\{(.*?)\}", re.S)
FIELD_RE = re.compile(r"\.(host|port)\s*=\s*\"([^\"]*)\"\s*;")
INCLUDE_RE = re.compile(r"^\s*include\s+\"([^\"]+)\"\s*;", re.M)


def options(argv: list[str]) -> dict[str, list[str]]:
    """varnishd's single-letter options with their values (``-a`` may repeat)."""
    out: dict[str, list[str]] = {}
    i = 1
    while i < len(argv):
        a = argv[i]
        if re.fullmatch(r"-[a-zA-Z]", a):
            if a == "-F" or i + 1 >= len(argv):  # -F (foreground) takes no value
                out.setdefault(a, []).append("")
            else:
                out.setdefault(a, []).append(argv[i + 1])
                i += 1
        elif re.fullmatch(r"-[a-zA-Z].+", a):
            out.setdefault(a[:2], []).append(a[2:])
        i += 1
    return out


class VarnishAnalyzer(Analyzer):
    name = "varnish"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        service = pick_service(ctx, ["varnish", "varnishd"], "varnish")
        svc = known_services(ctx).get(service)
        f = Findings()
        argv, where = (list(svc.exec_start), svc.unit_path or "") if svc and svc.exec_start else ([], "")
        if not argv or "varnishd" not in argv[0]:
            text = read_text(ctx, self, "/etc/default/varnish", f)
            opts_s = next((v for k, v, _ in parse_env_file(text or "") if k == "DAEMON_OPTS"), None)
            if opts_s is None:
                if not ctx.rootfs.is_file(DEFAULT_VCL):
                    raise NotApplicable("no varnishd command line and no VCL")
                argv, where = ["/usr/sbin/varnishd", "-f", DEFAULT_VCL], DEFAULT_VCL
            else:
                argv, where = ["/usr/sbin/varnishd", *shlex.split(opts_s)], "/etc/default/varnish"
        opts = options(argv)
        for n, listen in enumerate(opts.get("-a", []) or [":6081"], 1):
            spec = listen.split(",", 1)[0]
            if "=" in spec:  # name=address
                spec = spec.split("=", 1)[1]
            if spec.startswith("/"):
                f.ports.append(Port(service=service, proto="unix", path=spec, evidence=self.evidence(where, "-a")))
                continue
            addr, port = split_host_port(spec)
            if port is None:
                f.unknowns.append(unknown(self, where, f"-a option {n}: no port"))
                continue
            f.ports.append(Port(service=service, port=port, address=addr,
                                evidence=self.evidence(where, f"-a {listen}")))
        for admin in opts.get("-T", []):
            addr, port = split_host_port(admin)
            if port:
                f.ports.append(Port(service=service, port=port, address=addr or None,
                                    evidence=self.evidence(where, f"-T {admin} (management interface)")))
        for secret_path in opts.get("-S", []):
            # the management secret is the whole file: no key a template could fill, so the file is marked
            # as holding a secret and is never copied (the planner reports it); its value is not recorded
            if ctx.rootfs.is_file(secret_path):
                f.configs.append(config_file(ctx, self, secret_path, service=service, kind="varnish-secret",
                                             content=b"", contains_secrets=True,
                                             detail="-S: management interface secret"))
        for vcl in opts.get("-f", []) or [DEFAULT_VCL]:
            self._vcl(ctx, f, service, vcl, 0)
        f.services.append(enrich(ctx, self, service, where or DEFAULT_VCL, role="varnish"))
        return f

    def _vcl(self, ctx: Context, f: Findings, service: str, path: str, depth: int) -> None:
        if depth > 8 or path in {c.path for c in f.configs}:  # each file once: include loops end here
            return
        text = read_text(ctx, self, path, f)
        if text is None:
            return
        f.configs.append(config_file(ctx, self, path, service=service, kind="vcl", content=text))
        clean = re.sub(r"(?m)(#|//).*$", "", text)
        for name, body in BACKEND_RE.findall(clean):
            fields = dict(FIELD_RE.findall(body))
            host = fields.get("host")
            if not host:
                continue
            h, p = split_host_port(host)
            port = digits_port(self, f, fields.get("port"), path=path, what="a backend port") or p or 80
            f.connections.append(Connection(from_service=service, scheme="http", host=h or host, port=port,
                                            url_redacted=f"http://{h or host}:{port}", via=f"vcl backend {name}",
                                            evidence=self.evidence(path, f"backend {name}")))
        for inc in INCLUDE_RE.findall(clean):
            self._vcl(ctx, f, service, inc if inc.startswith("/") else f"/etc/varnish/{inc}", depth + 1)
