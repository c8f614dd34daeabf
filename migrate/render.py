"""Plan -> text: Dockerfiles, entrypoints, compose files and the stack README.

Templates are package data (``migrate.templates``), never read relative to the working directory.
Compose files are built as data and serialised with PyYAML (inside a template for the header) so
quoting can't go wrong; everything else is a Jinja template. Nothing here touches the filesystem.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined

from migrate.model.plan import Container, Plan, UserSpec

SECRET_TEMPLATE_DIR = "/usr/local/share/migrate/secret-templates"  # where the container sees its templates
# where they live in OUTDIR: outside every build context, so no template (even a placeholder-only one)
# is ever part of an image; compose mounts each one as a config at SECRET_TEMPLATE_DIR + its destination
SECRET_TEMPLATES_OUT = "secret-templates"
ENTRYPOINT = "/usr/local/bin/migrate-entrypoint"


def placeholder(secret: str) -> str:
    return f"@@MIGRATE_SECRET_{secret}@@"


def secret_template_file(container: str, dest: str) -> str:
    """OUTDIR-relative file of the template of ``dest`` (a guest path) in ``container``."""
    return f"{SECRET_TEMPLATES_OUT}/{container}/{dest.lstrip('/')}"


def secret_template_config(container: str, dest: str) -> str:
    """The compose config name of a template: unique per stack, within swarm's 64 characters."""
    base = re.sub(r"[^a-z0-9]+", "-", f"{container}-{dest}".lower()).strip("-")
    digest = hashlib.sha256(f"{container}\0{dest}".encode()).hexdigest()[:8]
    return f"tpl-{base[:44]}-{digest}"


def _one_line(text: str) -> str:
    """A plan reason as one comment line: an edited plan may hold newlines, which would end the comment."""
    return " ".join(text.split())


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("migrate.templates", "."), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False)
    env.filters["shquote"] = shlex.quote
    env.filters["tojson"] = lambda v: json.dumps(v, ensure_ascii=False)
    env.filters["one_line"] = _one_line
    return env


_ENV = _environment()


def render_template(name: str, **context: Any) -> str:
    return _ENV.get_template(name).render(**context)


# --- Dockerfile -------------------------------------------------------------------------------------


def _docker_label_value(value: str) -> str:
    return json.dumps(value, ensure_ascii=False).replace("$", "\\$")


def _user_cmds(family: str, u: UserSpec) -> list[str]:
    """BusyBox adduser takes a group name, not a gid: the name the gid has in the image is looked up
    with awk rather than ``getent | cut``, because a pipe in RUN hides the first command's failure and
    /bin/sh (dash in Debian, BusyBox ash) cannot be relied on for ``-o pipefail`` (hadolint DL4006)."""
    group = u.group or u.name
    home = u.home or "/nonexistent"
    shell = u.shell or ("/sbin/nologin" if family == "alpine" else "/usr/sbin/nologin")
    if family == "alpine":
        return [f"(getent group {u.gid} >/dev/null || addgroup -S -g {u.gid} {shlex.quote(group)})",
                f"(getent passwd {u.uid} >/dev/null || adduser -S -D -H -u {u.uid} "
                f"-G \"$(awk -F: -v gid={u.gid} '$3 == gid {{print $1; exit}}' /etc/group)\" "
                f"-h {shlex.quote(home)} -s {shlex.quote(shell)} "
                f"{shlex.quote(u.name)})"]
    return [f"(getent group {u.gid} >/dev/null || groupadd --system --gid {u.gid} {shlex.quote(group)})",
            f"(getent passwd {u.uid} >/dev/null || useradd --system --uid {u.uid} --gid {u.gid} --no-create-home "
            f"--home-dir {shlex.quote(home)} --shell {shlex.quote(shell)} {shlex.quote(u.name)})"]


