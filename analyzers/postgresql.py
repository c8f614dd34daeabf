"""PostgreSQL clusters: Debian's /etc/postgresql/<version>/<cluster>/ and the RHEL layout with the
configuration inside the data directory. Port, listen_addresses, unix socket directories and the
data directory (a database volume with the owner and mode it has in the guest)."""

from __future__ import annotations

import posixpath
import re

from migrate.analyzers._support import (
    PORT,
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

_LINE = re.compile(r"^\s*([A-Za-z_.]+)\s*(?:=\s*|\s+)('(?:[^']|'')*'|[^#\s]+)?")


def parse_pg_conf(text: str) -> list[tuple[str, str, int]]:
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _LINE.match(line)
        if not m or line.lstrip().startswith("#"):
            continue
        value = m.group(2) or ""
        if value.startswith("'"):
            value = value[1:-1].replace("''", "'")
        out.append((m.group(1).lower(), value, lineno))
    return out


class PostgresqlAnalyzer(Analyzer):
    name = "postgresql"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        fs = ctx.rootfs
        clusters: list[tuple[str, str | None, str | None, str]] = []  # conf, version, cluster, default data dir
        for conf in fs.glob("/etc/postgresql/*/*/postgresql.conf"):
            parts = conf.split("/")
            clusters.append((conf, parts[3], parts[4], f"/var/lib/postgresql/{parts[3]}/{parts[4]}"))
        for conf in fs.glob("/var/lib/pgsql/data/postgresql.conf") + fs.glob("/var/lib/pgsql/*/data/postgresql.conf"):
            version = conf.split("/")[4] if conf.count("/") == 6 else None
            clusters.append((conf, version, None, posixpath.dirname(conf)))
        if not clusters:
            raise NotApplicable("no postgresql.conf")
        f = Findings()
        debian = any(c[2] for c in clusters)
        for conf, version, cluster, default_data in clusters:
            settings: dict[str, tuple[str, str, int]] = {}
            self._load(ctx, f, conf, settings, 0, set())
            if debian and cluster:
                candidates = [f"postgresql@{version}-{cluster}"] + (["postgresql"] if len(clusters) == 1 else [])
                service = pick_service(ctx, candidates, candidates[-1])
            else:
                service = pick_service(ctx, [f"postgresql-{version}", "postgresql"] if version else ["postgresql"],
                                       "postgresql")
            for c in f.configs:
                c.service = c.service or service

            def get(key: str, default: str, settings: dict = settings, conf: str = conf) -> tuple[str, str]:
                v = settings.get(key)
                return (v[0], v[1]) if v else (default, conf)

            port_s, port_file = get("port", "5432")
            port = guest_number(self, f, port_s, PORT, path=port_file, what="the port") or 5432
            listen, listen_file = get("listen_addresses", "localhost")
            for addr in [a.strip() for a in listen.split(",") if a.strip()]:
                f.ports.append(Port(service=service, port=port, address=None if addr in ("*", "0.0.0.0", "::")
                                    else addr, evidence=self.evidence(listen_file, f"listen_addresses '{listen}', "
                                                                                   f"port {port} ({port_file})")))
            default_sock = "/var/run/postgresql" if debian else "/var/run/postgresql, /tmp"
            socks, sock_file = get("unix_socket_directories", get("unix_socket_directory", default_sock)[0])
            for d in [s.strip() for s in socks.split(",") if s.strip()]:
                if d.startswith("@"):
                    continue
                f.ports.append(Port(service=service, proto="unix", path=f"{d}/.s.PGSQL.{port}",
                                    evidence=self.evidence(sock_file, "unix_socket_directories")))
            data_dir, data_file = get("data_directory", default_data)
            pp = persistent_path(ctx, self, data_dir, service=service, kind="database",
                                 reason=f"postgresql data_directory from {data_file}", evidence_path=data_file)
            if pp:
                f.persistent_paths.append(pp)
            for key, kind in (("hba_file", "pg_hba.conf"), ("ident_file", "pg_ident.conf")):
                default = posixpath.join(posixpath.dirname(conf), kind)
                path, _ = get(key, default)
                if fs.is_file(path):
                    f.configs.append(config_file(ctx, self, path, service=service, kind=kind))
            start_conf = posixpath.join(posixpath.dirname(conf), "start.conf")
            start = (read_text(ctx, self, start_conf, f) or "").strip().splitlines()
            mode = next((ln.strip() for ln in start if ln.strip() and not ln.startswith("#")), None)
            detail = f"cluster {version}/{cluster}" + (f", start.conf {mode}" if mode else "") if cluster else None
            f.services.append(enrich(ctx, self, service, conf, role="postgresql"))
            f.services[-1].evidence[0].detail = detail or "role postgresql"
        return f

    def _load(self, ctx: Context, f: Findings, path: str, settings: dict, depth: int, loaded: set[str]) -> None:
        # each file once per cluster: 9 files that each include_dir their own folder would otherwise be
        # read 9^10 times (issue 8, D6)
        if path in loaded:
            return
        loaded.add(path)
        text = read_text(ctx, self, path, f)
        if text is None:
            return
        f.configs.append(config_file(ctx, self, path, service=None, kind="postgresql.conf", content=text))
        base = posixpath.dirname(path)
        for key, value, lineno in parse_pg_conf(text):
            if key in ("include", "include_if_exists", "include_dir"):
                if depth > 10:
                    f.unknowns.append(unknown(self, path, f"line {lineno}: includes nested too deeply"))
                    continue
                target = value if value.startswith("/") else posixpath.join(base, value)
                if key == "include_dir":
                    for inc in sorted(ctx.rootfs.glob(f"{target}/*.conf")):
                        self._load(ctx, f, inc, settings, depth + 1, loaded)
                elif ctx.rootfs.is_file(target):
                    self._load(ctx, f, target, settings, depth + 1, loaded)
                elif key == "include":
                    f.unknowns.append(unknown(self, path, f"line {lineno}: included file {target} is missing"))
                continue
            settings[key] = (value, path, lineno)
