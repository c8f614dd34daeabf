"""PHP-FPM pools: listen address or socket, user and group, and env[]/php_admin_value settings
whose keys look secret."""

from __future__ import annotations

import re

from migrate.analyzers._php import php_ini_files
from migrate.analyzers._support import (
    SecretSink,
    config_file,
    enrich,
    pick_service,
    read_text,
    split_host_port,
)
from migrate.analyzers.base import Analyzer, Context, NotApplicable, looks_secret_key
from migrate.model.inventory import Findings, Port

POOLS = ("/etc/php/*/fpm/pool.d/*.conf", "/etc/php-fpm.d/*.conf", "/etc/php*/php-fpm.d/*.conf",
         "/usr/local/etc/php-fpm.d/*.conf")


class PhpFpmAnalyzer(Analyzer):
    name = "php_fpm"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        pools = [p for pattern in POOLS for p in ctx.rootfs.glob(pattern) if ctx.rootfs.is_file(p)]
        if not pools:
            raise NotApplicable("no php-fpm pools")
        f = Findings()
        users: list[str] = []
        for path in pools:
            m = re.match(r"^/etc/php/([\d.]+)/", path)
            candidates = [f"php{m.group(1)}-fpm"] if m else []
            service = pick_service(ctx, candidates + ["php-fpm", "php-fpm7", "php-fpm8"],
                                   candidates[0] if candidates else "php-fpm")
            sink = SecretSink(ctx, self, f, service)
            text = read_text(ctx, self, path, f)
            if text is None:
                continue
            before = len(f.secrets)
            pool = None
            for line in text.splitlines():
                s = line.strip()
                if not s or s.startswith((";", "#")):
                    continue
                if s.startswith("[") and s.endswith("]"):
                    pool = s[1:-1]
                    continue
                key, eq, value = s.partition("=")
                if not eq:
                    continue
                key, value = key.strip(), value.strip().strip("\"'")
                if key == "listen":
                    if value.startswith("/"):
                        f.ports.append(Port(service=service, proto="unix", path=value,
                                            evidence=self.evidence(path, f"pool {pool} listen")))
                    else:
                        addr, port = split_host_port(value)
                        if port is not None:
                            f.ports.append(Port(service=service, port=port, address=addr,
                                                evidence=self.evidence(path, f"pool {pool} listen")))
                elif key == "user" and value not in users:
                    users.append(value)
                else:
                    inner = re.match(r"^(?:env|php_admin_value|php_value)\[([^\]]+)\]$", key)
                    if inner and (looks_secret_key(inner.group(1)) or "://" in value):
                        sink.value(inner.group(1), value, path=path)
            f.configs.append(config_file(ctx, self, path, service=service, kind="php-fpm-pool", content=text,
                                         contains_secrets=len(f.secrets) > before))
            record = next((s for s in f.services if s.name == service), None)
            if record is None:
                version = m.group(1) if m else None
                main = next((c for c in (f"/etc/php/{version}/fpm/php-fpm.conf", "/etc/php-fpm.conf")
                             if ctx.rootfs.is_file(c)), None)
                ini_files, extensions = php_ini_files(ctx, self, f, sapi="fpm", version=version)
                record = enrich(ctx, self, service, path, role="php-fpm", modules=extensions)
                record.uses_files = ([main] if main else []) + ini_files + [e.path for e in extensions if e.path]
                f.services.append(record)
            record.uses_files.append(path)
        return f
