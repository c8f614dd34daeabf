"""User step: the container runs as the uid:gid the service had in the VM."""

from __future__ import annotations

from migrate.errors import InvalidDocument
from migrate.kinds import Kind
from migrate.model.inventory import Service
from migrate.model.plan import FileCopy, UserSpec, VolumeMount
from migrate.planning.context import PlanContext


def user_of(ctx: PlanContext, s: Service, kind: Kind) -> UserSpec:
    users = {u.name: u for u in ctx.inv.users}
    name = s.user or "root"
    borrowed = False
    if s.user is None and kind.user in users:
        name, borrowed = kind.user, True  # the unit starts as root and the server drops to its user
    u = users.get(name)
    uid = s.uid if s.uid is not None and not borrowed else (u.uid if u else (0 if name == "root" else None))
    gid = s.gid if s.gid is not None and not borrowed else (u.gid if u else (0 if name == "root" else None))
    if uid is None or gid is None:
        raise InvalidDocument(f"services[{s.name}].user: {name!r} has no numeric uid/gid in the inventory",
                              path="inventory")
    group = s.group or next((g.name for g in ctx.inv.groups if g.gid == gid), None) or name
    groups = sorted(g.name for g in ctx.inv.groups if name in g.members and g.gid != gid and name != "root")
    if borrowed:
        why = (f"the {s.role} server runs as {name} ({uid}:{gid}) in the VM (its unit starts as root and "
               "drops privileges); the container starts as that user directly")
    elif uid == 0:
        why = ("runs as root in the VM" + (f" ({s.role} drops privileges for its workers itself)"
                                           if kind.drops_privileges else ""))
    else:
        why = (f"User={name} in the VM: the same numeric uid:gid {uid}:{gid} so files in volumes keep "
               "the owner the service expects")
    if groups:
        why += (f"; also a member of {', '.join(groups)} in the VM: the image adds the memberships and USER "
                "names the uid alone, because Docker drops supplementary groups when USER gives a group")
    return UserSpec(name=name, uid=uid, gid=gid, group=group, groups=groups, home=u.home if u else None,
                    shell=u.shell if u else None, reason=why)


def extra_users(ctx: PlanContext, user: UserSpec, files: list[FileCopy], vols: list[VolumeMount]) -> list[UserSpec]:
    """Owners of copied files and volume contents, created in the image with the VM's ids."""
    ids: dict[int, int] = {}
    for f in files:
        if f.uid not in (None, 0, user.uid):
            ids[f.uid] = f.gid if f.gid is not None else f.uid  # type: ignore[index]
    for v in vols:
        if v.uid not in (None, 0, user.uid):
            ids[v.uid] = v.gid if v.gid is not None else v.uid  # type: ignore[index]
    by_uid = {u.uid: u for u in ctx.inv.users}
    out = []
    for uid, gid in sorted(ids.items()):
        u = by_uid.get(uid)
        out.append(UserSpec(name=u.name if u else f"u{uid}", uid=uid, gid=gid, home=u.home if u else None,
                            shell="/usr/sbin/nologin" if ctx.base.family != "alpine" else "/sbin/nologin",
                            reason="owns copied files or volume contents in the VM; created with the same ids"))
    return out
