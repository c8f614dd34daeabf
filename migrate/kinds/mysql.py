"""MySQL and MariaDB: the server binary in the foreground, listening on the container network."""

from __future__ import annotations

from pathlib import PurePosixPath

from migrate.kinds.base import Foreground, Kind, KindContext, Probe, executable_name, installed_matching
from migrate.model.inventory import Service
from migrate.model.plan import Healthcheck

SERVERS = ("mariadbd", "mysqld")
WRAPPERS = ("mysqld_safe", "mariadbd-safe", "mysql.server", "mysqld_multi", "mariadbd-multi")


class MySQL(Kind):
    name = "mysql"
    roles = ("mysql", "mariadb")
    executables = (r"mariadbd", r"mysqld", r"mysqld_safe", r"mariadbd-safe")
    packages = (r"mysql-server.*", r"mysql-community-server", r"mariadb-server.*")
    user = "mysql"
    weight = 4
    start_period = "60s"
    runtime_dirs = (("/var/run/mysqld", 0o755),)
    rebinds = True
    schemes = {"mysql": 3306, "jdbc:mysql": 3306, "mariadb": 3306, "jdbc:mariadb": 3306}

    def container_name(self, service: Service) -> str:
        exe = executable_name(service.exec_start)
        return "mariadb" if exe.startswith("mariadb") or service.name.startswith("mariadb") else "mysql"

    def daemonises(self, argv: list[str]) -> bool:
        return executable_name(argv) in WRAPPERS or "--daemonize" in argv

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground:
        argv = [argv[0].lstrip("-@+!:"), *argv[1:]]
        reasons = [f"ExecStart of {ctx.service.unit_path or ctx.service.name}"]
        exe = executable_name(argv)
        if exe not in SERVERS:
            server = "mariadbd" if installed_matching(ctx, r"mariadb-server.*") else "mysqld"
            path = str(PurePosixPath("/usr/sbin") / server)
            argv = [path, *[a for a in argv[1:] if a.startswith("--") and not a.startswith("--daemonize")]]
            reasons = [f"{exe} is a wrapper that starts the server in the background; the container runs {path} "
                       "itself in the foreground"]
        argv = [a for a in argv if not a.startswith("--bind-address")] + ["--bind-address=0.0.0.0"]
        reasons.append("--bind-address=0.0.0.0 because clients come over the container network, not loopback "
                       "(the port is published only when the VM served it on all addresses)")
        return Foreground(argv, "; ".join(reasons))

    def healthcheck(self, port: int, ctx: KindContext) -> Healthcheck:
        return Healthcheck(kind="mysqladmin", test=["CMD", "mysqladmin", "ping", "-h", "127.0.0.1", "-P", str(port),
                                                     "--silent"],
                           start_period=self.start_period,
                           reason=f"mysqladmin ping on {port}: exits 0 once the server answers, even without "
                                  "credentials (no password in the healthcheck)")

    def probe(self) -> Probe:
        # exit status only: mysqladmin ping exits 0 whenever the server answers, also when it refuses the
        # probe's account ("Access denied for user 'mysql'@'localhost'" over TCP, where the VM's
        # unix_socket-authenticated accounts cannot log in), and then prints no "mysqld is alive"
        return Probe(check="probe", argv=("mysqladmin", "ping", "-h", "127.0.0.1", "-P", "{port}"))


KIND = MySQL()
