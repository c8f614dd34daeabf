"""Apache kind: the default site Debian's postinst enables in the image is removed only when the VM
had it disabled (found on corpus-lamp, which answered with the Debian default page)."""

from __future__ import annotations

from migrate.kinds import kind_named
from migrate.kinds.base import KindContext
from migrate.model.base import Evidence
from migrate.model.inventory import ConfigFile, Inventory, Service

DEFAULT = "/etc/apache2/sites-enabled/000-default.conf"


def ctx(configs: list[str], manager: str = "apt") -> KindContext:
    ev = Evidence(analyzer="test", path="/etc/apache2/apache2.conf")
    inv = Inventory.model_construct(configs=[ConfigFile(path=p, service="apache2", evidence=ev) for p in configs])
    svc = Service(name="apache2", manager="systemd", role="apache", evidence=[ev])
    return KindContext(service=svc, inventory=inv, manager=manager, family="debian")


def test_default_site_removed_when_the_vm_had_it_disabled() -> None:
    apache = kind_named("apache")
    removed = apache.removals(ctx(["/etc/apache2/apache2.conf", "/etc/apache2/sites-enabled/shop.conf"]))
    assert [r.path for r in removed] == [DEFAULT] and "disabled" in removed[0].reason


def test_default_site_kept_when_enabled_in_the_vm_or_not_debian() -> None:
    apache = kind_named("apache")
    assert apache.removals(ctx(["/etc/apache2/apache2.conf", DEFAULT])) == []
    assert apache.removals(ctx(["/etc/httpd/conf/httpd.conf"], manager="dnf")) == []
