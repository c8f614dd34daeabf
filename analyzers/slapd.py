"""OpenLDAP slapd: the cn=config tree (/etc/ldap/slapd.d, LDIF files) or a legacy slapd.conf, plus the
init defaults (/etc/default/slapd: SLAPD_SERVICES, user, group). Each database's suffix and directory
(data to keep), root passwords (secrets, usually hashes) and the URLs it serves (ports)."""

from __future__ import annotations

import base64
import re
import shlex

from migrate.analyzers._support import (
    SecretSink,
    config_file,
    digits_port,
    enrich,
    known_services,
    parse_env_file,
    persistent_path,
    pick_service,
    read_text,
    unknown,
)
from migrate.analyzers.base import REDACTED, Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, Port

CONFIG_DIRS = ("/etc/ldap/slapd.d", "/etc/openldap/slapd.d")
CONFIG_FILES = ("/etc/ldap/slapd.conf", "/etc/openldap/slapd.conf")
DEFAULTS = ("/etc/default/slapd", "/etc/sysconfig/slapd")
URL_PORTS = {"ldap": 389, "ldaps": 636}


def ldif_attrs(text: str) -> list[tuple[str, str]]:
    """(attribute, value) pairs of an LDIF record: continuation lines joined, base64 values decoded."""
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if line.startswith(" ") and lines:
            lines[-1] += line[1:]
        else:
            lines.append(line)
    out = []
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep:
            continue
        if value.startswith(":"):  # base64 (slapadd writes values that way when they need it)
            try:
                value = base64.b64decode(value[1:].strip(), validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                value = value[1:]
        out.append((key.strip(), value.strip()))
    return out


class SlapdAnalyzer(Analyzer):
    name = "slapd"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        conf_dir = next((d for d in CONFIG_DIRS if ctx.rootfs.is_dir(d)), None)
        conf_file = next((p for p in CONFIG_FILES if ctx.rootfs.is_file(p)), None)
        if conf_dir is None and conf_file is None:
            raise NotApplicable("no slapd configuration")
        f = Findings()
        service = pick_service(ctx, ["slapd", "openldap"], "slapd")
        sink = SecretSink(ctx, self, f, service)
        databases: list[tuple[str, str, str]] = []  # (suffix, directory, evidence path)
        if conf_dir is not None:
            for path, st in sorted(ctx.rootfs.walk(conf_dir, max_entries=5000)):
                if getattr(st, "kind", "") != "file" or not path.endswith(".ldif"):
                    continue
                text = read_text(ctx, self, path, f)
                if text is None:
                    continue
                before = len(f.secrets)
                attrs = ldif_attrs(text)
                values = {k: v for k, v in attrs}
                for k, v in attrs:
                    if k == "olcRootPW" and v:
                        # the setting is a password (hashed or not) the server needs to start with its
                        # database: a secret filled in at start, unlike a hash inside data that moves with it
                        hashed = v.startswith("{") and not v.startswith("{CLEARTEXT}")
                        sink.secret(v, key="olcRootPW", kind="password",
                                    redacted=f"{v.split('}', 1)[0]}}}{REDACTED}" if hashed else REDACTED, path=path)
                if "olcDbDirectory" in values:
                    databases.append((values.get("olcSuffix", ""), values["olcDbDirectory"], path))
                f.configs.append(config_file(ctx, self, path, service=service, kind="slapd-config", content=text,
                                             contains_secrets=len(f.secrets) > before))
        else:
            assert conf_file is not None
            text = read_text(ctx, self, conf_file, f) or ""
            suffix = ""
            for line in text.splitlines():
                w = line.split(None, 1)
                if len(w) < 2 or line.startswith("#"):
                    continue
                if w[0] == "suffix":
                    suffix = w[1].strip().strip('"')
                elif w[0] == "directory":
                    databases.append((suffix, w[1].strip().strip('"'), conf_file))
                elif w[0] == "rootpw":
                    sink.secret(w[1].strip(), key="rootpw", kind="password", redacted=REDACTED, path=conf_file)
            f.configs.append(config_file(ctx, self, conf_file, service=service, kind="slapd.conf", content=text,
                                         contains_secrets=bool(f.secrets)))
        for suffix, directory, path in databases:
            pp = persistent_path(ctx, self, directory, service=service, kind="database",
                                 reason=f"slapd database {suffix or '(no suffix)'}: olcDbDirectory in {path}",
                                 evidence_path=path)
            if pp:
                f.persistent_paths.append(pp)
        env: dict[str, str] = {}
        defaults = next((p for p in DEFAULTS if ctx.rootfs.is_file(p)), None)
        if defaults:
            env = {k: v for k, v, _ in parse_env_file(read_text(ctx, self, defaults, f) or "")}
        services = env.get("SLAPD_SERVICES") or env.get("SLAPD_URLS") or "ldap:/// ldapi:///"
        where = defaults or conf_dir or conf_file or ""
        for n, url in enumerate(services.split(), 1):
            m = re.match(r"^(ldaps?|ldapi)://([^/]*)/?$", url)
            if not m:
                f.unknowns.append(unknown(self, where, f"SLAPD_SERVICES entry {n} is not an ldap, ldaps or ldapi URL"))
                continue
            scheme, hostport = m.groups()
            if scheme == "ldapi":
                sock = hostport.replace("%2F", "/").replace("%2f", "/") or "/var/run/slapd/ldapi"
                f.ports.append(Port(service=service, proto="unix", path=sock, evidence=self.evidence(where, url)))
                continue
            host, _, port_s = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
            port = digits_port(self, f, port_s, path=where, what="a listener port") or URL_PORTS[scheme]
            f.ports.append(Port(service=service, port=port,
                                address=host or None, evidence=self.evidence(where, url)))
        extra: dict[str, object] = {}
        known = known_services(ctx).get(service)
        if known is None or not known.exec_start:
            # a SysV script: its start command, as /etc/init.d/slapd builds it from the defaults file
            argv = ["/usr/sbin/slapd", "-h", services]
            if env.get("SLAPD_GROUP"):
                argv += ["-g", env["SLAPD_GROUP"]]
            if env.get("SLAPD_USER"):
                argv += ["-u", env["SLAPD_USER"]]
            argv += ["-F", conf_dir] if conf_dir else ["-f", conf_file or ""]
            argv += shlex.split(env.get("SLAPD_OPTIONS", ""))
            extra["exec_start"] = argv
        svc = enrich(ctx, self, service, where, role="slapd", **extra)
        if extra:
            svc.evidence[0].detail = f"role slapd; command built from {where} as the init script does"
        f.services.append(svc)
        return f
