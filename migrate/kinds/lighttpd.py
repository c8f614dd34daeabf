"""lighttpd: -D keeps it in the foreground. Its main process itself switches to server.username after
binding (no root master stays behind), so the container runs as that account from the start: the
uid Docker starts is the uid that serves, and volume owners match. It writes no pid file (the
container is its supervisor, and /run is root's)."""

from __future__ import annotations

from migrate.kinds.base import Foreground, Kind, KindContext
from migrate.model.inventory import ConfigFile
from migrate.model.plan import FileEdit


class Lighttpd(Kind):
    name = "lighttpd"
    roles = ("lighttpd",)
    executables = (r"lighttpd",)
    container = "lighttpd"
    packages = (r"lighttpd",)
    user = "www-data"  # Debian's server.username; other families fall back to root (the user must exist)
    weight = 1
    stop_signal = "SIGINT"  # graceful shutdown
    start_period = "10s"
    runtime_dirs = (("/run/lighttpd", 0o755),)
    http = True

    def daemonises(self, argv: list[str]) -> bool:
        return "-D" not in argv

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground:
        argv = [argv[0].lstrip("-@+!:"), *argv[1:]]
        if "-D" not in argv:
            argv.insert(1, "-D")
        return Foreground(argv, f"ExecStart of {ctx.service.unit_path or ctx.service.name}; -D keeps lighttpd in "
                                "the foreground as the container's main process")

    def config_edits(self, config: ConfigFile, ctx: KindContext) -> list[FileEdit]:
        if config.kind != "lighttpd.conf":
            return []
        return [FileEdit(pattern=r"^(\s*server\.pid-file\s*=.*)$", replacement=r"#\1",
                         reason="no pid file: the container is the supervisor, and lighttpd (running as its own "
                                "account) refuses a pid file it cannot create in /run")]


KIND = Lighttpd()
