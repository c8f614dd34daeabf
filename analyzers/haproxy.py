"""HAProxy: haproxy.cfg (sections global/defaults/frontend/backend/listen, and conf.d fragments):
``bind`` lines are what listens, ``server`` lines are the connections to the balanced servers,
``user``/``group`` the account it drops to, ``stats auth`` and ``userlist`` passwords are secrets."""

from __future__ import annotations

import shlex

from migrate.analyzers._support import (
    SecretSink,
    config_file,
    enrich,
    main_config,
    pick_service,
    read_text,
    split_host_port,
    unknown,
)
from migrate.analyzers.base import REDACTED, Analyzer, Context
from migrate.model.inventory import Connection, Findings, Port

MAIN = ("/etc/haproxy/haproxy.cfg", "/usr/local/etc/haproxy/haproxy.cfg")
FRAGMENTS = "/etc/haproxy/conf.d/*.cfg"
SECTIONS = ("global", "defaults", "frontend", "backend", "listen", "userlist", "peers", "resolvers", "program",
            "mailers", "cache", "http-errors", "ring")  # fmt: skip


def _words(line: str) -> list[str]:
    s = line.split("#", 1)[0].strip() if "#" in line and not line.strip().startswith("#") else line.strip()
    if not s or s.startswith("#"):
        return []
    try:
        return shlex.split(s)
    except ValueError:
        return s.split()


class HaproxyAnalyzer(Analyzer):
    name = "haproxy"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        main = main_config(ctx, MAIN, "haproxy.cfg")
        f = Findings()
        service = pick_service(ctx, ["haproxy"], "haproxy")
        sink = SecretSink(ctx, self, f, service)
        user = group = None
        paths = [main, *[p for p in ctx.rootfs.glob(FRAGMENTS) if ctx.rootfs.is_file(p)]]
        for path in paths:
            text = read_text(ctx, self, path, f)
            if text is None:
                continue
            before = len(f.secrets)
            section, sname, mode = "", "", "tcp"
            defaults_mode = "tcp"
            for lineno, line in enumerate(text.splitlines(), 1):
                w = _words(line)
                if not w:
                    continue
                if w[0] in SECTIONS and not line[:1].isspace():
                    section, sname = w[0], (w[1] if len(w) > 1 else "")
                    mode = defaults_mode
                    continue
                key = w[0]
                where = f"{section} {sname}".strip() + f", line {lineno}"
                if key == "mode" and len(w) > 1:
                    mode = w[1]
                    if section == "defaults":
                        defaults_mode = w[1]
                elif section == "global" and key in ("user", "uid") and len(w) > 1:
                    user = w[1]
                elif section == "global" and key in ("group", "gid") and len(w) > 1:
                    group = w[1]
                elif key == "bind" and section in ("frontend", "listen") and len(w) > 1:
                    for addr_s in w[1].split(","):
                        if addr_s.startswith(("/", "unix@")):
                            f.ports.append(Port(service=service, proto="unix", path=addr_s.removeprefix("unix@"),
                                                evidence=self.evidence(path, f"bind in {where}")))
                            continue
                        addr, port = split_host_port(addr_s.removeprefix("ipv4@").removeprefix("ipv6@"))
                        if port is None:
                            f.unknowns.append(unknown(self, path, f"bind without a port in {where}"))
                            continue
                        f.ports.append(Port(service=service, port=port, address=addr,
                                            evidence=self.evidence(path, f"bind {addr_s} in {where}")))
                elif key == "server" and section in ("backend", "listen") and len(w) > 2:
                    host, port = split_host_port(w[2])
                    if host is None or port is None:
                        f.unknowns.append(unknown(self, path, f"a server without host:port in {where}"))
                        continue
                    scheme = "https" if "ssl" in w[3:] else ("http" if mode == "http" else "tcp")
                    f.connections.append(Connection(
                        from_service=service, scheme=scheme, host=host, port=port, url_redacted=w[2],
                        via=f"haproxy {section} {sname} server {w[1]}", evidence=self.evidence(path, where)))
                elif key == "stats" and len(w) > 2 and w[1] == "auth" and ":" in w[2]:
                    name, _, password = w[2].partition(":")
                    sink.secret(password, key=f"stats auth {name}", kind="password",
                                redacted=f"{name}:{REDACTED}", path=path)
                elif section == "userlist" and key == "user" and len(w) > 3 and w[2] in ("password",
                                                                                    "insecure-password"):
                    sink.secret(w[3], key=f"userlist {sname} user {w[1]}",
                                kind="password-hash" if w[2] == "password" else "password",
                                redacted=REDACTED, path=path)
            f.configs.append(config_file(ctx, self, path, service=service, kind="haproxy.cfg", content=text,
                                         contains_secrets=len(f.secrets) > before))
        svc = enrich(ctx, self, service, main, role="haproxy")
        if user or group:  # the account it drops to after binding (it starts as root for chroot and ports)
            svc.evidence[0].detail = f"role haproxy; drops to user {user or '-'} group {group or '-'}"
        f.services.append(svc)
        return f