def scratch_prepare(c: Container) -> list[str]:
    """Build-stage commands for a FROM scratch runtime: passwd/group entries and directories that a
    distribution runtime stage would have made with RUN."""
    users = {0: ("root", 0, "/root")}
    for u in [c.user, *c.extra_users]:
        users[u.uid] = (u.name, u.gid, u.home or "/nonexistent")
    passwd = [f"{n}:x:{uid}:{gid}::{home}:/sbin/nologin" for uid, (n, gid, home) in sorted(users.items())]
    groups = {0: "root", c.user.gid: c.user.group or c.user.name}
    group = [f"{name}:x:{gid}:" for gid, name in sorted(groups.items())]
    cmds = ["mkdir -p /rootfs/etc /rootfs/tmp && chmod 1777 /rootfs/tmp",
            "printf '%s\\n' " + " ".join(shlex.quote(x) for x in passwd) + " > /rootfs/etc/passwd",
            "printf '%s\\n' " + " ".join(shlex.quote(x) for x in group) + " > /rootfs/etc/group"]
    for d in c.runtime_dirs:
        cmds.append(f"install -d -o {d.uid} -g {d.gid} -m {d.mode:04o} /rootfs{d.path}")
    for v in c.volumes:
        uid = v.uid if v.uid is not None else c.user.uid
        gid = v.gid if v.gid is not None else c.user.gid
        mode = f" -m {v.mode:04o}" if v.mode is not None else ""
        cmds.append(f"install -d -o {uid} -g {gid}{mode} /rootfs{v.target}")
    return cmds


def install_commands(c: Container) -> list[str]:
    """One RUN: create the VM's users with their ids (before packages, whose scripts would pick other
    ids), install the pinned packages, clean the package caches in the same layer, make directories."""
    family, manager = c.base.family, c.base.package_manager
    users = [u for u in [c.user, *c.extra_users] if u.uid != 0]
    user_cmds = [cmd for u in users for cmd in _user_cmds(family, u)]
    specs = " ".join(shlex.quote(p.spec) for p in c.packages.items)
    cmds: list[str] = ["set -eux"]
    if manager == "apt":
        cmds.append("printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d")
        # slim images exclude /usr/share/man, but update-alternatives still links man pages there: a JRE's
        # postinst then fails (Debian #863199) and leaves tomcat10 & co. unconfigured (found on corpus-tomcat)
        cmds.append("mkdir -p /usr/share/man/man1")
        cmds += user_cmds
        if specs:
            cmds += ["apt-get update",
                     f"DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {specs}"]
        cmds.append("rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d")
    elif manager == "dnf":
        if users:
            cmds.append("dnf install -y --setopt=install_weak_deps=False shadow-utils")
        cmds += user_cmds
        if specs:
            cmds.append(f"dnf install -y --setopt=install_weak_deps=False {specs}")
        cmds.append("dnf clean all && rm -rf /var/cache/dnf")
    elif manager == "zypper":
        if users:
            cmds.append("zypper --non-interactive install --no-recommends shadow")
        cmds += user_cmds
        if specs:
            cmds.append(f"zypper --non-interactive install --no-recommends {specs}")
        cmds.append("zypper clean --all")
    elif manager == "apk":
        cmds += user_cmds
        if specs:
            cmds.append(f"apk add --no-cache {specs}")
    for g in c.user.groups:  # after the packages: they create groups such as ssl-cert
        add = (f"addgroup {shlex.quote(c.user.name)} {shlex.quote(g)}" if family == "alpine"
               else f"usermod -a -G {shlex.quote(g)} {shlex.quote(c.user.name)}")
        cmds.append(f"if getent group {shlex.quote(g)} >/dev/null; then {add}; fi")
    for r in c.remove:
        cmds.append(f"rm -f {shlex.quote(r.path)}")
    for link in c.links:
        cmds.append(f"ln -sf {shlex.quote(link.target)} {shlex.quote(link.path)}")
    for d in c.runtime_dirs:
        cmds.append(f"install -d -o {d.uid} -g {d.gid} -m {d.mode:04o} {shlex.quote(d.path)}")
    for v in c.volumes:
        uid = v.uid if v.uid is not None else c.user.uid
        gid = v.gid if v.gid is not None else c.user.gid
        mode = f" -m {v.mode:04o}" if v.mode is not None else ""
        cmds.append(f"install -d -o {uid} -g {gid}{mode} {shlex.quote(v.target)}")
    return cmds


@dataclass
class FileFill:
    dest: str
    template: str
    fills: list[dict[str, str]] = field(default_factory=list)


# hadolint's rule for an unpinned install, per package manager
UNPINNED_RULE = {"apt": "DL3008", "dnf": "DL3041", "zypper": "DL3037", "apk": "DL3018"}
USER_TOOLS = {"dnf": "shadow-utils", "zypper": "shadow"}  # useradd/groupadd, installed before the users


