"""systemd units: services with their command, identity, environment and dependencies; enablement
state from the links in /etc/systemd/system; socket activation, template instances and timers.

Unit files are looked up the way systemd does (/etc over /usr/local/lib over /lib and /usr/lib;
drop-ins from every directory, ordered by file name), without running any generator. Environment
values are recorded with their secrets redacted: URLs become Connections, their passwords and any
secret-looking KEY become Secrets.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field

from migrate.analyzers._support import (
    ID,
    URL_RE,
    SecretSink,
    cache,
    config_file,
    guest_number,
    persistent_path,
    read_text,
    redact_connection_url,
    secret_kind,
    small_int,
    split_host_port,
    unknown,
    user_ids,
)
from migrate.analyzers._systemd_lang import (
    expand_env_argv,
    expand_specifiers,
    ignored_exports,
    main_executable,
    parse_env_file,
    parse_environment,
    redact_tokens,
    specifier_table,
    split_exec_prefixes,
    split_words,
)
from migrate.analyzers._vmonly import vm_only_reason
from migrate.analyzers.base import REDACTED, Analyzer, Context, NotApplicable, looks_secret_key
from migrate.model.inventory import ExecCommand, Findings, Port, ScheduledJob, Service, UnitDirectory

ETC = "/etc/systemd/system"
UNIT_DIRS = (ETC, "/usr/local/lib/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
LIST_KEYS = {"ExecStart", "ExecStartPre", "ExecStartPost", "ExecStop", "Environment", "EnvironmentFile", "After",
             "Before", "Requires", "Wants", "BindsTo", "Requisite", "WantedBy", "RequiredBy", "Also", "Alias",
             "ListenStream", "ListenDatagram", "ListenSequentialPacket", "ListenFIFO", "OnCalendar", "OnBootSec",
             "OnStartupSec", "OnActiveSec", "OnUnitActiveSec", "OnUnitInactiveSec", "StateDirectory",
             "LogsDirectory", "CacheDirectory", "RuntimeDirectory", "ConfigurationDirectory", "ReadWritePaths",
             "PassEnvironment", "UnsetEnvironment"}
DIRECTORY_KEYS = {"runtime": ("RuntimeDirectory", "/run"), "state": ("StateDirectory", "/var/lib"),
                  "cache": ("CacheDirectory", "/var/cache"), "logs": ("LogsDirectory", "/var/log"),
                  "configuration": ("ConfigurationDirectory", "/etc")}
TIMER_KEYS = ("OnCalendar", "OnBootSec", "OnStartupSec", "OnActiveSec", "OnUnitActiveSec", "OnUnitInactiveSec")


class UnitSettings:
    """Merged settings of a unit file and its drop-ins: list settings accumulate (an empty
    assignment resets them), scalar settings take the last value."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], list[str]] = {}

    def feed(self, text: str) -> None:
        section = ""
        lines = text.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            i += 1
            while line.endswith("\\") and i < len(lines):
                nxt = lines[i].strip()
                i += 1
                if nxt.startswith(("#", ";")):
                    continue
                line = line[:-1] + " " + nxt
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip()
                continue
            if "=" not in line:
                continue
            key, _, value = line.partition("=")
            key, value = key.strip(), value.strip()
            slot = self.data.setdefault((section, key), [])
            if key in LIST_KEYS:
                if value == "":
                    slot.clear()
                else:
                    slot.append(value)
            else:
                slot[:] = [value]

    def get(self, section: str, key: str) -> str | None:
        values = self.data.get((section, key))
        return values[-1] if values else None

    def all(self, section: str, key: str) -> list[str]:
        return list(self.data.get((section, key), []))

    def words(self, section: str, key: str) -> list[str]:
        return [w for v in self.all(section, key) for w in v.split()]

    def has_section(self, section: str) -> bool:
        return any(s == section and v for (s, _), v in self.data.items())


@dataclass
class UnitFile:
    name: str  # foo.service, foo@.service
    path: str | None  # the file read (None when only masked)
    masked: bool = False
    linked_from: str | None = None
    aliases: list[str] = field(default_factory=list)


def _split_name(name: str) -> tuple[str, str, str | None]:
    """foo@bar.service → ('foo@', 'service', 'bar'); foo.service → ('foo', 'service', None)."""
    stem, _, suffix = name.rpartition(".")
    if "@" in stem:
        prefix, _, instance = stem.partition("@")
        return prefix + "@", suffix, instance or None
    return stem, suffix, None


