"""memcached: Debian's /etc/memcached.conf (one command-line option per line) or RHEL's
/etc/sysconfig/memcached (PORT=, OPTIONS=)."""

from __future__ import annotations

import shlex

from migrate.analyzers._support import (
    PORT_OR_ZERO,
    config_file,
    enrich,
    guest_number,
    parse_env_file,
    pick_service,
    read_text,
)
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, Port


def parse_options(argv: list[str]) -> dict[str, str]:
    long = {"--port": "-p", "--listen": "-l", "--udp-port": "-U", "--unix-socket": "-s", "--user": "-u",
            "--memory-limit": "-m"}
    out: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if "=" in arg and arg.startswith("--"):
            k, _, v = arg.partition("=")
            out[long.get(k, k)] = v
        elif arg in long or (len(arg) == 2 and arg.startswith("-")):
            key = long.get(arg, arg)
            if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                out[key] = argv[i + 1]
                i += 1
            else:
                out[key] = ""
        elif arg.startswith("-") and len(arg) > 2 and not arg.startswith("--"):
            out[arg[:2]] = arg[2:]
        i += 1
    return out


class MemcachedAnalyzer(Analyzer):
    name = "memcached"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        f = Findings()
        service = pick_service(ctx, ["memcached"], "memcached")
        argv: list[str] = []
        path = "/etc/memcached.conf"
        text = read_text(ctx, self, path, f)
        if text is not None:
            for line in text.splitlines():
                s = line.split("#", 1)[0].strip()
                if s:
                    argv.extend(shlex.split(s))
        else:
            path = "/etc/sysconfig/memcached"
            text = read_text(ctx, self, path, f)
            if text is None:
                raise NotApplicable("no memcached configuration")
            env = {k: v for k, v, _ in parse_env_file(text)}
            if env.get("PORT"):
                argv += ["-p", env["PORT"]]
            if env.get("USER"):
                argv += ["-u", env["USER"]]
            argv += shlex.split(env.get("OPTIONS", ""))
        opts = parse_options(argv)
        f.configs.append(config_file(ctx, self, path, service=service, kind="memcached.conf", content=text))
        tcp = guest_number(self, f, opts["-p"], PORT_OR_ZERO, path=path, what="the TCP port") if "-p" in opts else None
        port = 11211 if tcp is None else tcp  # 0 turns TCP off
        udp = guest_number(self, f, opts["-U"], PORT_OR_ZERO, path=path, what="the UDP port") if "-U" in opts else None
        if "-s" in opts:
            f.ports.append(Port(service=service, proto="unix", path=opts["-s"], evidence=self.evidence(path, "-s")))
        else:
            addrs = [a.strip() for a in opts.get("-l", "").split(",") if a.strip()] or [None]
            for addr in addrs:
                if port:
                    f.ports.append(Port(service=service, port=port, address=None if addr in (None, "0.0.0.0")
                                        else addr, evidence=self.evidence(path, f"-p {port}" + (f" -l {addr}"
                                                                                               if addr else ""))))
                if udp:
                    f.ports.append(Port(service=service, proto="udp", port=udp, address=addr,
                                        evidence=self.evidence(path, f"-U {udp}")))
        f.services.append(enrich(ctx, self, service, path, role="memcached",
                                 user=opts.get("-u") or None))
        return f