@dataclass(frozen=True)
class LintIgnore:
    """A hadolint finding the plan intends, written into the Dockerfile as ``# hadolint ignore=RULE``
    right above the instruction (hadolint reads no other place without a config file), with its reason
    on the comment lines above, so ``hadolint Dockerfile`` in the stack folder is clean by itself."""
    rule: str
    why: str


def install_ignores(c: Container) -> list[LintIgnore]:
    """The install RUN's intended findings: the user tools (a build tool the plan does not version) and
    any package the plan left unpinned on purpose (its reason says why: e.g. not in the VM)."""
    manager = c.base.package_manager
    rule = UNPINNED_RULE.get(manager)
    if rule is None or c.base.runtime == "scratch":
        return []
    out: list[LintIgnore] = []
    if manager in USER_TOOLS and any(u.uid != 0 for u in [c.user, *c.extra_users]):
        out.append(LintIgnore(rule, f"{USER_TOOLS[manager]} is unpinned: it only provides useradd/groupadd to "
                                    "create the VM's users before the packages, a build tool the service does not "
                                    "run, taken at the base image repository's version"))
    for p in c.packages.items:
        if not p.version or p.spec == p.name:
            out.append(LintIgnore(rule, f"{p.name} is unpinned: {_one_line(p.reason or 'no version in the plan')}"))
    return out


def user_ignores(c: Container) -> list[LintIgnore]:
    """USER root (DL3002) when the VM runs the service as root: the plan's user reason says why."""
    if c.user.uid != 0:
        return []
    return [LintIgnore("DL3002", f"USER root: {_one_line(c.user.reason or 'the plan keeps root')}")]


def user_instruction(c: Container) -> str:
    """uid:gid, or the uid alone when the user has supplementary groups (Docker keeps them only then)."""
    return str(c.user.uid) if c.user.groups else f"{c.user.uid}:{c.user.gid}"


def healthcheck_instruction(test: list[str]) -> str:
    """The HEALTHCHECK's CMD, always in exec form. Docker runs a shell-form HEALTHCHECK CMD (compose's
    CMD-SHELL) as ``/bin/sh -c`` — the default SHELL, which the generated Dockerfiles never change — so
    ``["/bin/sh", "-c", test]`` is the same command, with no doubt left for readers or hadolint (DL3025)."""
    if test[0] == "CMD-SHELL":
        return json.dumps(["/bin/sh", "-c", test[1]], ensure_ascii=False)
    if test[0] == "CMD":
        return json.dumps(test[1:], ensure_ascii=False)
    return json.dumps(test, ensure_ascii=False)


def render_dockerfile(plan: Plan, c: Container, prepare: list[str], entrypoint: bool) -> str:
    labels = sorted(c.labels.items())
    labels.append(("org.opencontainers.image.base.name", "scratch" if c.base.runtime == "scratch" else "${BASE_IMAGE}"))
    rendered = [(k, json.dumps(v) if k == "org.opencontainers.image.base.name" else _docker_label_value(v))
                for k, v in sorted(labels)]
    scratch = c.base.runtime == "scratch"
    if scratch:
        prepare = scratch_prepare(c) + prepare
    text = render_template("Dockerfile.j2", plan=plan, c=c, prepare=prepare,
                           install=[] if scratch else install_commands(c),
                           labels=rendered, entrypoint=entrypoint, user=user_instruction(c),
                           install_ignores=[] if scratch else install_ignores(c), user_ignores=user_ignores(c),
                           healthcheck_cmd=healthcheck_instruction(c.healthcheck.test) if c.healthcheck.test else "")
    return text


def render_entrypoint(c: Container, file_fills: list[FileFill]) -> str | None:
    env_fills = [e for e in c.environment if e.secret]
    if not env_fills and not file_fills and not c.forwarders:
        return None
    return render_template("entrypoint.sh.j2", c=c, env_fills=env_fills, file_fills=file_fills)


# --- compose ----------------------------------------------------------------------------------------


