"""The Tomcat kind: Debian's foreground wrapper kept, daemonising forms replaced by ``catalina.sh run``."""

from __future__ import annotations

from migrate.kinds import kind_for
from migrate.kinds.base import KindContext
from migrate.model.base import Evidence
from migrate.model.inventory import Inventory, Service


def svc(argv: list[str], role: str | None = "tomcat") -> Service:
    return Service(name="tomcat10", manager="systemd", exec_start=argv, role=role,
                   evidence=[Evidence(analyzer="test", path="/lib/systemd/system/tomcat10.service")])


def ctx(s: Service) -> KindContext:
    return KindContext(service=s, inventory=Inventory.model_construct(), family="debian")


def test_debian_wrapper_stays_as_it_is() -> None:
    """tomcat10.service runs `sh tomcat-start.sh`, which execs `catalina.sh run`: already foreground."""
    s = svc(["/bin/sh", "/usr/libexec/tomcat10/tomcat-start.sh"])
    k = kind_for(s)
    assert k.name == "tomcat" and k.user == "tomcat" and k.http
    assert not k.daemonises(s.exec_start)
    assert k.foreground(s.exec_start, ctx(s)) is None


def test_catalina_start_and_startup_sh_become_run() -> None:
    for argv in (["/opt/tomcat/bin/catalina.sh", "start"], ["/bin/sh", "/opt/tomcat/bin/startup.sh"],
                 ["-/opt/tomcat/bin/catalina.sh", "start", "-security"]):
        s = svc(argv)
        k = kind_for(s)
        assert k.daemonises(argv), argv
        fg = k.foreground(argv, ctx(s))
        assert fg is not None and fg.argv[:2] == ["/opt/tomcat/bin/catalina.sh", "run"], fg
        assert "start" not in fg.argv and "background" in fg.reason
    s = svc(["/opt/tomcat/bin/catalina.sh", "start", "-security"])
    fg = kind_for(s).foreground(s.exec_start, ctx(s))
    assert fg is not None and fg.argv[-1] == "-security", "options other than the verb are kept"


def test_matched_by_executable_without_the_analyzer() -> None:
    assert kind_for(svc(["/opt/tomcat/bin/catalina.sh", "run"], role=None)).name == "tomcat"
    assert kind_for(svc(["/usr/bin/java", "-jar", "app.jar"], role=None)).name != "tomcat"
