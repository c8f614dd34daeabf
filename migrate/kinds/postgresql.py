"""PostgreSQL: Debian's cluster wrappers run postgres itself in the foreground."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from migrate.kinds.base import Foreground, Kind, KindContext, Probe, executable_name
from migrate.model.inventory import ConfigFile
from migrate.model.plan import FileEdit, Healthcheck
from migrate.numbers import small_int


class PostgreSQL(Kind):
    name = "postgresql"
    roles = ("postgresql",)
    executables = (r"postgres", r"postmaster", r"pg_ctlcluster", r"pg_ctl")
    container = "postgres"
    packages = (r"postgresql-\d+", r"postgresql-client-\d+", r"postgresql-common", r"postgresql\d*-server",
                r"postgresql\d+", r"postgresql-contrib", r"ssl-cert")
    user = "postgres"
    weight = 4
    stop_signal = "SIGINT"
    start_period = "60s"
    runtime_dirs = (("/var/run/postgresql", 0o2775),)
    rebinds = True
    schemes = {"postgresql": 5432, "postgres": 5432, "jdbc:postgresql": 5432}

    def daemonises(self, argv: list[str]) -> bool:
        exe = executable_name(argv)
        return exe == "pg_ctlcluster" or (exe == "pg_ctl" and "start" in argv)

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground:
        argv = list(argv)
        argv[0] = argv[0].lstrip("-@+!:")
        reasons = [f"ExecStart of {ctx.service.unit_path or ctx.service.name}"]
        exe = PurePosixPath(argv[0]).name
        if exe == "true":
            # Debian's postgresql.service wrapper: the cluster comes from the data directory
            ver, name = pg_cluster(ctx)
            argv, exe = ["/usr/bin/pg_ctlcluster", f"{ver}-{name}", "start"], "pg_ctlcluster"
        if exe == "pg_ctlcluster":
            cluster = next((a for a in argv[1:] if re.fullmatch(r"\d+(\.\d+)?-[\w-]+", a)), None)
            if cluster is None:
                m = re.search(r"@(\d+)-(.+)$", ctx.service.name)
                cluster = f"{m.group(1)}-{m.group(2)}" if m else "-".join(pg_cluster(ctx))
            ver, name = cluster.split("-", 1)
            data = next(iter(ctx.volumes), f"/var/lib/postgresql/{ver}/{name}")
            argv = [f"/usr/lib/postgresql/{ver}/bin/postgres", "-D", data,
                    "-c", f"config_file=/etc/postgresql/{ver}/{name}/postgresql.conf"]
            reasons = [f"pg_ctlcluster {cluster} forks postgres in the background; the container runs postgres "
                       "itself in the foreground with the cluster's data directory and config"]
        elif exe == "postmaster":
            argv[0] = str(PurePosixPath(argv[0]).with_name("postgres"))
            reasons.append("postmaster is an old alias of postgres")
        argv += ["-c", "listen_addresses=*"]
        reasons.append("listen_addresses=* because in the VM clients came over loopback, in the stack they "
                       "come over the container network (the port is not published)")
        return Foreground(argv, "; ".join(reasons))

    def healthcheck(self, port: int, ctx: KindContext) -> Healthcheck:
        return Healthcheck(kind="pg_isready", test=["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)],
                           start_period=self.start_period,
                           reason=f"PostgreSQL accepts connections on {port} (pg_isready, no password needed)")

    def probe(self) -> Probe:
        return Probe(check="pg_isready", argv=("pg_isready", "-h", "127.0.0.1", "-p", "{port}"))

    def config_edits(self, config: ConfigFile, ctx: KindContext) -> list[FileEdit]:
        if config.kind != "pg_hba.conf":
            return []
        m = re.search(r"/(\d+)/", config.path)
        ver = (small_int(m.group(1), lo=1, hi=999) if m else None) or 15
        method = "scram-sha-256" if ver >= 14 else "md5"
        return [FileEdit(append=f"host all all samenet {method}",
                         reason="clients now connect from other containers on the stack network; "
                                "samenet admits only the networks the container is attached to")]


def pg_cluster(ctx: KindContext) -> tuple[str, str]:
    """(version, cluster) of a Debian PostgreSQL cluster, from its data directory or package."""
    for target in ctx.volumes:
        m = re.fullmatch(r"/var/lib/postgresql/(\d+)/([\w-]+)", target)
        if m:
            return m.group(1), m.group(2)
    # a package name is guest text: postgresql-<5000 digits> made int() raise and the plan fail
    versions = sorted((v for n in ctx.installed if (m := re.fullmatch(r"postgresql-(\d+)", n))
                       and (v := small_int(m.group(1), lo=1, hi=999)) is not None), reverse=True)
    return (str(versions[0]) if versions else "15"), "main"


KIND = PostgreSQL()