def _escape(value: Any) -> Any:
    """Compose interpolates $VAR: every literal $ is written $$."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    return value


def _deploy(c: Container) -> dict[str, Any]:
    d = c.deploy
    out: dict[str, Any] = {"mode": "replicated", "replicas": d.replicas}
    resources: dict[str, Any] = {}
    for key, res in (("limits", d.limits), ("reservations", d.reservations)):
        entry: dict[str, Any] = {}
        if res.cpus is not None:
            entry["cpus"] = f"{res.cpus:g}"
        if res.memory_mib is not None:
            entry["memory"] = f"{res.memory_mib}M"
        if entry:
            resources[key] = entry
    if resources:
        out["resources"] = resources
    out["restart_policy"] = {"condition": d.restart_condition, "delay": d.restart_delay, "window": d.restart_window}
    out["update_config"] = {"parallelism": d.update_parallelism, "delay": d.update_delay, "order": d.update_order,
                            "failure_action": d.update_failure_action}
    out["rollback_config"] = {"parallelism": 1, "order": "stop-first"}
    placement: dict[str, Any] = {}
    if d.placement_constraints:
        placement["constraints"] = list(d.placement_constraints)
    if d.placement_preferences:
        placement["preferences"] = [{"spread": p} for p in d.placement_preferences]
    if placement:
        out["placement"] = placement
    out["labels"] = dict(sorted(c.labels.items()))
    return out


def compose_document(plan: Plan, templates: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """``templates``: container -> guest paths of the files its entrypoint renders from a secret
    template (generate decides: the plan's secret fills and any file that held a secret value);
    each is mounted read-only as a config, never built into the image."""
    templates = templates or {}
    configs: dict[str, Any] = {}
    services: dict[str, Any] = {}
    for c in plan.containers:
        svc: dict[str, Any] = {
            "image": c.image,
            "build": {"context": f"./{c.name}", "args": {"BASE_IMAGE": c.base.image}},
        }
        env = {e.name: e.value for e in c.environment}
        if env:
            svc["environment"] = env
        if c.secrets:
            svc["secrets"] = [{"source": s.secret, "target": s.target} for s in c.secrets]
        if templates.get(c.name):
            svc["configs"] = []
            for dest in sorted(templates[c.name]):
                name = secret_template_config(c.name, dest)
                configs[name] = {"file": f"./{secret_template_file(c.name, dest)}",
                                 "labels": dict(sorted(c.labels.items()))}
                svc["configs"].append({"source": name, "target": f"{SECRET_TEMPLATE_DIR}{dest}"})
        if c.volumes:
            svc["volumes"] = [{"type": "volume", "source": v.volume, "target": v.target} for v in c.volumes]
        svc["networks"] = list(c.networks)
        published = [p for p in c.ports if p.publish]
        if published:
            svc["ports"] = [{"target": p.port, "published": p.port, "protocol": p.proto, "mode": "ingress"}
                            for p in published]
        if c.healthcheck.kind != "none":
            svc["healthcheck"] = {"test": list(c.healthcheck.test), "interval": c.healthcheck.interval,
                                  "timeout": c.healthcheck.timeout, "retries": c.healthcheck.retries,
                                  "start_period": c.healthcheck.start_period}
        if c.depends_on:
            # the list form: `docker stack` accepts nothing else; conditions are in compose.override.yaml
            svc["depends_on"] = [d.service for d in c.depends_on]
        if c.command.stop_signal:
            svc["stop_signal"] = c.command.stop_signal
        svc["stop_grace_period"] = "60s" if c.volumes else "20s"
        svc.update(hardening_options(c))
        svc["deploy"] = _deploy(c)
        svc["labels"] = dict(sorted(c.labels.items()))
        services[c.name] = svc
    for j in plan.jobs:
        if j.action != "service":
            continue
        base = services[j.run_in]
        svc = {k: base[k] for k in ("image", "build", "environment", "secrets", "volumes", "networks",
                                     "depends_on") if k in base}
        loop = (f"while :; do sleep {j.interval_seconds}; {j.command} "
                f"|| echo \"migrate job {j.name} failed with status $?\" >&2; done")
        svc["command"] = ["sh", "-c", loop]
        if j.uid is not None:
            svc["user"] = f"{j.uid}:{j.gid if j.gid is not None else j.uid}"
        svc["healthcheck"] = {"disable": True}
        labels = {**base["labels"], f"{plan.label_prefix}.job-schedule": j.schedule,
                  f"{plan.label_prefix}.job-source": j.source}
        svc["deploy"] = {"mode": "replicated", "replicas": 1,
                         "resources": {"limits": {"cpus": "0.25", "memory": "256M"}},
                         "restart_policy": {"condition": "any", "delay": "5s", "window": "120s"},
                         "placement": base["deploy"].get("placement", {}),
                         "labels": dict(sorted(labels.items()))}
        if not svc["deploy"]["placement"]:
            del svc["deploy"]["placement"]
        svc["labels"] = dict(sorted(labels.items()))
        services[j.name] = svc
    doc: dict[str, Any] = {
        "services": services,
        "networks": {n.name: {"labels": dict(sorted(n.labels.items()))} for n in plan.networks},
    }
    if plan.volumes:
        doc["volumes"] = {v.name: {"labels": {**dict(sorted(v.labels.items())),
                                              f"{plan.label_prefix}.service": v.service,
                                              f"{plan.label_prefix}.source-path": v.path}}
                          for v in plan.volumes}
    if plan.secrets:
        doc["secrets"] = {s.name: {"file": f"./{s.file}", "labels": dict(sorted(s.labels.items()))}
                          for s in plan.secrets}
    if configs:
        doc["configs"] = configs
    return _escape(doc)


def hardening_options(c: Container) -> dict[str, Any]:
    """security_opt / cap_drop / cap_add / read_only / tmpfs from the plan's hardening decisions."""
    h = c.hardening
    out: dict[str, Any] = {}
    if h.no_new_privileges.enabled:
        out["security_opt"] = ["no-new-privileges:true"]
    if h.cap_drop_all.enabled:
        out["cap_drop"] = ["ALL"]
        if h.cap_add:
            out["cap_add"] = sorted(cap.name for cap in h.cap_add)
    if h.read_only.enabled:
        out["read_only"] = True
        if h.tmpfs:
            out["tmpfs"] = [f"{t.path}:mode={t.mode:o}" for t in sorted(h.tmpfs, key=lambda t: t.path)]
    return out


DEBUG_ENV = {
    "python3": {"PYTHONUNBUFFERED": "1", "PYTHONDEVMODE": "1", "PYTHONFAULTHANDLER": "1"},
    "node": {"NODE_OPTIONS": "--enable-source-maps"},
}


def _conditions(c: Container) -> dict[str, Any]:
    return {d.service: {"condition": d.condition} for d in c.depends_on}


def compose_override_document(plan: Plan) -> dict[str, Any]:
    """Start order with health conditions: Compose-only syntax that `docker stack` rejects, so it
    lives in the file `docker compose` loads by itself next to compose.yaml."""
    services = {c.name: {"depends_on": _conditions(c)} for c in plan.containers if c.depends_on}
    return _escape({"name": plan.name, "services": services})


def compose_debug_document(plan: Plan) -> dict[str, Any]:
    services: dict[str, Any] = {}
    for c in plan.containers:
        svc: dict[str, Any] = {}
        if c.depends_on:
            svc["depends_on"] = _conditions(c)
        ports = [{"target": p.port, "published": p.port, "host_ip": "127.0.0.1", "protocol": p.proto}
                 for p in c.ports if not p.publish]
        if ports:
            svc["ports"] = ports
        env = {"MIGRATE_DEBUG": "1", "LOG_LEVEL": "debug"}
        argv0 = c.command.argv[0].rsplit("/", 1)[-1] if c.command.argv else ""
        for interp, extra in DEBUG_ENV.items():
            if argv0.startswith(interp):
                env.update(extra)
        svc["environment"] = env
        svc["labels"] = {f"{plan.label_prefix}.environment": "debug"}
        services[c.name] = svc
    return _escape({"name": plan.name, "services": services})


def dump_yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096)


def render_compose(plan: Plan, templates: dict[str, list[str]] | None = None) -> str:
    return render_template("compose.yaml.j2", plan=plan,
                           body=dump_yaml(compose_document(plan, templates)).rstrip("\n"))


def render_compose_override(plan: Plan) -> str:
    return render_template("compose.override.yaml.j2", plan=plan,
                           body=dump_yaml(compose_override_document(plan)).rstrip("\n"))


def render_compose_debug(plan: Plan) -> str:
    return render_template("compose.debug.yaml.j2", plan=plan,
                           body=dump_yaml(compose_debug_document(plan)).rstrip("\n"))
