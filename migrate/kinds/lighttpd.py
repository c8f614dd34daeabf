"""lighttpd: -D keeps it in the foreground. Its main process itself switches to server.username after
binding (no root master stays behind), so the container runs as that account from the start: the
uid Docker starts is the uid that serves, and volume owners match. Its pid file moves to a runtime
directory that account owns."""

from __future__ import annotations

from migrate.kinds.base import Foreground, Kind, KindContext
from migrate.model.plan import Link


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

    def links(self, ctx: KindContext) -> list[Link]:
        return [Link(path="/run/lighttpd.pid", target="/run/lighttpd/lighttpd.pid",
                     reason="Debian's server.pid-file is /run/lighttpd.pid; the server runs as its own account, "
                            "which may write only its runtime directory")]


KIND = Lighttpd()
