"""lighttpd: lighttpd.conf with its includes (``include``, and Debian's ``include_shell`` helper that
includes conf-enabled/*.conf): server.port / server.bind and ``$SERVER["socket"]`` blocks listen,
server.document-root is the web root, server.username the account it drops to, ``proxy.server`` and
``fastcgi.server`` hosts are connections."""

from __future__ import annotations

import posixpath
import re

from migrate.analyzers._support import (
    PORT,
    config_file,
    enrich,
    expand_glob,
    guest_number,
    main_config,
    persistent_path,
    pick_service,
    read_text,
    split_host_port,
    unknown,
)
from migrate.analyzers.base import Analyzer, Context
from migrate.model.inventory import Connection, Findings, Port

MAIN = ("/etc/lighttpd/lighttpd.conf",)
ASSIGN_RE = re.compile(r'^\s*([\w.-]+)\s*(\+?=|:=)\s*(.+?)\s*$')
STRING_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')
SOCKET_RE = re.compile(r'^\s*\$SERVER\["socket"\]\s*==\s*"([^"]*)"')
HOSTPORT_RE = re.compile(r'"host"\s*=>\s*"([^"]+)"\s*,\s*"port"\s*=>\s*"?(\d+)')
SHELL_CONF_ENABLED = "include-conf-enabled"
# Debian's helpers that add nothing this analyzer reports: MIME types, and the same port on [::]
KNOWN_SHELL_HELPERS = ("create-mime.conf.pl", "use-ipv6.pl")


class LighttpdAnalyzer(Analyzer):
    name = "lighttpd"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        main = main_config(ctx, MAIN, "lighttpd.conf")
        self.f = f = Findings()
        self.ctx = ctx
        self.service = pick_service(ctx, ["lighttpd"], "lighttpd")
        self.vars: dict[str, tuple[str, str]] = {}
        self.sockets: list[tuple[str, str]] = []
        self._load(main, 0)
        port_s, port_file = self.vars.get("server.port", ("80", main))
        port = guest_number(self, f, port_s, PORT, path=port_file, what="the server port") or 80
        bind, bind_file = self.vars.get("server.bind", ("", main))
        addr = None if bind in ("", "0.0.0.0", "::") else bind
        if bind.startswith("/"):
            f.ports.append(Port(service=self.service, proto="unix", path=bind,
                                evidence=self.evidence(bind_file, "server.bind")))
        else:
            f.ports.append(Port(service=self.service, port=port, address=addr,
                                evidence=self.evidence(port_file, f"server.port = {port}")))
        for spec, path in self.sockets:
            a, p = split_host_port(spec)
            if p is not None and not (p == port and a == addr):
                f.ports.append(Port(service=self.service, port=p, address=a,
                                    evidence=self.evidence(path, f'$SERVER["socket"] == "{spec}"')))
        root, root_file = self.vars.get("server.document-root", ("", main))
        if root:
            pp = persistent_path(ctx, self, root.rstrip("/") or "/", service=self.service, kind="webroot",
                                 reason=f"lighttpd server.document-root in {root_file}; static content to ship "
                                        "with the image or mount", evidence_path=root_file)
            if pp:
                f.persistent_paths.append(pp)
        user = self.vars.get("server.username", ("", main))[0] or None
        svc = enrich(ctx, self, self.service, main, role="lighttpd")
        if user:
            svc.evidence[0].detail = f"role lighttpd; drops to user {user} (server.username)"
        f.services.append(svc)
        return f

    def _value(self, raw: str) -> str | None:
        """A string value: "literal", var.name, and concatenations of both with +."""
        parts = [p.strip() for p in re.split(r'\+(?=(?:[^"]*"[^"]*")*[^"]*$)', raw)]
        out = []
        for part in parts:
            m = STRING_RE.fullmatch(part)
            if m:
                out.append(m.group(1))
            elif part.isdecimal():
                out.append(part)
            elif part in self.vars:
                out.append(self.vars[part][0])
            else:
                return None
        return "".join(out)

    def _load(self, path: str, depth: int) -> None:
        if depth > 8 or path in {c.path for c in self.f.configs}:  # each file once: include loops end here
            return
        text = read_text(self.ctx, self, path, self.f)
        if text is None:
            return
        self.f.configs.append(config_file(self.ctx, self, path, service=self.service, kind="lighttpd.conf",
                                          content=text))
        base = posixpath.dirname(path)
        for lineno, line in enumerate(text.splitlines(), 1):
            s = line.split("#", 1)[0].strip() if not STRING_RE.search(line) else line.strip()
            if not s or s.startswith("#"):
                continue
            m = SOCKET_RE.match(s)
            if m:
                self.sockets.append((m.group(1), path))
                continue
            if s.startswith("include_shell"):
                if SHELL_CONF_ENABLED in s:  # Debian's helper: every conf-enabled/*.conf, in order
                    for inc in expand_glob(self.ctx, "/etc/lighttpd/conf-enabled/*.conf"):
                        self._load(inc, depth + 1)
                elif not any(helper in s for helper in KNOWN_SHELL_HELPERS):
                    self.f.unknowns.append(unknown(self, path, f"line {lineno}: include_shell not evaluated "
                                                                  "(a command's output is not known offline)"))
                continue
            if s.startswith("include "):
                m2 = STRING_RE.search(s)
                if m2:
                    target = m2.group(1)
                    pattern = target if target.startswith("/") else posixpath.join(base, target)
                    for inc in expand_glob(self.ctx, pattern) if any(c in pattern for c in "*?[") else [pattern]:
                        self._load(inc, depth + 1)
                continue
            for host, port_s in HOSTPORT_RE.findall(s):
                port = guest_number(self, self.f, port_s, PORT, path=path, what="a backend port")
                if port is None:
                    continue
                self.f.connections.append(Connection(
                    from_service=self.service, scheme="http", host=host, port=port,
                    url_redacted=f"{host}:{port}", via="lighttpd proxy/fastcgi server", evidence=self.evidence(path)))
            m = ASSIGN_RE.match(s)
            if m and m.group(2) in ("=", ":="):
                value = self._value(m.group(3))
                if value is not None:
                    self.vars[m.group(1)] = (value, path)
