"""Secrets step: one Docker secret per distinct value, named after what it is.

A name says whose secret it is and what it is, from the secret's evidence: a connection's target and
user (``postgres_shop_password``), the owning container and the setting's kind (``redis_password``,
``nginx_tls_key``, ``mariadb_client_password``), never a guess from the server kind."""

from __future__ import annotations

import re

from migrate.graph import resolve_connection
from migrate.model.inventory import Port, Secret
from migrate.model.plan import StackSecret
from migrate.planning.context import PlanContext, slug

TLS_HINT = re.compile(r"(^|[/._-])(ssl|tls|https?|certs?|private)([/._-]|$)|\.(key|pem)$", re.I)
PASSWORD_HINT = re.compile(r"pass|pwd", re.I)


def what_it_is(sec: Secret) -> str:
    """The last part of a secret's name: password, tls_key, private_key, <section>_password, <key>."""
    key = sec.key or ""
    section, _, leaf = key.rpartition(".")
    if sec.kind == "private-key" or "PRIVATE KEY" in (sec.redacted or ""):
        return "tls_key" if TLS_HINT.search(sec.evidence.path) or TLS_HINT.search(key) else "private_key"
    if sec.kind in ("password", "requirepass", "connection-string") or PASSWORD_HINT.search(leaf or sec.kind):
        qualifier = slug(section).replace("-", "_") if section and not PASSWORD_HINT.search(section) else ""
        return f"{qualifier}_password" if qualifier else "password"
    return slug(key or sec.kind).replace("-", "_")


def plan_secrets(ctx: PlanContext) -> tuple[list[StackSecret], dict[str, str]]:
    """One Docker secret per distinct value (value_ref); returns them and inventory id -> name."""
    groups: dict[str, list[Secret]] = {}
    for sec in ctx.inv.secrets:
        if sec.kind == "password-hash":
            continue
        groups.setdefault(sec.value_ref or sec.id, []).append(sec)
    conns = {c.secret_id: c for c in ctx.inv.connections if c.secret_id}
    out: list[StackSecret] = []
    members: dict[str, str] = {}
    used: set[str] = set()
    for _ref, group in sorted(groups.items()):
        group.sort(key=lambda x: x.id)
        name = None
        # the server's own copy of the value names it (redis requirepass), then a client's connection to it
        own = next((g for g in group if g.service in ctx.by_service and g.id not in conns
                    and g.kind != "connection-string"), None)
        if own is not None:
            name = f"{ctx.by_service[own.service]}_{what_it_is(own)}"  # type: ignore[index]
        else:
            for g in group:
                c = conns.get(g.id)
                if c is not None:
                    target = resolve_connection(ctx.inv, c)
                    if isinstance(target, Port) and target.service in ctx.by_service:
                        tname = ctx.by_service[target.service]
                        name = f"{tname}_{c.username}_password" if c.username else f"{tname}_password"
                        break
        if name is None:
            g = group[0]
            owner = ctx.by_service.get(g.service or "", slug(g.service or "stack"))
            name = f"{owner}_{what_it_is(g)}"
        name = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
        base, i = name, 2
        while name in used:
            name, i = f"{base}_{i}", i + 1
        used.add(name)
        where = ", ".join(f"{g.id} ({g.evidence.path})" for g in group)
        out.append(StackSecret(name=name, file=f"secrets/{name}.txt", kind=group[0].kind,
                               found_as=[g.id for g in group], labels=ctx.stack_labels(),
                               reason=f"the same value was found as {where}; a Docker secret mounted at "
                                      f"/run/secrets/{name}, never an image layer or an environment value"))
        for g in group:
            members[g.id] = name
    return out, members
