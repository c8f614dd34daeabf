"""The hardening decisions on real guests (the corpus VMs and the flagship, built from Debian's packages):
each comes from evidence those guests really carry -- Debian's units' capability settings, the servers'
executables, the ports -- and the corpus end-to-end tests (tests/corpus, tests/e2e) run these stacks with
them. Planning only here (inspect + plan with the guest open), a second or two per guest."""

from __future__ import annotations

import pytest

from migrate.config import ProjectConfig
from migrate.generate import open_source
from migrate.model.plan import Plan
from migrate.plan import build_options, make_plan
from tests.images_fixtures import _sample

pytestmark = pytest.mark.image


def plan_of(sample: str, kind: str) -> Plan:
    images = _sample(sample)
    with open_source([images[kind]]) as src:
        return make_plan(src.inventory, options=build_options(project=ProjectConfig()), reader=src.reader)


def by_role(plan: Plan, role: str):
    return next(c for c in plan.containers if c.role == role)


def caps(c) -> list[str]:
    return [x.name for x in c.hardening.cap_add]


def test_edge_guest() -> None:
    plan = plan_of("corpus-edge", "raw")
    haproxy, varnish = by_role(plan, "haproxy"), by_role(plan, "varnish")
    # both start as root and drop to their users; HAProxy's binary imports chroot() (Debian's config
    # chroots it to /var/lib/haproxy), Varnish listens on 80
    assert haproxy.user.uid == 0 and "SYS_CHROOT" in caps(haproxy)
    assert "imports chroot()" in next(x.reason for x in haproxy.hardening.cap_add if x.name == "SYS_CHROOT")
    assert {"SETUID", "SETGID", "KILL", "NET_BIND_SERVICE"} <= set(caps(varnish))
    assert "SYS_CHROOT" not in caps(varnish)
    for c in plan.containers:
        assert c.hardening.no_new_privileges.enabled and c.hardening.cap_drop_all.enabled, c.name
    redis = by_role(plan, "redis")
    # Debian's redis unit: CapabilityBoundingSet= (none) and ProtectSystem=strict; the root stays writable
    # because the entrypoint renders the requirepass into /etc/redis/redis.conf
    assert "allowed (none)" in redis.hardening.cap_drop_all.reason and not caps(redis)
    assert not redis.hardening.read_only.enabled and "secret" in redis.hardening.read_only.reason


def test_lamp_guest() -> None:
    plan = plan_of("corpus-lamp", "vmdk")
    mariadb, memcached = by_role(plan, "mysql"), by_role(plan, "memcached")
    assert caps(mariadb) == ["IPC_LOCK"]
    assert "AmbientCapabilities=" in mariadb.hardening.cap_add[0].reason
    assert caps(memcached) == ["SETGID", "SETUID", "SYS_RESOURCE"]
    assert "CapabilityBoundingSet=" in memcached.hardening.cap_drop_all.reason
    apache = by_role(plan, "apache")
    assert apache.user.uid == 0 and {"NET_BIND_SERVICE", "SETUID", "SETGID"} <= set(caps(apache))


def test_infra_guest() -> None:
    plan = plan_of("corpus-infra", "raw")
    bind = by_role(plan, "bind")
    assert bind.user.uid != 0 and caps(bind) == ["NET_BIND_SERVICE"]
    assert "port 53" in bind.hardening.cap_add[0].reason
    prometheus = by_role(plan, "prometheus")
    assert prometheus.hardening.cap_drop_all.enabled and not caps(prometheus)
