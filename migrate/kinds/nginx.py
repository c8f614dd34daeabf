"""nginx: `daemon off;`, logs to the container's output, no package default site the VM did not have."""

from __future__ import annotations

from migrate.kinds.base import Foreground, Kind, KindContext
from migrate.model.inventory import ConfigFile
from migrate.model.plan import FileEdit, Link, Removal


class Nginx(Kind):
    name = "nginx"
    roles = ("nginx",)
    executables = (r"nginx",)
    container = "nginx"
    packages = (r"nginx", r"nginx-core", r"nginx-common")
    drops_privileges = True
    weight = 1
    stop_signal = "SIGQUIT"
    start_period = "10s"
    http = True

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground:
        cleaned: list[str] = []
        skip = False
        for i, a in enumerate([argv[0].lstrip("-@+!:"), *argv[1:]]):
            if skip:
                skip = False
                continue
            if a == "-g" and i + 1 < len(argv) and "daemon" in argv[i + 1]:
                skip = True
                continue
            cleaned.append(a)
        return Foreground(cleaned + ["-g", "daemon off;"],
                          f"ExecStart of {ctx.service.unit_path or ctx.service.name}; `daemon off;` keeps nginx in "
                          "the foreground as the container's main process")

    def config_edits(self, config: ConfigFile, ctx: KindContext) -> list[FileEdit]:
        return [FileEdit(pattern=rf"^(\s*{directive}\s+)/[^\s;]+", replacement=rf"\g<1>{target}",
                         reason=f"{directive} to the container's {target.rsplit('/', 1)[1]}, so `docker logs` shows it")
                for directive, target in (("access_log", "/dev/stdout"), ("error_log", "/dev/stderr"))]

    def links(self, ctx: KindContext) -> list[Link]:
        return [Link(path=f"/var/log/nginx/{n}.log", target=f"/dev/{t}",
                     reason="the package's default logs go to the container's output (`docker logs`)")
                for n, t in (("access", "stdout"), ("error", "stderr"))]

    def removals(self, ctx: KindContext) -> list[Removal]:
        default = "/etc/nginx/sites-enabled/default"
        if ctx.manager != "apt" or any(c.path == default for c in ctx.inventory.configs):
            return []
        return [Removal(path=default, reason="the package enables its default site; the VM had it disabled and two "
                                             "default_server blocks on one port stop nginx")]


KIND = Nginx()
