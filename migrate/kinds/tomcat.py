"""Apache Tomcat: ``catalina.sh run`` is the foreground form; ``start``/``startup.sh`` background the JVM.

Debian's tomcat10.service already runs in the foreground (``tomcat-start.sh`` ends in ``exec
catalina.sh run``), so its command is kept as it is; a VM that starts Tomcat with ``catalina.sh
start`` or ``startup.sh`` (the tarball way) gets ``catalina.sh run`` instead. The JVM and the first
deployment of the webapps (WAR unpacking, JSP compilation on the first request) take long, hence the
start period.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from migrate.kinds.base import Foreground, Kind, KindContext, executable_name


class Tomcat(Kind):
    name = "tomcat"
    roles = ("tomcat",)
    executables = (r"catalina\.sh", r"startup\.sh", r"tomcat-start\.sh", r"tomcat\d*")
    packages = (r"tomcat\d*", r"tomcat\d*-common", r"libtomcat\d*-java")
    user = "tomcat"
    weight = 4  # a JVM: heap plus metaspace
    start_period = "120s"
    http = True
    schemes = {"ajp": 8009}

    def _script(self, argv: list[str]) -> tuple[str, list[str]]:
        """The Tomcat script run (``sh catalina.sh start`` names it as the first argument) and its arguments."""
        args = [a.lstrip("-@+!:") if i == 0 else a for i, a in enumerate(argv)]
        if args and executable_name(args) in ("sh", "bash", "dash") and len(args) > 1:
            args = args[1:]
        return (PurePosixPath(args[0]).name if args else ""), args

    def daemonises(self, argv: list[str]) -> bool:
        script, args = self._script(argv)
        return script == "startup.sh" or (script == "catalina.sh" and "start" in args[1:])

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground | None:
        if not self.daemonises(argv):
            return None
        script, args = self._script(argv)
        catalina = str(PurePosixPath(args[0]).with_name("catalina.sh"))
        opts = [a for a in args[1:] if a != "start"]
        return Foreground([catalina, "run", *opts],
                          f"{' '.join(argv)} starts the JVM in the background and returns; {catalina} run "
                          "keeps Tomcat in the foreground as the container's main process")


KIND = Tomcat()
