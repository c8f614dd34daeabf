"""BIND 9 (named): -f keeps it in the foreground; the container runs as the user named dropped to
in the VM (-u), so -u goes (it needs root) and the working directory keeps its owner."""

from __future__ import annotations

from migrate.kinds.base import Foreground, Kind, KindContext, drop_options


class Bind(Kind):
    name = "bind"
    roles = ("bind",)
    executables = (r"named",)
    container = "bind"
    packages = (r"bind9", r"bind9-utils", r"bind")
    user = "bind"
    weight = 1
    start_period = "15s"
    runtime_dirs = (("/run/named", 0o775),)

    def daemonises(self, argv: list[str]) -> bool:
        return not any(a in ("-f", "-g") for a in argv)

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground:
        argv = drop_options([argv[0].lstrip("-@+!:"), *argv[1:]], {"-u": 1})
        if not any(a in ("-f", "-g") for a in argv):
            argv.insert(1, "-f")
        return Foreground(argv, f"ExecStart of {ctx.service.unit_path or ctx.service.name}; -f keeps named in the "
                                "foreground; -u dropped because the container already runs as that user")


KIND = Bind()