def split_exec(value: str) -> tuple[list[str], str]:
    """argv of an Exec*= line as written (no specifier or variable expansion), without systemd's prefixes
    (-, @, +, !, !!, :); returns (argv, prefixes)."""
    prefixes, rest = split_exec_prefixes(value)
    argv = split_words(rest)
    if "@" in prefixes and len(argv) >= 2:
        argv = [argv[0], *argv[2:]]
    return argv, prefixes


class SystemdAnalyzer(Analyzer):
    name = "systemd"
    requires = ("users_groups",)

    def run(self, ctx: Context) -> Findings:
        fs = ctx.rootfs
        if not any(fs.is_dir(d) for d in UNIT_DIRS):
            raise NotApplicable("no systemd unit directories")
        f = Findings()
        self._hostname_cache: str | None = None
        self.units = self._collect(ctx, f)
        cache(ctx)["systemd_vendor_masked"] = sorted(self.vendor_masked)
        enabled, wanted_by = self._enablement(ctx)
        uids, gids, _ = user_ids(ctx)

        settings: dict[str, UnitSettings] = {}
        for name, unit in self.units.items():
            if unit.path is None:
                continue
            s = UnitSettings()
            text = read_text(ctx, self, unit.path, f)
            if text is None:
                continue
            s.feed(text)
            for dropin in self._dropins(ctx, name):
                dtext = read_text(ctx, self, dropin, f)
                if dtext is not None:
                    s.feed(dtext)
                    if dropin.startswith(ETC + "/"):
                        f.configs.append(config_file(ctx, self, dropin, service=_split_name(name)[0],
                                                     kind="systemd-dropin", content=dtext))
            settings[name] = s
            if unit.path.startswith(ETC + "/") or unit.linked_from:
                f.configs.append(config_file(ctx, self, unit.path, service=_split_name(name)[0],
                                             kind="systemd-unit", content=text))

        # instances: from links in *.wants dirs, plus DefaultInstance
        instances: dict[str, set[str]] = {}
        for link in enabled:
            prefix, suffix, inst = _split_name(link)
            if inst and f"{prefix}.{suffix}" in self.units:
                instances.setdefault(f"{prefix}.{suffix}", set()).add(inst)

        services: dict[str, Service] = {}
        for name in sorted(self.units):
            prefix, suffix, _ = _split_name(name)
            if suffix != "service":
                continue
            unit = self.units[name]
            s = settings.get(name, UnitSettings())
            state = self._state(name, unit, s, enabled, instances)
            svc = self._isolated(ctx, f, name, unit, s, state, None, uids, gids)
            if svc is None:
                continue
            svc.instances = sorted(instances.get(name, ()))
            services[svc.name] = svc
            for inst in svc.instances:
                iname = f"{prefix}{inst}.{suffix}"
                istate = "masked" if unit.masked else "enabled" if iname in enabled else "disabled"
                isvc = self._isolated(ctx, f, iname, unit, s, istate, inst, uids, gids)
                if isvc is not None:
                    isvc.template = name
                    services[isvc.name] = isvc

        for name in sorted(self.units):
            prefix, suffix, _ = _split_name(name)
            s = settings.get(name, UnitSettings())
            unit = self.units[name]
            state = self._state(name, unit, s, enabled, instances)
            if suffix == "socket":
                self._socket(f, name, unit, s, state, services)
            elif suffix == "timer":
                self._timer(f, name, unit, s, state, services, settings)

        default = fs.lstat(f"{ETC}/default.target")
        if default is not None and default.kind == "symlink":
            target = posixpath.basename(fs.readlink(f"{ETC}/default.target"))
            f.configs.append(config_file(ctx, self, f"{ETC}/default.target", service=None,
                                         kind="systemd-default-target", content=b"",
                                         detail=f"default target {target}"))
        f.services = list(services.values())
        self.wanted_by = wanted_by
        return f

    # -- discovery -------------------------------------------------------------------------------
    def _collect(self, ctx: Context, f: Findings) -> dict[str, UnitFile]:
        fs = ctx.rootfs
        units: dict[str, UnitFile] = {}
        self.vendor_masked: set[str] = set()
        aliases: list[tuple[str, str]] = []
        seen_dirs: set[str] = set()
        for d in UNIT_DIRS:
            try:
                real = fs.resolve(d)
            except Exception:  # noqa: BLE001 - a broken directory link is just absent
                continue
            if real in seen_dirs:
                continue
            seen_dirs.add(real)
            for path in fs.iterdir(d):
                name = posixpath.basename(path)
                if not name.endswith((".service", ".socket", ".timer")) or name in units:
                    continue
                st = fs.lstat(path)
                if st is None or st.kind == "dir":
                    continue
                if st.kind == "symlink":
                    target = fs.readlink(path)
                    if target in ("/dev/null", "../../../dev/null") or fs.resolve(path) == "/dev/null":
                        if d == ETC:
                            units[name] = UnitFile(name=name, path=None, masked=True)
                        else:  # a vendor mask hides a SysV script from the generator: not a service
                            self.vendor_masked.add(name)
                        continue
                    if posixpath.basename(target) != name:
                        aliases.append((name, posixpath.basename(target)))
                        continue
                    if not fs.is_file(path):
                        f.unknowns.append(unknown(self, path, f"unit link to missing file {target}"))
                        continue
                    units[name] = UnitFile(name=name, path=fs.resolve(path), linked_from=path)
                    continue
                units[name] = UnitFile(name=name, path=path)
        # a masked unit keeps its vendor file for description and command
        for name, unit in units.items():
            if unit.masked:
                for d in UNIT_DIRS[1:]:
                    if fs.is_file(f"{d}/{name}"):
                        unit.path = f"{d}/{name}"
                        break
        for alias, target in aliases:
            if target in units and alias not in units:
                units[target].aliases.append(alias)
        return units

    def _dropins(self, ctx: Context, name: str) -> list[str]:
        """Drop-ins as systemd.unit(5) applies them: from every unit directory and from the type-level
        (``service.d``), dash-prefix (``foo-.service.d`` for ``foo-bar.service``), template (``foo@.service.d``)
        and unit directories; in lexicographic order of file name whatever directory holds them; a file
        name found twice is taken from /etc over /lib, and from the more specific directory."""
        prefix, suffix, inst = _split_name(name)
        stem = name[: -len(suffix) - 1]
        dirs = [f"{suffix}.d"]
        base = stem.split("@", 1)[0]
        dirs += [f"{base[:i + 1]}.{suffix}.d" for i, c in enumerate(base) if c == "-" and i]
        if inst:
            dirs.append(f"{prefix}.{suffix}.d")
        dirs.append(f"{name}.d")
        chosen: dict[str, str] = {}
        for d in reversed(UNIT_DIRS):  # lowest priority first: /etc wins
            for sub in dirs:  # least specific first: the unit's own directory wins
                for path in ctx.rootfs.glob(f"{d}/{sub}/*.conf"):
                    chosen[posixpath.basename(path)] = path
        return [chosen[k] for k in sorted(chosen)]

    def _enablement(self, ctx: Context) -> tuple[set[str], dict[str, list[str]]]:
        enabled: set[str] = set()
        wanted_by: dict[str, list[str]] = {}
        for d in ctx.rootfs.glob(f"{ETC}/*.wants") + ctx.rootfs.glob(f"{ETC}/*.requires"):
            target = posixpath.basename(d).rsplit(".", 1)[0]
            for link in ctx.rootfs.iterdir(d):
                name = posixpath.basename(link)
                enabled.add(name)
                wanted_by.setdefault(name, []).append(target)
                # a link whose target has another name enables that unit (an alias link)
                if ctx.rootfs.is_symlink(link):
                    tname = posixpath.basename(ctx.rootfs.readlink(link))
                    if tname != name and "@" not in name:
                        enabled.add(tname)
        return enabled, wanted_by

    def _state(self, name: str, unit: UnitFile, s: UnitSettings, enabled: set[str],
               instances: dict[str, set[str]]) -> str:
        if unit.masked:
            return "masked"
        if name in enabled or any(a in enabled for a in unit.aliases):
            return "enabled"
        prefix, suffix, inst = _split_name(name)
        if name.endswith(f"@.{suffix}"):
            default_inst = s.get("Install", "DefaultInstance")
            if default_inst and f"{prefix}{default_inst}.{suffix}" in enabled:
                return "enabled"
            if instances.get(name):
                return "indirect"
        install = [k for k in ("WantedBy", "RequiredBy", "Alias", "UpheldBy") if s.all("Install", k)]
        if not install:
            return "indirect" if s.all("Install", "Also") else "static"
        return "disabled"

    # -- records ---------------------------------------------------------------------------------
    def _isolated(self, ctx: Context, f: Findings, name: str, unit: UnitFile, s: UnitSettings, state: str,
                  instance: str | None, uids: dict[str, int], gids: dict[str, int]) -> Service | None:
        """One unit that cannot be understood is one unknown; the other units stand."""
        try:
            return self._service(ctx, f, name, unit, s, state, instance, uids, gids)
        except (ValueError, TypeError, KeyError, IndexError, RecursionError, UnicodeError) as exc:
            f.unknowns.append(unknown(self, unit.path or f"{ETC}/{name}",
                                      f"unit {name} not understood ({type(exc).__name__}); left out"))
            return None

    def _service(self, ctx: Context, f: Findings, name: str, unit: UnitFile, s: UnitSettings, state: str,
                 instance: str | None, uids: dict[str, int], gids: dict[str, int]) -> Service:
        short = name[: -len(".service")]
        path = unit.path or f"{ETC}/{name}"
        sink = SecretSink(ctx, self, f, short)
        table = specifier_table(name, instance, fragment=unit.path, hostname=self._hostname(ctx, f),
                                os_id=ctx.os.distro if ctx.os else None,
                                os_version=ctx.os.version if ctx.os else None)

        def sub(text: str) -> str:
            return expand_specifiers(text, table)

        user = s.get("Service", "User")
        group = s.get("Service", "Group")
        if user:
            user = sub(user)
        if group:
            group = sub(group)
        uid = gid = None
        if user:
            uid = (guest_number(self, f, user, ID, path=path, what="the numeric User") if user.isdecimal()
                   else uids.get(user))
        if group:
            gid = (guest_number(self, f, group, ID, path=path, what="the numeric Group") if group.isdecimal()
                   else gids.get(group))
        if gid is None and user and uid is not None:
            gid = next((u.gid for u in ctx.findings("users_groups").users if u.uid == uid), None)
        if s.get("Service", "DynamicUser") in ("yes", "true", "1", "on"):
            user = user or short
        directories = self._directories(s, sub, path)

        # the environment systemd gives the process: its own variables first, then Environment=, then
        # EnvironmentFile= (files override Environment= whatever the order; later files win)
        clear: dict[str, str] = dict(self._manager_env(ctx, user, uid, directories))
        env: dict[str, str] = {}
        for value in s.all("Service", "Environment"):
            for k, v in parse_environment(value, sub):
                clear[k] = v
                env[k] = sink.value(k, v, path=path)
        env_files: list[str] = []
        for value in s.all("Service", "EnvironmentFile"):
            value = sub(value.strip())
            optional = value.startswith("-")
            pattern = value.lstrip("-").strip()
            env_files.append(pattern)
            matches = ctx.rootfs.glob(pattern) if any(c in pattern for c in "*?[") else [pattern]
            matches = [m for m in matches if ctx.rootfs.lstat(m) is not None]
            if not matches:
                if not optional:
                    f.unknowns.append(unknown(self, pattern, f"EnvironmentFile of {name} does not exist"))
                continue
            for epath in matches:
                text = read_text(ctx, self, epath, f)
                if text is None:
                    continue
                before = len(f.secrets)
                for k, v in parse_env_file(text):
                    clear[k] = v
                    env[k] = sink.value(k, v, path=epath)
                for k, v, lineno in ignored_exports(text):
                    f.unknowns.append(unknown(self, epath, f"line {lineno}: 'export {k}=...' is ignored by systemd "
                                                           f"(not a NAME=value assignment); {name} does not get {k}"))
                    self._secrets_only(sink, k, v, epath)
                f.configs.append(config_file(ctx, self, epath, service=short, kind="env-file", content=text,
                                             contains_secrets=len(f.secrets) > before))

        def command(value: str) -> tuple[ExecCommand, list[str]]:
            """(the redacted record, the clear argv) of one Exec*= value."""
            prefixes, rest = split_exec_prefixes(value)
            words = [sub(w) for w in split_words(rest)]
            if "@" in prefixes and len(words) >= 2:
                words = [words[0], *words[2:]]
            written = set(words)
            if ":" not in prefixes:
                words = expand_env_argv(words, clear)
            # words the expansion produced may carry a secret of the environment in any form
            red = [a if a in written else redact_tokens(a, ctx.secrets.values()) for a in sink.argv(words, path=path)]
            return ExecCommand(argv=red, prefixes=prefixes, raw=redact_tokens(value, ctx.secrets.values())), words

        # UnsetEnvironment= is applied last: a NAME removes the variable, a NAME=value only that assignment
        for word in (w for v in s.all("Service", "UnsetEnvironment") for w in split_words(v)):
            name_, eq, val = sub(word).partition("=")
            if name_ in clear and (not eq or clear[name_] == val):
                clear.pop(name_)
                env.pop(name_, None)
        # a value that embeds a secret found elsewhere (DB_OPTS="--pw <DB_PASSWORD's value>") is redacted too
        env = {k: redact_tokens(v, ctx.secrets.values()) for k, v in env.items()}
        exec_start: list[str] = []
        raw = prefixes_start = executable = None
        starts = s.all("Service", "ExecStart")
        if starts:
            cmd, clear_argv = command(starts[0])
            exec_start, raw, prefixes_start = cmd.argv, cmd.raw, cmd.prefixes or None
            executable = main_executable(clear_argv)
            if executable and executable not in clear_argv[:1]:
                executable = redact_tokens(executable, ctx.secrets.values())
        pre = [command(v)[0] for v in s.all("Service", "ExecStartPre")]
        post = [command(v)[0] for v in s.all("Service", "ExecStartPost")]
        reason = vm_only_reason(short)
        for d in directories:
            kind = {"state": "data", "logs": "logs", "cache": "cache"}.get(d.kind)
            if reason or kind is None or "%" in d.path:
                continue
            key = {"state": "StateDirectory", "logs": "LogsDirectory", "cache": "CacheDirectory"}[d.kind]
            rel = d.path.split("/", 3)[-1] if d.kind != "state" else d.path[len("/var/lib/"):]
            pp = persistent_path(ctx, self, d.path, service=short, kind=kind,
                                 reason=f"{key}={rel} in {name}", evidence_path=path)
            if pp:
                f.persistent_paths.append(pp)
        wd = s.get("Service", "WorkingDirectory")
        detail = f"state {state}" + (f", alias {', '.join(unit.aliases)}" if unit.aliases else "")
        return Service(
            name=short, manager="systemd", unit_path=path, state=state,  # type: ignore[arg-type]
            description=s.get("Unit", "Description"), exec_start=exec_start, exec_start_raw=raw,
            exec_prefixes=prefixes_start, executable=executable, exec_start_pre=pre, exec_start_post=post,
            directories=directories, user=user, group=group, uid=uid,
            gid=gid, working_directory=sub(wd).lstrip("-") if wd else None, environment=env,
            environment_files=env_files, after=s.words("Unit", "After"),
            requires=s.words("Unit", "Requires") + s.words("Unit", "BindsTo"), wants=s.words("Unit", "Wants"),
            unit_type=s.get("Service", "Type"), vm_only=reason is not None,
            vm_only_reason=reason, evidence=[self.evidence(path, detail)],
        )

    @staticmethod
    def _secrets_only(sink: SecretSink, key: str, value: str, path: str) -> None:
        """A credential the service does not receive is still a credential in the guest: reported as a
        secret, without a connection (nothing connects with it)."""
        for url in URL_RE.findall(value):
            red, password = redact_connection_url(url)
            if password:
                sink.secret(password, key=key, kind="connection-string", redacted=red, path=path)
        if looks_secret_key(key) and value and not URL_RE.search(value):
            sink.secret(value, key=key, kind=secret_kind(key), redacted=REDACTED, path=path)

    def _hostname(self, ctx: Context, f: Findings) -> str | None:
        """%H: the guest's static hostname (read once per run)."""
        if self._hostname_cache is None:
            text = read_text(ctx, self, "/etc/hostname", f, max_bytes=4096) or ""
            self._hostname_cache = next((w for w in text.split() if not w.startswith("#")), "")
        return self._hostname_cache or None

    def _directories(self, s: UnitSettings, sub, path: str) -> list[UnitDirectory]:
        """RuntimeDirectory= & co.: space-separated relative paths (``path:symlink`` since systemd 250)
        below their fixed roots, created with the matching *DirectoryMode= (0755 by default)."""
        out: list[UnitDirectory] = []
        for kind, (key, base) in DIRECTORY_KEYS.items():
            mode_text = s.get("Service", f"{key}Mode")
            mode = small_int(mode_text, lo=0, hi=0o7777, base=8) if mode_text else None
            mode = 0o755 if mode is None else mode
            for word in s.words("Service", key):
                rel = sub(word).split(":", 1)[0].strip("/")
                if not rel or ".." in rel.split("/"):
                    continue
                out.append(UnitDirectory(kind=kind, path=f"{base}/{rel}", mode=mode,  # type: ignore[arg-type]
                                         evidence=self.evidence(path, f"{key}={word}")))
        return out

    def _manager_env(self, ctx: Context, user: str | None, uid: int | None,
                     directories: list[UnitDirectory]) -> dict[str, str]:
        """Variables the service manager itself sets for the process (systemd.exec(5) "Environment
        Variables in Spawned Processes") that a command line may use."""
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        if user:
            record = next((u for u in ctx.findings("users_groups").users
                           if u.name == user or (uid is not None and u.uid == uid)), None)
            env["USER"] = env["LOGNAME"] = record.name if record else user
            if record is not None:
                env["HOME"] = record.home or "/"
                env["SHELL"] = record.shell or "/bin/sh"
        for kind, (key, _base) in DIRECTORY_KEYS.items():
            paths = [d.path for d in directories if d.kind == kind]
            if paths:
                env[f"{key.upper().replace('DIRECTORY', '_DIRECTORY')}"] = ":".join(paths)
        return env

    def _socket(self, f: Findings, name: str, unit: UnitFile, s: UnitSettings, state: str,
                services: dict[str, Service]) -> None:
        prefix, _, _ = _split_name(name)
        accept = (s.get("Socket", "Accept") or "no").lower() in ("yes", "true", "1", "on")
        target = s.get("Socket", "Service")
        if target:
            svc_name = target[: -len(".service")] if target.endswith(".service") else target
        else:
            svc_name = f"{prefix}@" if accept else prefix
        path = unit.path or f"{ETC}/{name}"
        svc = services.get(svc_name)
        if svc is not None:
            svc.socket_units.append(name)
            svc.evidence.append(self.evidence(path, f"activated by {name} ({state})"))
        if unit.masked or state == "disabled" or "@." in name:
            return  # a disabled socket does not listen; a template socket has no address until instantiated
        for key, proto in (("ListenStream", "tcp"), ("ListenDatagram", "udp"), ("ListenSequentialPacket", "unix")):
            for value in s.all("Socket", key):
                if value.startswith("/") or value.startswith("@"):
                    f.ports.append(Port(service=svc_name, proto="unix", path=value,
                                        evidence=self.evidence(path, f"{key} in {name} ({state})")))
                    continue
                addr, port = split_host_port(value)
                if port is not None:
                    f.ports.append(Port(service=svc_name, proto=proto, port=port,  # type: ignore[arg-type]
                                        address=None if addr in ("::", None) else addr,
                                        evidence=self.evidence(path, f"{key} in {name} ({state})")))

    def _timer(self, f: Findings, name: str, unit: UnitFile, s: UnitSettings, state: str,
               services: dict[str, Service], settings: dict[str, UnitSettings]) -> None:
        prefix, _, inst = _split_name(name)
        target = s.get("Timer", "Unit") or (f"{prefix}{inst}.service" if inst else f"{prefix}.service")
        svc = services.get(target[: -len(".service")])
        schedule = "; ".join(f"{k}={v}" for k in TIMER_KEYS for v in s.all("Timer", k))
        if (s.get("Timer", "Persistent") or "").lower() in ("yes", "true", "1"):
            schedule += "; Persistent=true"
        f.jobs.append(ScheduledJob(
            source="systemd-timer", schedule=schedule or "(none)",
            command=shlex.join(svc.exec_start) if svc and svc.exec_start else target,
            user=svc.user if svc else None, unit=name, enabled=state in ("enabled", "static", "indirect"),
            evidence=self.evidence(unit.path or f"{ETC}/{name}", f"{state}; runs {target}")))
