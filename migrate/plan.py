"""Inventory + ServiceGraph -> Plan: one container per service the VM really runs.

Every choice made here lands in the plan with a ``reason`` so a human can review and edit it; the
generator only executes the plan. The work is done by the steps in ``migrate/planning/`` (selection,
volumes, secrets, user, files, packages, command, ports, healthcheck, localhost, deploy, jobs); what
is particular to a server kind (how it stays in the foreground, how it is probed) lives in
``migrate/kinds/``. This module keeps the public API: ``make_plan``, ``PlanOptions``, ``build_options``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from migrate.config import ProjectConfig, load_project_config
from migrate.errors import InvalidDocument, UsageError
from migrate.graph import build_graph
from migrate.model.graph import ServiceGraph
from migrate.model.inventory import Inventory, Service
from migrate.model.plan import (
    Container,
    FileCopy,
    Healthcheck,
    Network,
    OSDecision,
    Packages,
    Plan,
    ReportItem,
    RuntimeDir,
    SecretMount,
    StackSecret,
    Volume,
)
from migrate.planning import localhost
from migrate.planning.base_image import choose_base_image, pin
from migrate.planning.blockers import service_blockers
from migrate.planning.command import command_for, is_static_elf, static_binary
from migrate.planning.context import GuestReader, PlanContext, slug
from migrate.planning.deploy import SIZING_RULE, deploy_for, fitness, vm_fitness, wire_dependencies
from migrate.planning.files import app_trees, config_files, environment, web_roots
from migrate.planning.hardening import harden
from migrate.planning.health import healthcheck_for
from migrate.planning.jobs import cron_interval, plan_jobs, shared_files
from migrate.planning.out_of_scope import blocked_plan, no_base_image, out_of_scope_reason
from migrate.planning.packages import packages_for
from migrate.planning.ports import ports_for
from migrate.planning.secrets import plan_secrets
from migrate.planning.selection import select
from migrate.planning.users import extra_users, user_of
from migrate.planning.volumes import volumes_for

# re-exported for callers: choose_base_image, cron_interval, is_static_elf, pin, GuestReader, slug
__all__ = ["GuestReader", "PlanOptions", "Planner", "build_options", "choose_base_image", "cron_interval",
           "is_static_elf", "make_plan", "pin", "slug"]

LABEL_KEYS = ("environment", "maturity", "maintainer", "geo", "ops-guide", "test-script")


@dataclass
class PlanOptions:
    org: str = "example"
    labels: dict[str, str] = field(default_factory=dict)  # keys of LABEL_KEYS
    base_image: str | None = None  # overrides the per-distro choice for every container
    image_prefix: str | None = None  # default: [registry/]<image namespace>/<stack>
    stack_name: str | None = None
    # the project config (migrate.yaml): registry, tag, image labels, base images per distro release
    project: ProjectConfig = field(default_factory=ProjectConfig)
    image_namespace: str | None = None  # an org given by the user; default "migrate" (see migrate.oci)

    @classmethod
    def from_file(cls, path: Path, **overrides: object) -> PlanOptions:
        """A small YAML file: ``org: acme`` and ``labels: {environment: prod, maintainer: ...}``."""
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidDocument(f"cannot read label config: {exc}", path=str(path)) from exc
        if not isinstance(data, dict):
            raise InvalidDocument("expected a mapping with org and labels", path=str(path))
        unknown = set(data) - {"org", "labels", "base_image", "image_prefix", "stack_name"}
        if unknown:
            raise InvalidDocument(f"unknown keys: {', '.join(sorted(unknown))}", path=str(path))
        labels = data.get("labels") or {}
        if not isinstance(labels, dict):
            raise InvalidDocument("labels: expected a mapping", path=str(path))
        bad = set(labels) - set(LABEL_KEYS)
        if bad:
            raise InvalidDocument(f"labels: unknown keys {', '.join(sorted(bad))} (known: {', '.join(LABEL_KEYS)})",
                                  path=str(path))
        opts = cls(org=str(data.get("org", "example")), labels={k: str(v) for k, v in labels.items()},
                   base_image=data.get("base_image"), image_prefix=data.get("image_prefix"),
                   stack_name=data.get("stack_name"))
        for k, v in overrides.items():
            if v:
                if k == "labels":
                    opts.labels.update(v)  # type: ignore[arg-type]
                else:
                    setattr(opts, k, v)
        return opts


class Planner:
    """Runs the steps in order over one inventory; state shared by the steps is in ``self.ctx``."""

    def __init__(self, inv: Inventory, graph: ServiceGraph, options: PlanOptions,
                 reader: GuestReader | None) -> None:
        inv = inv.canonical()
        self.out_of_scope = out_of_scope_reason(inv)  # a Windows guest: a plan of blockers, no containers
        base = choose_base_image(inv) if self.out_of_scope is None else no_base_image(inv, self.out_of_scope)
        configured = options.project.base_image_for(inv.os.distro.lower(), inv.os.version)
        if options.base_image:
            base.image = options.base_image
            ran = inv.os.pretty_name or inv.os.distro
            base.reason = f"set by the user (--base-image); the VM ran {ran}"
        elif configured:
            base.image = configured
            base.reason = (f"base_images in {options.project.path}: {inv.os.distro} {inv.os.version or ''} -> "
                           f"{configured}").replace("  ", " ")
        org = slug(options.org).replace("-", "")
        stack = slug(options.stack_name or inv.name)
        self.options = options
        self.ctx = PlanContext(inv=inv, graph=graph, reader=reader, base=base, org=org, stack=stack,
                               image_prefix=options.image_prefix or stack,
                               extra_labels=dict(options.labels))

    def plan(self) -> Plan:
        ctx = self.ctx
        if self.out_of_scope is not None:
            return blocked_plan(ctx, self.out_of_scope)
        select(ctx)
        secrets, secret_members = plan_secrets(ctx)
        volumes: list[Volume] = []
        containers: list[Container] = []
        weights = {n: ctx.kind(s).weight for n, s in ctx.containers.items()}
        total_weight = sum(weights.values()) or 1
        for name, s in sorted(ctx.containers.items()):
            containers.append(self.plan_container(name, s, secrets, secret_members, volumes,
                                                  weights[name] / total_weight))
        localhost.bridge(ctx, containers, volumes)
        wire_dependencies(ctx, containers)
        jobs = plan_jobs(ctx, containers)
        networks = [Network(name="backend", labels=ctx.stack_labels(),
                            reason="one private network for the services that talked over loopback in the VM; "
                                   "bridge under compose, overlay under swarm")]
        if any(p.publish for c in containers for p in c.ports):
            networks.append(Network(name="frontend", labels=ctx.stack_labels(),
                                    reason="entry points (published ports) sit here as well, keeping the backend "
                                           "network for internal traffic"))
        external = [ReportItem(subject=f"{x.from_service} -> {x.url_redacted}", reason=x.reason)
                    for x in ctx.graph.external]
        notes = [ReportItem(subject=f"{u.service}: {u.relation}={u.unit}",
                            reason="the unit is not a service in the inventory; the dependency is ignored")
                 for u in ctx.graph.unresolved_units]
        for cyc in ctx.graph.cycles:
            notes.append(ReportItem(subject=" -> ".join(c.removeprefix("service:") for c in cyc),
                                    reason="a dependency cycle: the depends_on edge closing it was left out"))
        for sec in ctx.inv.secrets:
            if sec.kind == "password-hash":
                notes.append(ReportItem(subject=sec.id, reason=f"a password hash ({sec.evidence.path}) moves with "
                                        "the data it lives in; not a Docker secret"))
        for pp in ctx.inv.persistent_paths:
            if pp.service not in ctx.by_service:
                notes.append(ReportItem(subject=pp.path, reason=f"persistent data ({pp.reason}) of no containerised "
                                        "service: not carried over; move it by hand if still needed"))
        inv = ctx.inv
        plan = Plan(
            name=ctx.stack, source_vm=inv.name, org=ctx.org, label_prefix=ctx.prefix,
            os=OSDecision(family=inv.os.family, distro=inv.os.distro, version=inv.os.version,
                          codename=inv.os.codename, reason="from the inventory (os-release)"),
            stack_labels=ctx.stack_labels(), sizing_rule=SIZING_RULE, containers=containers,
            dropped=ctx.dropped, jobs=jobs, volumes=volumes, secrets=secrets, networks=networks,
            external=external, shared_files=shared_files(containers, jobs), notes=notes,
            fitness=vm_fitness(ctx, containers),
        )
        plan = self.name_images(plan.canonical())
        problems = plan.check()
        if problems:  # a planner bug, not a user error
            raise AssertionError("; ".join(problems))
        return plan

    def name_images(self, plan: Plan) -> Plan:
        """Image references and OCI labels, once every other decision is made (the default tag is a
        digest of the container's plan entry). ``[registry/]namespace/stack-service:tag``."""
        from migrate.oci import DEFAULT_NAMESPACE, image_ref, plan_labels, plan_tag

        project = self.options.project
        explicit_prefix = self.options.image_prefix
        namespace = slug(self.options.image_namespace or DEFAULT_NAMESPACE)
        for c in plan.containers:
            tag = project.tag or plan_tag(c.model_dump(mode="json"))
            if explicit_prefix:
                c.image = f"{explicit_prefix}-{c.name}:{tag}"
            else:
                c.image = image_ref(registry=project.registry, namespace=namespace, stack=plan.name, name=c.name,
                                    tag=tag)
            c.labels.update(plan_labels(
                title=c.labels.get("org.opencontainers.image.title", c.name),
                description=c.labels.get("org.opencontainers.image.description", c.name),
                version=tag, vendor=plan.org, project=project.image_labels, source_vm=plan.source_vm))
        return plan

    def plan_container(self, name: str, s: Service, secrets: list[StackSecret], members: dict[str, str],
                       all_volumes: list[Volume], share: float) -> Container:
        ctx = self.ctx
        kind = ctx.kind(s)
        to_provide: list[ReportItem] = []
        left_out: list[ReportItem] = []

        vols, blockers = volumes_for(ctx, name, s, all_volumes)
        mine = {sid: n for sid, n in members.items()
                if any(x.id == sid and x.service == s.name for x in ctx.inv.secrets)}
        secret_of = {x.key: members[x.id] for x in ctx.inv.secrets if x.id in mine and x.key}
        mounts = [SecretMount(secret=n, target=n,
                              reason="found as " + ", ".join(sorted(k for k, v in mine.items() if v == n)))
                  for n in sorted(set(mine.values()))]
        kctx = ctx.kind_context(s, [v.target for v in vols], secret_of)
        user = user_of(ctx, s, kind)
        env = environment(ctx, s, secret_of, to_provide, left_out)

        files = config_files(ctx, s, kind, kctx, vols, members, to_provide, left_out)
        files += app_trees(ctx, s, user)
        files += web_roots(ctx, s, files)

        base = ctx.base.model_copy()
        static = static_binary(ctx, s, kind)
        if static:
            base.runtime = "scratch"
            base.reason = (f"{static} is a static executable (no ELF interpreter): the runtime stage is FROM "
                           f"scratch and holds only what runs; {base.image} is the build stage's base")
            files.append(FileCopy(source=static, kind="file", uid=0, gid=0, mode=0o755,
                                  reason="the service's static executable, copied from the VM"))
            pkgs = Packages(reason="none: a static executable on FROM scratch")
            found: set[str] = {"(static)"}
        else:
            pkgs, found = packages_for(ctx, s, kind, [])
        ports, port_blockers = ports_for(ctx, s, kind)
        blockers += port_blockers
        if static:
            health, extra = Healthcheck(kind="none", test=["NONE"], reason="FROM scratch has no shell or probe "
                                        "tools; Docker watches the process (add a health endpoint client to the "
                                        "binary to do better)"), []
        else:
            health, extra = healthcheck_for(ctx, s, kind, kctx, ports, [p.name for p in pkgs.items])
        if extra:
            pkgs, found = packages_for(ctx, s, kind, extra)
        command, cmd_blockers = command_for(s, kind, kctx)
        blockers += cmd_blockers
        blockers += service_blockers(s, kind, user.uid, command.argv, found, files)

        runtime = [RuntimeDir(path=p, uid=user.uid, gid=user.gid, mode=mode,
                              reason="systemd's RuntimeDirectory/tmpfiles.d made it in the VM; the image has to")
                   for p, mode in kind.runtime_dirs]
        deploy = deploy_for(ctx, kind.weight, share, stateful=bool(vols))
        networks = ["backend"] + (["frontend"] if any(p.publish for p in ports) else [])
        labels = {
            "org.opencontainers.image.title": name,
            "org.opencontainers.image.description": s.description or f"{s.name} from {ctx.inv.name}",
            "org.opencontainers.image.vendor": ctx.org,
            **ctx.stack_labels(),
            f"{ctx.prefix}.source-service": s.name,
        }
        why = f"{s.manager} service {s.name}" + (f" ({s.role})" if s.role else "") + " runs in the VM"
        container = Container(
            name=name, source_service=s.name, role=s.role, image=f"{ctx.image_prefix}-{name}",  # tagged later
            base=base, packages=pkgs, user=user, extra_users=extra_users(ctx, user, files, vols),
            command=command, files=files, runtime_dirs=runtime, remove=kind.removals(kctx), links=kind.links(kctx),
            ports=ports, healthcheck=health, volumes=vols, secrets=mounts, environment=env, depends_on=[],
            networks=networks, deploy=deploy, labels=labels, to_provide=to_provide, left_out=left_out,
            fitness=fitness(blockers), reason=why,
        )
        harden(ctx, s, container)
        return container


def make_plan(inv: Inventory, graph: ServiceGraph | None = None, options: PlanOptions | None = None,
              reader: GuestReader | None = None) -> Plan:
    """The plan for ``inv``. ``reader`` (a RootFS) lets the planner look into config files for things
    the inventory does not list (web roots); without it those are listed under ``to_provide``."""
    return Planner(inv, graph or build_graph(inv), options or PlanOptions(), reader).plan()


def build_options(*, org: str | None = None, labels: list[str] | None = None, labels_config: Path | None = None,
                  base_image: str | None = None, stack_name: str | None = None,
                  project: ProjectConfig | None = None) -> PlanOptions:
    """PlanOptions from command-line style input: ``labels`` as KEY=VALUE, an optional YAML file
    (``org:``, ``labels:``) whose values the explicit options override, over the project config
    (``migrate.yaml`` found from the working directory when ``project`` is not given)."""
    if project is None:
        project = load_project_config(Path.cwd())
    options = _build_options(org=org or project.org, labels=labels, labels_config=labels_config,
                             base_image=base_image, stack_name=stack_name)
    options.labels = {**project.labels, **options.labels}
    options.project = project
    options.image_namespace = org or project.org or (options.org if options.org != "example" else None)
    return options


def _build_options(*, org: str | None, labels: list[str] | None, labels_config: Path | None,
                   base_image: str | None, stack_name: str | None) -> PlanOptions:
    parsed: dict[str, str] = {}
    for item in labels or []:
        key, sep, value = item.partition("=")
        if not sep or key not in LABEL_KEYS:
            raise UsageError(f"--label {item!r}: expected KEY=VALUE with KEY one of {', '.join(LABEL_KEYS)}")
        parsed[key] = value
    if labels_config is not None:
        return PlanOptions.from_file(labels_config, org=org, labels=parsed, base_image=base_image,
                                     stack_name=stack_name)
    return PlanOptions(org=org or "example", labels=parsed, base_image=base_image, stack_name=stack_name)
