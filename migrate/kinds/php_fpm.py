"""PHP-FPM: the master in the foreground (--nodaemonize); pools on loopback TCP listen on the container
network instead, and only the web server's container may reach them anyway."""

from __future__ import annotations

from migrate.kinds.base import Foreground, Kind, KindContext, drop_options
from migrate.model.inventory import ConfigFile
from migrate.model.plan import FileEdit

FOREGROUND = ("-F", "--nodaemonize")


class PhpFpm(Kind):
    name = "php-fpm"
    roles = ("php-fpm",)
    executables = (r"php-fpm[\d.]*",)
    container = "php-fpm"
    packages = (r"php[\d.]*-fpm",)
    drops_privileges = True  # the master runs as root, each pool as its own user
    weight = 2
    stop_signal = "SIGQUIT"  # graceful: finish the requests in flight
    start_period = "10s"
    runtime_dirs = (("/run/php", 0o755),)
    rebinds = True

    def daemonises(self, argv: list[str]) -> bool:
        return not any(a in FOREGROUND for a in argv)

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground:
        argv = drop_options([argv[0].lstrip("-@+!:"), *argv[1:]], {"-D": 0, "--daemonize": 0})
        if not any(a in FOREGROUND for a in argv):
            argv.insert(1, "--nodaemonize")
        return Foreground(argv, f"ExecStart of {ctx.service.unit_path or ctx.service.name}; --nodaemonize keeps the "
                                "master in the foreground as the container's main process")

    def config_edits(self, config: ConfigFile, ctx: KindContext) -> list[FileEdit]:
        if config.kind != "php-fpm-pool":
            return []
        return [
            FileEdit(pattern=r"^(\s*listen\s*=\s*)(?:127\.0\.0\.1|localhost|\[::1\]):(\d+)\s*$",
                     replacement=r"\g<1>0.0.0.0:\2",
                     reason="a pool on loopback TCP: the web server is another container, so the pool listens on "
                            "the container network (never published)"),
            FileEdit(pattern=r"^(\s*listen\.allowed_clients\s*=.*)$", replacement=r";\1",
                     reason="listen.allowed_clients named loopback; the web server now connects from its own "
                            "container on the stack network"),
        ]


KIND = PhpFpm()
