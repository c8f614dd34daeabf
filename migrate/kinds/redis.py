"""Redis: daemonize no, listening on the container network, logging to stdout."""

from __future__ import annotations

from migrate.kinds.base import Foreground, Kind, KindContext, Probe, drop_options
from migrate.model.plan import Healthcheck


class Redis(Kind):
    name = "redis"
    roles = ("redis",)
    executables = (r"redis-server",)
    container = "redis"
    packages = (r"redis\d*", r"redis-server", r"redis-tools")
    user = "redis"
    weight = 2
    start_period = "10s"
    runtime_dirs = (("/var/run/redis", 0o2775),)
    rebinds = True
    schemes = {"redis": 6379, "rediss": 6379}

    def daemonises(self, argv: list[str]) -> bool:
        return any(a == "--daemonize" and argv[i + 1:i + 2] == ["yes"] for i, a in enumerate(argv))

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground:
        argv = drop_options([argv[0].lstrip("-@+!:"), *argv[1:]], {"--supervised": 1, "--daemonize": 1})
        argv += ["--daemonize", "no", "--bind", "0.0.0.0", "--logfile", ""]
        return Foreground(argv, f"ExecStart of {ctx.service.unit_path or ctx.service.name}; --daemonize no "
                          "(foreground, no systemd supervision); --bind 0.0.0.0 because clients reach it over the "
                          "container network instead of loopback; --logfile '' logs to stdout for `docker logs`")

    def healthcheck(self, port: int, ctx: KindContext) -> Healthcheck:
        secret = ctx.secret_of.get("requirepass")
        if secret:
            cmd = (f'REDISCLI_AUTH="$(cat /run/secrets/{secret})" redis-cli -h 127.0.0.1 -p {port} ping '
                   "| grep -q PONG")
            why = f"redis-cli PING on {port}, authenticated with the {secret} secret file (never in argv)"
        else:
            cmd = f"redis-cli -h 127.0.0.1 -p {port} ping | grep -q PONG"
            why = f"redis-cli PING on {port}"
        return Healthcheck(kind="redis-cli", test=["CMD-SHELL", cmd], start_period=self.start_period, reason=why)

    def probe(self) -> Probe:
        return Probe(check="redis_ping", argv=("redis-cli", "-h", "127.0.0.1", "-p", "{port}", "ping"),
                     expect="PONG", password_env="REDISCLI_AUTH")


KIND = Redis()
