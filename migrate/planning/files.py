"""Files step: environment, config files, application trees and web roots that go into the image.

Host names that meant "this VM" become the sibling container's name where the plan can rewrite them
(environment values, copied config files); secrets never enter the image (placeholders filled in by
the entrypoint from /run/secrets)."""

from __future__ import annotations

import posixpath
import re

from migrate.graph import resolve_connection
from migrate.kinds import Kind, KindContext
from migrate.model.inventory import ConfigFile, Port, Service
from migrate.model.plan import EnvVar, FileCopy, FileEdit, ReportItem, SecretFill, UserSpec, VolumeMount
from migrate.planning.context import UNIT_KINDS, PlanContext, guest_path

SYSTEM_DIRS = ("/", "/usr", "/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/lib", "/usr/local/bin", "/etc",
               "/var/lib", "/root", "/tmp")


def environment(ctx: PlanContext, s: Service, by_key: dict[str, str], to_provide: list[ReportItem],
                left_out: list[ReportItem]) -> list[EnvVar]:
    """The unit's environment (EnvironmentFile= included by the analyzer), hosts rewritten, secrets
    referenced by name: ``by_key`` maps a variable to its stack secret."""
    env: list[EnvVar] = []
    for key, value in sorted(s.environment.items()):
        new, why = rewrite_hosts(ctx, s, key, value)
        secret = by_key.get(key) if "****" in new else None
        if "****" in new and secret is None:
            to_provide.append(ReportItem(subject=f"environment {key}",
                                         reason="holds a redacted secret migrate could not tie to a Docker secret: "
                                                "set it by hand"))
        if secret:
            why.append(f"the secret part comes from /run/secrets/{secret} at start-up (entrypoint)")
        env.append(EnvVar(name=key, value=new, secret=secret, reason="; ".join(why) or "from the unit's environment"))
    for ef in s.environment_files:
        left_out.append(ReportItem(subject=ef, reason="EnvironmentFile read by systemd: its variables are in "
                                                      "`environment` (secrets filled in by the entrypoint)"))
    return env


def config_files(ctx: PlanContext, s: Service, kind: Kind, kctx: KindContext, vols: list[VolumeMount],
                 members: dict[str, str], to_provide: list[ReportItem], left_out: list[ReportItem]) -> list[FileCopy]:
    files: list[FileCopy] = []
    for c in sorted(ctx.inv.configs, key=lambda c: c.path):
        if c.service != s.name:
            continue
        if c.kind in UNIT_KINDS or c.kind == "env-file" or c.path in s.environment_files:
            if c.kind in UNIT_KINDS:
                left_out.append(ReportItem(subject=c.path, reason="systemd unit: replaced by the container's "
                                                                  "command, user and restart policy"))
            continue
        if any(c.path.startswith(v.target.rstrip("/") + "/") for v in vols):
            left_out.append(ReportItem(subject=c.path, reason="lives in a data directory that becomes a named "
                                                              "volume: it moves with the data"))
            continue
        if c.modified_from_package is False:
            left_out.append(ReportItem(subject=c.path, reason=f"identical to the default of {c.from_package}, "
                                                              "which the image installs at the same version"))
            continue
        copy = file_copy(ctx, s, kind, kctx, c, members, to_provide)
        if copy is not None:
            files.append(copy)
    return files


def rewrite_hosts(ctx: PlanContext, s: Service, key: str, value: str) -> tuple[str, list[str]]:
    why: list[str] = []
    for c in ctx.inv.connections:
        if c.from_service != s.name or c.via != key:
            continue
        target = resolve_connection(ctx.inv, c)
        if isinstance(target, Port) and target.service in ctx.by_service:
            tname = ctx.by_service[target.service]
            new = re.sub(rf"(?<![\w.-]){re.escape(c.host)}(?![\w.-])", tname, value)
            if new != value:
                why.append(f"{c.host} -> {tname}: the service is the {tname} container, found by name "
                           "through Docker's DNS")
                value = new
    return value, why


def connection_edits(ctx: PlanContext, s: Service) -> list[FileEdit]:
    edits: list[FileEdit] = []
    for c in sorted(ctx.inv.connections, key=lambda c: (c.host, c.port or 0)):
        if c.from_service != s.name or c.via in s.environment:
            continue
        target = resolve_connection(ctx.inv, c)
        if isinstance(target, Port) and target.service in ctx.by_service and target.port:
            tname = ctx.by_service[target.service]
            edit = FileEdit(pattern=rf"(?<![\w.-]){re.escape(c.host)}:{target.port}(?!\d)",
                            replacement=f"{tname}:{target.port}",
                            reason=f"{c.via or c.scheme} pointed at {c.host}:{target.port}; in the stack that is "
                                   f"the {tname} container")
            if edit not in edits:
                edits.append(edit)
    return edits


