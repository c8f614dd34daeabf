"""memcached: in the foreground (no -d), listening on the container network.

Debian starts it through systemd-memcached-wrapper, a Perl script that turns /etc/memcached.conf into
options and refuses to run unless it is root; the container runs as the memcache user, so its command
does what the wrapper does in sh and execs memcached itself."""

from __future__ import annotations

import shlex

from migrate.kinds.base import Foreground, Kind, KindContext, drop_options, executable_name

WRAPPER = "systemd-memcached-wrapper"
SERVER = "/usr/bin/memcached"


class Memcached(Kind):
    name = "memcached"
    roles = ("memcached",)
    executables = (r"memcached", WRAPPER)
    container = "memcached"
    packages = (r"memcached",)
    user = "memcache"
    weight = 2
    start_period = "10s"
    rebinds = True
    schemes = {"memcached": 11211}

    def daemonises(self, argv: list[str]) -> bool:
        return "-d" in argv or "--daemon" in argv

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground:
        listen = "-l 0.0.0.0: clients come over the container network, not loopback (the port is published " \
                 "only when the VM served it on all addresses)"
        if executable_name(argv) == WRAPPER:
            conf = argv[1] if len(argv) > 1 else "/etc/memcached.conf"
            # the wrapper's reading of the file: comments off, -d/-h and logfile lines skipped; -l dropped too
            script = (f"exec {SERVER} $(sed -e 's/#.*//' -e '/^[[:space:]]*-[dhl]/d' "
                      f"-e '/^[[:space:]]*logfile/d' {shlex.quote(conf)}) -l 0.0.0.0")
            return Foreground(["/bin/sh", "-c", script],
                              f"{WRAPPER} only runs as root and the container runs as the memcache user: the "
                              f"options of {conf} are read the way the wrapper reads them and {SERVER} is exec'd "
                              f"in the foreground; {listen}")
        cleaned = drop_options([argv[0].lstrip("-@+!:"), *argv[1:]], {"-d": 0, "--daemon": 0, "-l": 1, "--listen": 1})
        return Foreground(cleaned + ["-l", "0.0.0.0"],
                          f"ExecStart of {ctx.service.unit_path or ctx.service.name} without -d (the container's "
                          f"main process stays in the foreground); {listen}")


KIND = Memcached()
