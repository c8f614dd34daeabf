"""Apache httpd: `apachectl start` daemonises; the container runs the server binary with -DFOREGROUND."""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath

from migrate.kinds.base import Foreground, Kind, KindContext, executable_name
from migrate.model.plan import Removal


class Apache(Kind):
    name = "apache"
    roles = ("apache", "httpd")
    executables = (r"apache2", r"httpd", r"apache2ctl", r"apachectl")
    container = "httpd"
    packages = (r"apache2", r"apache2-bin", r"httpd", r"apache2-prefork")
    drops_privileges = True
    weight = 1
    stop_signal = "SIGWINCH"  # graceful stop: finish the requests in flight
    start_period = "10s"
    http = True

    def daemonises(self, argv: list[str]) -> bool:
        exe = executable_name(argv)
        if exe in ("apache2ctl", "apachectl"):
            return "-DFOREGROUND" not in argv and "FOREGROUND" not in argv
        return exe in ("apache2", "httpd") and not any("FOREGROUND" in a for a in argv) and "-X" not in argv

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground | None:
        if not self.daemonises(argv):
            return None
        exe_path = PurePosixPath(argv[0].lstrip("-@+!:"))
        exe = exe_path.name
        # The ctl script's verbs (start, graceful, -k start) are not server options.
        opts = [a for a in argv[1:] if a not in ("start", "-k", "graceful", "restart")]
        if exe in ("apache2ctl", "apache2") or (exe == "apachectl" and ctx.family == "debian"):
            server = str(exe_path.with_name("apache2"))
            # Debian's apache2 reads APACHE_RUN_USER/RUN_DIR/... from envvars and apache2ctl creates those
            # directories before starting it (without them: "DefaultRuntimeDir must be a valid directory")
            cmd = (". /etc/apache2/envvars && mkdir -p \"${APACHE_RUN_DIR:-/var/run/apache2}\" "
                   "\"${APACHE_LOCK_DIR:-/var/lock/apache2}\" \"${APACHE_LOG_DIR:-/var/log/apache2}\" && "
                   f"exec {server} -DFOREGROUND" + "".join(f" {shlex.quote(a)}" for a in opts))
            return Foreground(["/bin/sh", "-c", cmd],
                              f"{' '.join(argv)} puts Apache in the background (Type=forking in the VM); the "
                              "container does what apache2ctl does (sources /etc/apache2/envvars, makes the run, "
                              f"lock and log directories) and execs {server} -DFOREGROUND, so the server itself is "
                              "PID 1 and receives the stop signal")
        server = str(exe_path.with_name("httpd"))
        return Foreground([server, "-DFOREGROUND", *opts],
                          f"{' '.join(argv)} puts Apache in the background; {server} -DFOREGROUND stays in the "
                          "foreground as the container's main process")

    def removals(self, ctx: KindContext) -> list[Removal]:
        # Debian's apache2 postinst enables 000-default on a fresh install: next to the VM's own *:80 site
        # it would answer every request whose Host matches no ServerName (found on corpus-lamp)
        default = "/etc/apache2/sites-enabled/000-default.conf"
        if ctx.manager != "apt" or not any(c.path.startswith("/etc/apache2/") for c in ctx.inventory.configs) \
                or any(c.path == default for c in ctx.inventory.configs):
            return []
        return [Removal(path=default, reason="the package enables its default site on install; the VM had it "
                                             "disabled, and as the first *:80 vhost it would serve the VM's requests")]


KIND = Apache()
