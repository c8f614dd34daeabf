"""Redis: redis.conf (and its includes): port, bind, unixsocket, dir (a data volume), requirepass,
masterauth and ACL user passwords (secrets)."""

from __future__ import annotations

import posixpath
import shlex

from migrate.analyzers._support import (
    PORT_OR_ZERO,
    SecretSink,
    config_file,
    enrich,
    guest_number,
    main_config,
    persistent_path,
    pick_service,
    read_text,
    unknown,
)
from migrate.analyzers.base import Analyzer, Context
from migrate.model.inventory import Findings, Port

MAIN = ("/etc/redis/redis.conf", "/etc/redis.conf", "/usr/local/etc/redis.conf", "/etc/redis/6379.conf")


class RedisAnalyzer(Analyzer):
    name = "redis"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        main = main_config(ctx, MAIN, "redis.conf")
        f = Findings()
        self.ctx, self.f = ctx, f
        self.service = pick_service(ctx, ["redis-server", "redis", "redis-server@", "valkey-server", "valkey"],
                                    "redis-server")
        self.sink = SecretSink(ctx, self, f, self.service)
        conf: dict[str, tuple[list[str], str]] = {}
        self._loaded: set[str] = set()
        self._load(main, conf, 0, set())
        port_s, port_file = conf.get("port", (["6379"], main))
        value = guest_number(self, f, port_s[0] if port_s else None, PORT_OR_ZERO, path=port_file, what="the port")
        port = 6379 if value is None else value  # 0: no TCP listener
        if port:
            binds, bind_file = conf.get("bind", (["*"], main))
            for addr in binds:
                addr = addr.lstrip("-")
                f.ports.append(Port(service=self.service, port=port,
                                    address=None if addr in ("*", "0.0.0.0", "::", "::*") else addr,
                                    evidence=self.evidence(bind_file, f"bind {' '.join(binds)}, port {port}")))
        if "unixsocket" in conf:
            sock, sock_file = conf["unixsocket"]
            f.ports.append(Port(service=self.service, proto="unix", path=sock[0],
                                evidence=self.evidence(sock_file, "unixsocket")))
        datadir, dir_file = conf.get("dir", (["./"], main))
        path = datadir[0]
        if not path.startswith("/"):
            default = path in ("./", ".")
            path = "/var/lib/redis" if default else posixpath.join("/", path)
            f.unknowns.append(unknown(self, dir_file, "relative dir: depends on the working directory at run time; "
                                                      + ("assumed /var/lib/redis" if default else "assumed relative "
                                                                                                  "to /")))
        pp = persistent_path(ctx, self, path.rstrip("/") or "/", service=self.service, kind="data",
                             reason=f"redis dir from {dir_file} (RDB/AOF files)", evidence_path=dir_file)
        if pp:
            f.persistent_paths.append(pp)
        f.services.append(enrich(ctx, self, self.service, main, role="redis"))
        return f

    def _load(self, path: str, conf: dict, depth: int, stack: set[str]) -> None:
        # each file once: files that each include the others' glob would otherwise be read
        # exponentially often (issue 8, D6)
        if path in self._loaded:
            return
        self._loaded.add(path)
        text = read_text(self.ctx, self, path, self.f)
        if text is None:
            return
        before = len(self.f.secrets)
        for lineno, line in enumerate(text.splitlines(), 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            try:
                words = shlex.split(s)
            except ValueError:
                words = s.split()
            if not words:
                continue
            key = words[0].lower()
            if key == "include" and len(words) > 1:
                if depth > 10:
                    self.f.unknowns.append(unknown(self, path, f"line {lineno}: includes nested too deeply"))
                    continue
                for inc in self.ctx.rootfs.glob(words[1]) or [words[1]]:
                    if inc in stack:
                        continue
                    if not self.ctx.rootfs.is_file(inc):
                        self.f.unknowns.append(unknown(self, path, f"line {lineno}: included file {inc} is missing"))
                        continue
                    self._load(inc, conf, depth + 1, stack | {path})
                continue
            if key in ("requirepass", "masterauth") and len(words) > 1:
                self.sink.secret(words[1], key=key, kind="requirepass" if key == "requirepass" else "password",
                                 redacted="****", path=path)
                continue
            if key == "user" and len(words) > 1:
                for rule in words[2:]:
                    if rule.startswith(">") and len(rule) > 1:
                        self.sink.secret(rule[1:], key=f"user {words[1]}", kind="password", redacted="****",
                                         path=path)
                continue
            conf[key] = (words[1:], path)
        self.f.configs.append(config_file(self.ctx, self, path, service=self.service, kind="redis.conf", content=text,
                                          contains_secrets=len(self.f.secrets) > before))
