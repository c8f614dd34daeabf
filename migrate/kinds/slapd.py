"""OpenLDAP slapd: -d keeps it in the foreground (and logs to stderr); the container runs as the
account slapd dropped to in the VM (-u/-g), so those options go (they need root)."""

from __future__ import annotations

from migrate.kinds.base import Foreground, Kind, KindContext, drop_options


class Slapd(Kind):
    name = "slapd"
    roles = ("slapd",)
    executables = (r"slapd",)
    container = "slapd"
    packages = (r"slapd",)
    user = "openldap"
    weight = 1
    start_period = "15s"
    runtime_dirs = (("/run/slapd", 0o755),)

    def daemonises(self, argv: list[str]) -> bool:
        return "-d" not in argv

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground:
        argv = drop_options([argv[0].lstrip("-@+!:"), *argv[1:]], {"-u": 1, "-g": 1, "-d": 1})
        return Foreground([argv[0], "-d", "256", *argv[1:]],
                          f"start command of {ctx.service.unit_path or ctx.service.name}; -d 256 keeps slapd in "
                          "the foreground and logs connections and operations to stderr; -u/-g dropped because "
                          "the container already runs as that account")


KIND = Slapd()
