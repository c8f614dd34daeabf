"""HAProxy: master-worker in the foreground (-W -db) instead of systemd's notify mode (-Ws); it
starts as root for its chroot and drops to the configured user."""

from __future__ import annotations

from migrate.kinds.base import Foreground, Kind, KindContext, drop_options
from migrate.model.inventory import ConfigFile
from migrate.model.plan import FileEdit


class Haproxy(Kind):
    name = "haproxy"
    roles = ("haproxy",)
    executables = (r"haproxy",)
    container = "haproxy"
    packages = (r"haproxy",)
    drops_privileges = True
    weight = 1
    stop_signal = "SIGUSR1"  # soft stop: finish the connections in flight
    start_period = "10s"
    runtime_dirs = (("/run/haproxy", 0o755),)
    rebinds = True

    def daemonises(self, argv: list[str]) -> bool:
        return "-D" in argv or "-db" not in argv

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground:
        argv = drop_options([argv[0].lstrip("-@+!:"), *argv[1:]],
                            {"-Ws": 0, "-W": 0, "-D": 0, "-db": 0, "-p": 1, "-S": 1})  # fmt: skip
        return Foreground([argv[0], "-W", "-db", *argv[1:]],
                          f"ExecStart of {ctx.service.unit_path or ctx.service.name}; -Ws (systemd notify) and the "
                          "pid file replaced by -W -db: master-worker in the foreground as the container's main "
                          "process, whatever `daemon` the configuration says")

    def config_edits(self, config: ConfigFile, ctx: KindContext) -> list[FileEdit]:
        if config.kind != "haproxy.cfg":
            return []
        return [FileEdit(pattern=r"^(\s*bind\s+)(?:127\.0\.0\.1|localhost)(:\d+)", replacement=r"\g<1>\2",
                         reason="a frontend bound to loopback: its clients come over the container network (the "
                                "port is published only when the VM served it on all addresses)")]


KIND = Haproxy()
