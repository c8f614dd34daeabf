"""lighttpd: -D keeps it in the foreground; it drops to server.username itself."""

from __future__ import annotations

from migrate.kinds.base import Foreground, Kind, KindContext


class Lighttpd(Kind):
    name = "lighttpd"
    roles = ("lighttpd",)
    executables = (r"lighttpd",)
    container = "lighttpd"
    packages = (r"lighttpd",)
    drops_privileges = True
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


KIND = Lighttpd()
