"""Server kinds: what migrate knows about particular servers, in one home.

The planner and verify never compare kind names; they ask the kind of a service (``kind_for``) how
it runs in the foreground, how to probe it, which packages hint at it. Everything else (files, ports,
users, data, connections) comes from the guest's evidence in the inventory.

Adding a server kind = its analyzer + its kind module + the list entries:

1. an analyzer in ``analyzers/<kind>.py`` that finds the service and sets ``Service.role`` (plus its
   configs, ports, secrets, persistent paths), listed in ``analyzers/__init__.py``'s ``BUILTIN``;
2. a module ``migrate/kinds/<kind>.py`` with a ``Kind`` subclass and ``KIND = <Subclass>()``: set
   ``name``, ``roles`` (the analyzer's role), ``executables`` and whatever applies of ``packages``,
   ``user``, ``stop_signal``, ``start_period``, ``runtime_dirs``, ``schemes``, ``http``, ``vm_only``,
   ``weight``; override ``daemonises``/``foreground`` when the VM's command puts the server in the
   background, ``healthcheck``/``probe`` when the server has its own client, ``config_edits`` when a copied
   config must change to work in a container (see ``base.Kind`` for each);
3. its ``KIND`` in ``BUILTIN`` below, and a test under ``tests/kinds/``.

Third-party kinds come in through the ``migrate.kinds`` entry-point group (an instance of ``Kind``).
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from migrate.kinds import (
    apache,
    app,
    bind,
    haproxy,
    lighttpd,
    memcached,
    mosquitto,
    mysql,
    nginx,
    php_fpm,
    postgresql,
    prometheus,
    redis,
    slapd,
    tomcat,
    varnish,
)
from migrate.kinds.base import Foreground, Kind, KindContext, Probe, drop_options, executable_name

BUILTIN: list[Kind] = [
    postgresql.KIND,
    mysql.KIND,
    redis.KIND,
    memcached.KIND,
    nginx.KIND,
    apache.KIND,
    tomcat.KIND,
    php_fpm.KIND,
    lighttpd.KIND,
    haproxy.KIND,
    varnish.KIND,
    bind.KIND,
    slapd.KIND,
    mosquitto.KIND,
    prometheus.KIND,
    prometheus.EXPORTER,
    app.KIND,
]

# URL schemes of protocols no kind module speaks for (yet): the port a URL without one means.
PROTOCOL_PORTS: dict[str, int] = {
    "http": 80, "https": 443, "amqp": 5672, "amqps": 5671, "mongodb": 27017, "ldap": 389, "ldaps": 636,
    "smtp": 25, "nats": 4222, "kafka": 9092,
}


class Generic(Kind):
    """A service no kind module knows: planned from its evidence alone."""

    name = "generic"


GENERIC = Generic()


@cache
def builtin_kinds(include_plugins: bool = True) -> tuple[Kind, ...]:
    kinds = list(BUILTIN)
    if include_plugins:
        for ep in sorted(entry_points(group="migrate.kinds"), key=lambda e: e.name):
            kinds.append(ep.load())
    names = [k.name for k in kinds]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate kind names: {', '.join(dupes)}")
    return tuple(kinds)


def kind_for(service) -> Kind:
    """The kind of ``service``: by the analyzer's role first, then by the main executable; GENERIC
    when no kind claims it."""
    kinds = builtin_kinds()
    for k in kinds:
        if service.role and service.role in k.roles:
            return k
    for k in kinds:
        if k.matches(service):
            return k
    return GENERIC


def kind_named(role_or_name: str | None) -> Kind:
    """The kind whose name or roles include ``role_or_name`` (what plan.yaml records as a container's
    role); GENERIC when none does."""
    for k in builtin_kinds():
        if role_or_name and (role_or_name == k.name or role_or_name in k.roles):
            return k
    return GENERIC


@cache
def scheme_ports() -> dict[str, int]:
    """URL scheme -> default port: the single table analyzers and the graph use."""
    out = dict(PROTOCOL_PORTS)
    for k in builtin_kinds():
        out.update(k.schemes)
    return out


__all__ = ["BUILTIN", "GENERIC", "Foreground", "Kind", "KindContext", "Probe", "builtin_kinds", "drop_options",
           "executable_name", "kind_for", "kind_named", "scheme_ports"]
