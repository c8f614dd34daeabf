"""memcached: runs in the foreground unless -d; listens on the container network."""

from __future__ import annotations

from migrate.kinds.base import Foreground, Kind, KindContext, drop_options
from migrate.model.inventory import ConfigFile
from migrate.model.plan import FileEdit


class Memcached(Kind):
    name = "memcached"
    roles = ("memcached",)
    executables = (r"memcached",)
    container = "memcached"
    packages = (r"memcached",)
    user = "memcache"
    weight = 2
    start_period = "10s"
    rebinds = True
    schemes = {"memcached": 11211}

    def daemonises(self, argv: list[str]) -> bool:
        return "-d" in argv or "--daemon" in argv

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground | None:
        if not self.daemonises(argv):
            return None
        return Foreground(drop_options([argv[0].lstrip("-@+!:"), *argv[1:]], {"-d": 0, "--daemon": 0}),
                          "-d puts memcached in the background: dropped, so it is the container's main process")

    def config_edits(self, config: ConfigFile, ctx: KindContext) -> list[FileEdit]:
        if config.kind != "memcached.conf":
            return []
        return [FileEdit(pattern=r"^(\s*-l\s+)\S+", replacement=r"\g<1>0.0.0.0",
                         reason="-l: listen on the container's addresses, clients come over the container network "
                                "(the port is published only when the VM served it on all addresses)")]


KIND = Memcached()
