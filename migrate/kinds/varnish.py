"""Varnish: varnishd -F in the foreground; the management secret file (-S) is never copied into the
image, so varnishd generates its own for the container's lifetime."""

from __future__ import annotations

from migrate.kinds.base import Foreground, Kind, KindContext, drop_options


class Varnish(Kind):
    name = "varnish"
    roles = ("varnish",)
    executables = (r"varnishd",)
    container = "varnish"
    packages = (r"varnish",)
    drops_privileges = True  # -j unix,user=vcache: the jail drops to vcache itself
    weight = 2
    start_period = "30s"  # the VCL is compiled with the C compiler at start
    http = True

    def daemonises(self, argv: list[str]) -> bool:
        return "-F" not in argv

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground:
        argv = drop_options([argv[0].lstrip("-@+!:"), *argv[1:]], {"-F": 0, "-S": 1, "-P": 1})
        return Foreground([argv[0], "-F", *argv[1:]],
                          f"ExecStart of {ctx.service.unit_path or ctx.service.name}; -F keeps varnishd in the "
                          "foreground; -S dropped because the management secret stays out of the image (varnishd "
                          "then makes a random one), -P dropped (no pid file in a container)")


KIND = Varnish()
