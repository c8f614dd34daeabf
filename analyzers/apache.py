"""Apache httpd (Debian's apache2 layout and the RHEL httpd layout): Listen, VirtualHost,
ServerName, DocumentRoot, ProxyPass and balancer members, following Include/IncludeOptional globs."""

from __future__ import annotations

import posixpath
import re
import shlex

from migrate.analyzers._support import (
    config_file,
    enrich,
    persistent_path,
    pick_service,
    read_text,
    split_host_port,
    unknown,
)
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Connection, Findings, Port

LAYOUTS = (("/etc/apache2/apache2.conf", "/etc/apache2", ["apache2"]),
           ("/etc/httpd/conf/httpd.conf", "/etc/httpd", ["httpd"]),
           ("/usr/local/apache2/conf/httpd.conf", "/usr/local/apache2", ["httpd", "apache2"]))


class ApacheAnalyzer(Analyzer):
    name = "apache"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        layout = next((lay for lay in LAYOUTS if ctx.rootfs.lstat(lay[0]) is not None), None)
        if layout is None:
            raise NotApplicable("no apache2.conf or httpd.conf")
        main, self.server_root, names = layout
        f = Findings()
        self.ctx, self.f = ctx, f
        self.service = pick_service(ctx, names + ["apache2", "httpd"], names[0])
        self.env = self._envvars()
        lines: list[tuple[str, str, int]] = []
        self._load(main, lines, 0, set())
        ports: dict[tuple, Port] = {}
        roots: dict[str, str] = {}
        vhost: str | None = None
        balancers: dict[str, list[str]] = {}
        current_balancer: str | None = None
        proxies: list[tuple[str, str, int, str]] = []
        for text, path, lineno in lines:
            try:
                words = shlex.split(text, comments=False)
            except ValueError:
                words = text.split()
            if not words:
                continue
            key = words[0].lower()
            if key.startswith("<virtualhost"):
                vhost = " ".join(words)[len("<VirtualHost"):].rstrip(">").strip()
            elif key == "</virtualhost>":
                vhost = None
            elif key == "<proxy" and len(words) > 1 and words[1].rstrip(">").startswith("balancer://"):
                current_balancer = words[1].rstrip(">")
                balancers[current_balancer] = []
            elif key == "</proxy>":
                current_balancer = None
            elif key == "balancermember" and len(words) > 1 and current_balancer:
                balancers[current_balancer].append(words[1])
            elif key == "listen" and len(words) > 1:
                addr, port = split_host_port(words[1])
                if port is not None:
                    ports.setdefault(("tcp", addr, port), Port(
                        service=self.service, port=port, address=None if addr in ("::",) else addr,
                        evidence=self.evidence(path, f"Listen {' '.join(words[1:])} (line {lineno})")))
            elif key == "documentroot" and len(words) > 1:
                roots.setdefault(words[1].rstrip("/") or "/", path)
            elif key == "proxypass" and len(words) > 2 and words[2] != "!":
                proxies.append((words[2], path, lineno, vhost or "main server"))
            elif key == "servername" and len(words) > 1 and vhost is not None:
                vhost = f"{vhost} {words[1]}"
        for target, path, lineno, where in proxies:
            members = balancers.get(target.rstrip("/"))
            for url in members if members is not None else [target]:
                scheme, _, rest = url.partition("://")
                addr, port = split_host_port(rest.split("/", 1)[0])
                if port is None:
                    port = {"http": 80, "https": 443, "ajp": 8009, "ws": 80, "wss": 443}.get(scheme)
                f.connections.append(Connection(
                    from_service=self.service, scheme=scheme or "http", host=addr or "localhost", port=port,
                    url_redacted=url, via=f"ProxyPass ({where})" + (f" → {target}" if members is not None else ""),
                    evidence=self.evidence(path, f"line {lineno}")))
        f.ports.extend(ports.values())
        for root, evidence in sorted(roots.items()):
            pp = persistent_path(ctx, self, root, service=self.service, kind="webroot",
                                 reason=f"DocumentRoot in {evidence}; static content to ship with the image or mount",
                                 evidence_path=evidence)
            if pp:
                f.persistent_paths.append(pp)
        f.services.append(enrich(ctx, self, self.service, main, role="apache"))
        return f

    def _envvars(self) -> dict[str, str]:
        text = read_text(self.ctx, self, f"{self.server_root}/envvars", self.f) or ""
        return dict(re.findall(r"^\s*export\s+([A-Z_]+)=[\"']?([^\"'\s$]*)", text, re.M))

    def _load(self, path: str, out: list[tuple[str, str, int]], depth: int, stack: set[str]) -> None:
        text = read_text(self.ctx, self, path, self.f)
        if text is None:
            return
        kind = "apache-site" if "/sites-" in path or "/conf.d/" in path else "apache-conf"
        self.f.configs.append(config_file(self.ctx, self, path, service=self.service, kind=kind, content=text))
        raw = text.splitlines()
        i = 0
        while i < len(raw):
            lineno = i + 1
            line = raw[i]
            i += 1
            while line.endswith("\\") and i < len(raw):
                line = line[:-1] + " " + raw[i].strip()
                i += 1
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            s = re.sub(r"\$\{(\w+)\}", lambda m: self.env.get(m.group(1), m.group(0)), s)
            words = s.split(None, 1)
            if words[0].lower() in ("include", "includeoptional") and len(words) > 1:
                pattern = words[1].strip().strip("\"'")
                if not pattern.startswith("/"):
                    pattern = posixpath.join(self.server_root, pattern)
                if depth > 16:
                    self.f.unknowns.append(unknown(self, path, f"line {lineno}: includes nested too deeply"))
                    continue
                matches = self.ctx.rootfs.glob(pattern)
                if self.ctx.rootfs.is_dir(pattern):
                    matches = [p for p in self.ctx.rootfs.iterdir(pattern)]
                if not matches and words[0].lower() == "include" and not any(c in pattern for c in "*?["):
                    self.f.unknowns.append(unknown(self, path, f"line {lineno}: included file {pattern} is missing"))
                for inc in matches:
                    if inc not in stack and self.ctx.rootfs.is_file(inc):
                        self._load(inc, out, depth + 1, stack | {path})
                continue
            out.append((s, path, lineno))
