"""Prometheus and its exporters. The server's flags (the unit's ExecStart, or ``ARGS`` of the
EnvironmentFile it reads when the ExecStart still says ``$ARGS``) give the listen address, the config
file and the TSDB path (data); prometheus.yml's scrape targets are its connections. Exporters
(``prometheus-*-exporter``, ``node_exporter``) listen on ``--web.listen-address``."""

from __future__ import annotations

import re
import shlex

import yaml

from migrate.analyzers._support import (
    config_file,
    enrich,
    known_services,
    parse_env_file,
    persistent_path,
    read_text,
    split_host_port,
    unknown,
)
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Connection, Findings, Port, Service

SERVER_RE = re.compile(r"^prometheus$")
EXPORTER_RE = re.compile(r"^(prometheus-[\w-]+-exporter|node_exporter|[\w-]+_exporter)$")
# Debian builds these defaults into its prometheus binary (debian/patches); upstream's are relative
DEFAULTS = {"--config.file": "/etc/prometheus/prometheus.yml", "--storage.tsdb.path": "/var/lib/prometheus/metrics2/",
            "--web.listen-address": ":9090"}  # fmt: skip
MAX_ITEMS = 1000  # scrape jobs, static configs per job, targets per config, rule files
EXPORTER_PORTS = {"node": 9100, "blackbox": 9115, "mysqld": 9104, "postgres": 9187, "redis": 9121,
                  "apache": 9117, "nginx": 9113, "haproxy": 9101, "bind": 9119, "process": 9256}  # fmt: skip


def flags(argv: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            if "=" in a:
                k, _, v = a.partition("=")
                out[k] = v
            elif i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                out[a] = argv[i + 1]
                i += 1
            else:
                out[a] = ""
        i += 1
    return out


class PrometheusAnalyzer(Analyzer):
    name = "prometheus"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        f = Findings()
        found = False
        for svc in known_services(ctx).values():
            exe = svc.exec_start[0].rsplit("/", 1)[-1] if svc.exec_start else ""
            if SERVER_RE.match(exe):
                found = True
                self._server(ctx, f, svc, self._argv(ctx, f, svc))
            elif EXPORTER_RE.match(exe):
                found = True
                self._exporter(ctx, f, svc, self._argv(ctx, f, svc))
        if not found:
            raise NotApplicable("no prometheus server or exporter service")
        return f

    def _argv(self, ctx: Context, f: Findings, svc: Service) -> list[str]:
        """The command line, with ``$VAR``/``${VAR}`` taken from the unit's EnvironmentFiles when the
        init-system analyzer left them unexpanded."""
        argv = list(svc.exec_start)
        if not any("$" in a for a in argv):
            return argv
        env: dict[str, str] = dict(svc.environment)
        for path in svc.environment_files:
            text = read_text(ctx, self, path.lstrip("-"), f)
            env.update({k: v for k, v, _ in parse_env_file(text or "")})
        out: list[str] = []
        for a in argv:
            m = re.fullmatch(r"\$\{?(\w+)\}?", a)
            if m:
                out += shlex.split(env.get(m.group(1), ""))
            else:
                out.append(re.sub(r"\$\{?(\w+)\}?", lambda mm: env.get(mm.group(1), ""), a))
        return out

    def _server(self, ctx: Context, f: Findings, svc: Service, argv: list[str]) -> None:
        fl = {**DEFAULTS, **flags(argv[1:])}
        where = svc.unit_path or "/etc/default/prometheus"
        addr, port = split_host_port(fl["--web.listen-address"])
        f.ports.append(Port(service=svc.name, port=port or 9090, address=addr,
                            evidence=self.evidence(where, f"--web.listen-address {fl['--web.listen-address']}")))
        tsdb = fl["--storage.tsdb.path"].rstrip("/") or "/"
        pp = persistent_path(ctx, self, tsdb, service=svc.name, kind="database",
                             reason=f"prometheus --storage.tsdb.path ({where}): the time-series database",
                             evidence_path=where)
        if pp:
            f.persistent_paths.append(pp)
        path = fl["--config.file"]
        text = read_text(ctx, self, path, f)
        if text is not None:
            f.configs.append(config_file(ctx, self, path, service=svc.name, kind="prometheus.yml", content=text))
            try:
                doc = yaml.safe_load(text) or {}
            except yaml.YAMLError as exc:
                f.unknowns.append(unknown(self, path, f"not valid YAML: {type(exc).__name__}"))
                doc = {}
            # only plain strings are read, and only so many: YAML aliases can make a small file a huge tree
            jobs = doc.get("scrape_configs") if isinstance(doc, dict) else None
            for job in jobs[:MAX_ITEMS] if isinstance(jobs, list) else []:
                if not isinstance(job, dict):
                    continue
                name = job.get("job_name") if isinstance(job.get("job_name"), str) else "?"
                scheme = job.get("scheme") if job.get("scheme") in ("http", "https") else "http"
                statics = job.get("static_configs")
                for sc in statics[:MAX_ITEMS] if isinstance(statics, list) else []:
                    targets = sc.get("targets") if isinstance(sc, dict) else None
                    for target in targets[:MAX_ITEMS] if isinstance(targets, list) else []:
                        if not isinstance(target, str):
                            continue
                        host, tport = split_host_port(target)
                        if not host:
                            continue
                        f.connections.append(Connection(
                            from_service=svc.name, scheme=scheme, host=host, port=tport, url_redacted=target,
                            via=f"prometheus scrape job {name}", evidence=self.evidence(path, f"job {name}")))
            rules = doc.get("rule_files") if isinstance(doc, dict) else None
            for rule_file in rules[:MAX_ITEMS] if isinstance(rules, list) else []:
                if isinstance(rule_file, str) and ctx.rootfs.is_file(rule_file):
                    f.configs.append(config_file(ctx, self, rule_file, service=svc.name, kind="prometheus-rules"))
        f.services.append(enrich(ctx, self, svc.name, where, role="prometheus"))

    def _exporter(self, ctx: Context, f: Findings, svc: Service, argv: list[str]) -> None:
        where = svc.unit_path or svc.name
        fl = flags(argv[1:])
        exe = argv[0].rsplit("/", 1)[-1]
        kind = re.sub(r"^prometheus-|-exporter$|_exporter$", "", exe)
        listen = fl.get("--web.listen-address")
        if listen:
            addr, port = split_host_port(listen)
            detail = f"--web.listen-address {listen}"
        else:
            addr, port = None, EXPORTER_PORTS.get(kind)
            detail = f"the {exe} default port"
        if port:
            f.ports.append(Port(service=svc.name, port=port, address=addr, evidence=self.evidence(where, detail)))
        else:
            f.unknowns.append(unknown(self, where, f"{exe}: listen port unknown"))
        f.services.append(enrich(ctx, self, svc.name, where, role="prometheus-exporter"))
