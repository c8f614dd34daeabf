"""MySQL / MariaDB: my.cnf with !include / !includedir, the server sections' port, datadir,
bind-address and socket; passwords in client sections (debian.cnf) become secrets."""

from __future__ import annotations

import posixpath
import re

from migrate.analyzers._support import (
    PORT_OR_ZERO,
    SecretSink,
    config_file,
    enrich,
    guest_number,
    persistent_path,
    pick_service,
    read_text,
    unknown,
)
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, Port

MAIN = ("/etc/mysql/my.cnf", "/etc/my.cnf", "/etc/mysql/mariadb.cnf")
EXTRA = ("/etc/mysql/debian.cnf",)
SERVER_BINARIES = ("/usr/sbin/mysqld", "/usr/sbin/mariadbd", "/usr/libexec/mysqld", "/usr/libexec/mariadbd",
                   "/usr/bin/mysqld_safe")
SERVER_SECTIONS = re.compile(r"^(mysqld|mariadb|mariadbd|server|client-server|mysqld-[\d.]+|mariadb-[\d.]+|galera)$")


class MysqlAnalyzer(Analyzer):
    name = "mysql"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        fs = ctx.rootfs
        mains = [p for p in MAIN if fs.is_file(p)]
        if not mains:
            raise NotApplicable("no my.cnf")
        self.service = pick_service(ctx, ["mariadb", "mysql", "mysqld"], "")
        if not self.service and not any(fs.exists(p) for p in SERVER_BINARIES):
            # my.cnf alone comes with the client libraries (mysql-common)
            raise NotApplicable("my.cnf but no MySQL/MariaDB server")
        self.service = self.service or ("mariadb" if fs.exists("/usr/sbin/mariadbd") else "mysql")
        f = Findings()
        self.ctx, self.f = ctx, f
        self.sink = SecretSink(ctx, self, f, self.service)
        self.seen: set[str] = set()
        self.files: list[str] = []
        server: dict[str, tuple[str, str]] = {}
        for path in [mains[0], *EXTRA]:
            self._load(path, server, 0)
        port_s, port_file = server.get("port", ("3306", mains[0]))
        port = guest_number(self, f, port_s, PORT_OR_ZERO, path=port_file, what="the port") or 3306  # 0: default
        skip_networking = server.get("skip-networking", ("0", ""))[0].lower() in ("", "1", "on", "true")
        if not skip_networking:
            bind, bind_file = server.get("bind-address", ("*", port_file))
            for addr in [a.strip() for a in bind.split(",") if a.strip()]:
                f.ports.append(Port(service=self.service, port=port,
                                    address=None if addr in ("*", "0.0.0.0", "::") else addr,
                                    evidence=self.evidence(bind_file, f"bind-address {bind}, port {port}")))
        sock, sock_file = server.get("socket", ("/run/mysqld/mysqld.sock" if fs.is_dir("/etc/mysql")
                                                else "/var/lib/mysql/mysql.sock", mains[0]))
        f.ports.append(Port(service=self.service, proto="unix", path=sock, evidence=self.evidence(sock_file, "socket")))
        datadir, data_file = server.get("datadir", ("/var/lib/mysql", mains[0]))
        pp = persistent_path(ctx, self, datadir.rstrip("/") or "/", service=self.service, kind="database",
                             reason=f"mysql datadir from {data_file}" + ("" if "datadir" in server else " (default)"),
                             evidence_path=data_file)
        if pp:
            f.persistent_paths.append(pp)
        record = enrich(ctx, self, self.service, mains[0], role="mysql")
        record.uses_files = list(self.files)
        f.services.append(record)
        return f

    def _load(self, path: str, server: dict[str, tuple[str, str]], depth: int) -> None:
        real = self.ctx.rootfs.resolve(path) if self.ctx.rootfs.exists(path) else path
        if real in self.seen:
            return
        self.seen.add(real)
        text = read_text(self.ctx, self, path, self.f)
        if text is None:
            return
        self.files += [path] if real == path else [path, real]
        before = len(self.f.secrets)
        section = ""
        for lineno, line in enumerate(text.splitlines(), 1):
            s = line.strip()
            if not s or s.startswith(("#", ";")):
                continue
            if s.startswith("!include"):
                directive, _, target = s.partition(" ")
                target = target.strip()
                if depth > 10:
                    self.f.unknowns.append(unknown(self, path, f"line {lineno}: includes nested too deeply"))
                    continue
                if not target.startswith("/"):
                    target = posixpath.join(posixpath.dirname(path), target)
                if directive == "!includedir":
                    for inc in self.ctx.rootfs.glob(f"{target}/*.cnf"):
                        self._load(inc, server, depth + 1)
                else:
                    self._load(target, server, depth + 1)
                continue
            if s.startswith("[") and s.endswith("]"):
                section = s[1:-1].strip().lower()
                continue
            key, eq, value = s.partition("=")
            key = key.strip().lower().replace("_", "-")
            value = re.sub(r"\s+#.*$", "", value.strip()).strip().strip("\"'") if eq else ""
            if key in ("password", "pass") or key.endswith("-password"):
                if value:
                    self.sink.secret(value, key=f"{section}.{key}", kind="password", redacted="****", path=path)
                continue
            if SERVER_SECTIONS.match(section):
                server[key] = (value, path)
        kind = "mysql-client-credentials" if path.endswith("debian.cnf") else "my.cnf"
        self.f.configs.append(config_file(self.ctx, self, path, service=self.service, kind=kind, content=text,
                                          contains_secrets=len(self.f.secrets) > before))