def file_copy(ctx: PlanContext, s: Service, kind: Kind, kctx: KindContext, c: ConfigFile, members: dict[str, str],
              to_provide: list[ReportItem]) -> FileCopy | None:
    fills = [SecretFill(secret=members[x.id], key=x.key or x.kind,
                        reason=f"{x.key} holds a secret: the image gets a placeholder, the entrypoint writes "
                               f"the value from /run/secrets/{members[x.id]} when the container starts")
             for x in ctx.inv.secrets if x.evidence.path == c.path and x.id in members]
    if c.contains_secrets and not fills:
        to_provide.append(ReportItem(subject=c.path, reason="contains secrets migrate could not locate; it is "
                                                            "not copied: provide it (e.g. as a Docker config)"))
        return None
    edits = connection_edits(ctx, s) + kind.config_edits(c, kctx)
    if c.modified_from_package:
        why = f"differs from the default of {c.from_package} (package checksum)"
    elif c.from_package:
        why = f"belongs to {c.from_package}; whether it was changed is unknown, so it is copied"
    else:
        why = "site configuration that no package installs"
    return FileCopy(source=c.path, kind="config", mode=c.mode, uid=c.uid, gid=c.gid, edits=edits,
                    secret_fills=fills, reason=why)


def app_trees(ctx: PlanContext, s: Service, user: UserSpec) -> list[FileCopy]:
    roots: list[tuple[str, str]] = []
    # normalised as the guest sees them, so /opt/../etc is /etc and meets the system-directory check
    if s.working_directory:
        roots.append((guest_path(s.working_directory), "WorkingDirectory"))
    if s.script:
        roots.append((posixpath.dirname(guest_path(s.script)), f"directory of {s.script}"))
    out: list[FileCopy] = []
    seen: set[str] = set()
    data_paths = [pp.path for pp in ctx.inv.persistent_paths if pp.service == s.name and pp.kind != "webroot"]
    for root, why in roots:
        if root in SYSTEM_DIRS or root in seen or any(root == d or root.startswith(d + "/") for d in data_paths):
            continue
        if any(root.startswith(r + "/") for r in seen):
            continue
        seen.add(root)
        out.append(tree_copy(ctx, root, data_paths,
                             f"the application tree ({why}); owned by root in the image so the service "
                             f"(uid {user.uid}) can read but not change its code"))
    return out


def web_roots(ctx: PlanContext, s: Service, taken: list[FileCopy]) -> list[FileCopy]:
    """Document roots the web server analyzers found (persistent paths of kind webroot): static
    content and code that ship in the image."""
    owners = {s.name} | fastcgi_clients(ctx, s)
    roots = sorted({pp.path.rstrip("/") or "/" for pp in ctx.inv.persistent_paths
                    if pp.service in owners and pp.kind == "webroot"})
    data_paths = [pp.path for pp in ctx.inv.persistent_paths if pp.service == s.name and pp.kind != "webroot"]
    copied = [f.source for f in taken if f.kind == "tree"]
    out = []
    for r in roots:
        if r in SYSTEM_DIRS or any(r == o or r.startswith(o + "/") for o in roots if o != r) \
                or any(r == o or r.startswith(o + "/") for o in copied):
            continue
        if any(r == d or r.startswith(d + "/") for d in data_paths):
            continue  # a named volume: its data moves with the volume
        pp = next(p for p in ctx.inv.persistent_paths
                  if p.service in owners and p.kind == "webroot" and p.path.rstrip("/") == r)
        why = (f"document root found by the web server's analyzer ({pp.evidence.path}): shipped in the image"
               if pp.service == s.name else
               f"document root of {pp.service} ({pp.evidence.path}), which hands its scripts to this FastCGI "
               "server: the scripts run here, at the same paths, so the tree ships in this image too")
        out.append(tree_copy(ctx, r, data_paths, why))
    return out


def fastcgi_clients(ctx: PlanContext, s: Service) -> set[str]:
    """Services whose FastCGI connections (nginx fastcgi_pass, ...) reach ``s`` by its TCP port or its
    Unix socket: a FastCGI server executes the files its client names, so it needs their document root."""
    mine = {(p.proto, p.port, (p.path or "").replace("/var/run/", "/run/"))
            for p in ctx.inv.ports if p.service == s.name}
    out = set()
    for c in ctx.inv.connections:
        if c.scheme != "fastcgi" or not c.from_service or c.from_service == s.name:
            continue
        if c.unix_socket and ("unix", None, c.unix_socket.replace("/var/run/", "/run/")) in mine:
            out.add(c.from_service)
        elif not c.unix_socket:
            target = resolve_connection(ctx.inv, c)
            if isinstance(target, Port) and target.service == s.name:
                out.add(c.from_service)
    return out


def tree_copy(ctx: PlanContext, root: str, data_paths: list[str], reason: str) -> FileCopy:
    inside = root.rstrip("/") + "/"
    exclude = sorted(c.path for c in ctx.inv.configs if c.contains_secrets and c.path.startswith(inside))
    exclude += sorted(d for d in data_paths if d.startswith(inside))
    return FileCopy(source=root, kind="tree", uid=0, gid=0, exclude=exclude, reason=reason)
