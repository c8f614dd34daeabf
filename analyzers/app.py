"""Application services: systemd services whose main process is an interpreter (Python, Java,
Node.js, PHP, Ruby, Perl) running an application script or jar, directly or through a script's
shebang (a virtualenv's gunicorn, for instance). Adds the interpreter, script and virtualenv, the
port the application listens on (from its arguments or environment) and the data directories it
writes. Connection strings in its environment were already turned into connections and secrets by
the systemd analyzer; this one sees only the redacted environment."""

from __future__ import annotations

import posixpath
import re

from migrate.analyzers._support import (
    digits_port,
    enrich,
    persistent_path,
    read_bytes,
    read_text,
    split_host_port,
)
from migrate.analyzers.base import REDACTED, Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, Port, Service

INTERPRETER = re.compile(r"^(python[\d.]*|pypy3?|java|node|nodejs|php[\d.]*|php-cgi[\d.]*|ruby[\d.]*|perl[\d.]*"
                         r"|bun|deno|dotnet|uwsgi)$")
SYSTEM_PREFIXES = ("/usr/bin/", "/usr/sbin/", "/usr/lib/", "/usr/libexec/", "/usr/share/", "/bin/", "/sbin/",
                   "/lib/", "/lib64/", "/usr/lib64/")
ROLE_ANALYZERS = ("nginx", "apache", "postgresql", "mysql", "redis", "memcached", "tomcat", "php_fpm", "sshd")
DATA_ROOTS = ("/var/lib/", "/srv/", "/data/", "/var/www/", "/var/opt/", "/var/spool/", "/home/")
CLIENT_PREFIXES = ("DB", "DATABASE", "PG", "POSTGRES", "MYSQL", "REDIS", "MEMCACHE", "AMQP", "RABBIT", "MONGO",
                   "SMTP", "MAIL", "CACHE", "ELASTIC", "KAFKA", "LDAP", "PROXY", "UPSTREAM", "API", "BACKEND")
DATA_SUBDIRS = ("data", "uploads", "media", "storage", "var", "files", "state")
SOURCE_ENV_PORT = re.compile(
    r"""(?:environ(?:\.get)?\s*[(\[]\s*|getenv\(\s*|ENV(?:\.fetch\(\s*|\[\s*))["'](?P<key>\w*PORT\w*)["']\s*[\])]?"""
    r"""(?:\s*,\s*(?:int\()?["']?(?P<default>\d{2,5})["']?)?"""
    r"""|process\.env\.(?P<key2>\w*PORT\w*)\s*(?:\|\||\?\?)\s*["']?(?P<default2>\d{2,5})""")
SOURCE_LITERAL_PORT = re.compile(
    r"""(?:\.listen\(\s*|\.run\([^)]*\bport\s*=\s*|\(\s*["'][\w.:]*["']\s*,\s*)(\d{2,5})\s*[,)]""")


# options taking a value, per interpreter family (so the script is the first real operand)
VALUE_OPTS = {
    "python": {"-X", "-W", "-c", "--check-hash-based-pycs"},
    "java": {"-cp", "-classpath", "--class-path", "--module-path", "-p", "--add-opens", "--add-modules"},
    "node": {"-r", "--require", "--import", "--loader", "--env-file", "--inspect-port"},
    "ruby": {"-I", "-r", "-C", "-E"},
    "perl": {"-I", "-M", "-m"},
    "php": {"-c", "-d", "-z"},
}


def family(interpreter: str) -> str:
    for fam in ("python", "pypy", "java", "nodejs", "node", "php", "ruby", "perl"):
        if interpreter.startswith(fam):
            return {"pypy": "python", "nodejs": "node"}.get(fam, fam)
    return interpreter


class AppAnalyzer(Analyzer):
    name = "app"
    requires = ("systemd", "users_groups", *ROLE_ANALYZERS)

    def run(self, ctx: Context) -> Findings:
        claimed = {s.name for a in ROLE_ANALYZERS for s in ctx.findings(a).services}
        services = [s for s in ctx.findings("systemd").services
                    if s.name not in claimed and not s.vm_only and s.state != "masked" and s.exec_start
                    and not s.name.endswith("@")]
        if not services:
            raise NotApplicable("no candidate application services")
        f = Findings()
        for svc in services:
            self._service(ctx, f, svc)
        if not f.services:
            raise NotApplicable("no interpreter-run application services")
        return f

    def _service(self, ctx: Context, f: Findings, svc: Service) -> None:
        argv = list(svc.exec_start)
        if posixpath.basename(argv[0]) == "env":
            argv = argv[1:]
            while argv and (argv[0].startswith("-") or "=" in argv[0]):
                argv = argv[1:]
        if not argv:
            return
        exe = argv[0]
        interp_path: str | None = None
        script: str | None = None
        args = argv[1:]
        detail = []
        if INTERPRETER.match(posixpath.basename(exe)):
            interp_path = exe
        else:
            shebang = self._shebang(ctx, f, exe)
            if shebang:
                words = shebang.split()
                if posixpath.basename(words[0]) == "env" and len(words) > 1:
                    words = words[1:]
                if INTERPRETER.match(posixpath.basename(words[0])):
                    interp_path, script = words[0], exe
                    detail.append(f"{exe} runs under {words[0]} (shebang)")
        if interp_path is None:
            return
        interpreter = posixpath.basename(interp_path)
        fam = family(interpreter)
        if script is None:
            script = self._script(fam, args)
        wd = svc.working_directory
        if script and not script.startswith(("/", "-m ", "class ")) and wd:
            script = posixpath.normpath(posixpath.join(wd, script))
        where = script or exe
        custom_unit = (svc.unit_path or "").startswith("/etc/systemd/system/")
        if not custom_unit and (where.startswith(SYSTEM_PREFIXES) or not where.startswith("/")):
            return
        venv = self._virtualenv(ctx, f, interp_path, svc, detail) if fam == "python" else None
        path = svc.unit_path or exe
        record = enrich(ctx, self, svc.name, path, role="app", interpreter=interpreter, script=script,
                        virtualenv=venv)
        record.evidence[0].detail = "; ".join(["role app", *detail])
        f.services.append(record)
        if not self._ports(f, svc, args, path):
            self._ports_from_source(ctx, f, svc, script, path)
        self._data_dirs(ctx, f, svc, path)

    def _shebang(self, ctx: Context, f: Findings, exe: str) -> str | None:
        st = ctx.rootfs.stat(exe)
        if st is None or st.kind != "file" or st.size > 1024 * 1024:
            return None
        data = read_bytes(ctx, self, exe, f, max_bytes=1024 * 1024)
        if not data or not data.startswith(b"#!"):
            return None
        return data[2:].split(b"\n", 1)[0].decode("utf-8", "replace").strip()

    def _script(self, fam: str, args: list[str]) -> str | None:
        takes_value = VALUE_OPTS.get(fam, set())
        i = 0
        while i < len(args):
            a = args[i]
            if fam == "python" and a == "-m" and i + 1 < len(args):
                return f"-m {args[i + 1]}"
            if fam == "java" and a == "-jar" and i + 1 < len(args):
                return args[i + 1]
            if a in takes_value:
                i += 2
                continue
            if a.startswith("-"):
                i += 1
                continue
            return f"class {a}" if fam == "java" else a
        return None

    def _virtualenv(self, ctx: Context, f: Findings, interp: str, svc: Service, detail: list[str]) -> str | None:
        candidates = []
        if interp.startswith("/"):
            candidates.append(posixpath.dirname(posixpath.dirname(interp)))
        if svc.environment.get("VIRTUAL_ENV", "").startswith("/"):
            candidates.append(svc.environment["VIRTUAL_ENV"])
        if svc.working_directory:
            candidates += [posixpath.join(svc.working_directory, d) for d in ("venv", ".venv", "env")]
        for cand in candidates:
            cfg = f"{cand}/pyvenv.cfg"
            if ctx.rootfs.is_file(cfg):
                text = read_text(ctx, self, cfg, f, max_bytes=65536) or ""
                m = re.search(r"^\s*(?:version|version_info)\s*=\s*(\S+)", text, re.M)
                detail.append(f"virtualenv {cand}" + (f" (python {m.group(1)})" if m else ""))
                return cand
        return None

    def _ports_from_source(self, ctx: Context, f: Findings, svc: Service, script: str | None, unit: str) -> None:
        """The listening port as the application's own source reads it: an environment variable with a
        default (``os.environ.get("SHOP_PORT", "8080")``, ``process.env.PORT || 3000``), the unit's value
        for that variable winning; else a literal ``.listen(3000)`` / ``run(port=5000)``."""
        if not script or not script.startswith("/") or not script.endswith((".py", ".js", ".mjs", ".cjs", ".rb",
                                                                             ".php", ".pl")):
            return
        st = ctx.rootfs.stat(script)
        if st is None or st.kind != "file" or st.size > 1024 * 1024:
            return
        text = read_text(ctx, self, script, f, max_bytes=1024 * 1024) or ""
        found: list[tuple[int, str]] = []
        for m in SOURCE_ENV_PORT.finditer(text):
            key, default = m.group("key") or m.group("key2"), m.group("default") or m.group("default2")
            if key.startswith(CLIENT_PREFIXES):
                continue
            value = svc.environment.get(key)
            number = digits_port(self, f, value, path=unit, what="a port variable")
            if number is not None:
                found.append((number, f"{key}={value} (read by {script})"))
            elif default:
                found.append((int(default), f"default of {key} in {script}"))
        if not found:
            found = [(int(m.group(1)), f"literal port in {script}") for m in SOURCE_LITERAL_PORT.finditer(text)]
        seen = set()
        for port, why in found:
            if port in seen or not 0 < port < 65536:
                continue
            seen.add(port)
            f.ports.append(Port(service=svc.name, port=port, evidence=self.evidence(script, why)))

    def _ports(self, f: Findings, svc: Service, args: list[str], path: str) -> bool:
        found: list[tuple[str | None, int, str]] = []
        for i, a in enumerate(args):
            key, sep, value = a.partition("=")
            if not sep and i + 1 < len(args):
                value = args[i + 1]
            if key in ("--port", "-p", "--http-port", "--listen-port", "-Dserver.port", "--server.port"):
                number = digits_port(self, f, value, path=path, what="a port option")
                if number is not None:
                    found.append((None, number, f"{key} {value}"))
            elif key in ("--bind", "-b", "--listen", "--address", "--http", "--socket", "--http-socket"):
                addr, port = split_host_port(value)
                if port is not None:
                    found.append((addr, port, f"{key} {value}"))
        name = re.sub(r"[^A-Z0-9]", "_", svc.name.upper())
        host_env = next((svc.environment[k] for k in ("HOST", "BIND_HOST", "LISTEN_HOST", f"{name}_HOST")
                         if svc.environment.get(k)), None)
        for key, value in sorted(svc.environment.items()):
            if value == REDACTED or key.startswith(CLIENT_PREFIXES):
                continue
            if re.match(rf"^((HTTP_|LISTEN_|SERVER_|APP_|WEB_)?PORT|{name}_(HTTP_)?PORT)$", key):
                number = digits_port(self, f, value, path=path, what="a port variable")
                if number is not None:
                    found.append((host_env, number, f"{key}={value}"))
            elif re.search(r"(^|_)(BIND|LISTEN|LISTEN_ADDR(ESS)?|BIND_ADDR(ESS)?)$", key):
                addr, port = split_host_port(value)
                if port is not None:
                    found.append((addr, port, f"{key}={value}"))
        seen = set()
        for addr, port, why in found:
            addr = None if addr in ("0.0.0.0", "::", "*", "") else addr
            if (addr, port) in seen or not 0 < port < 65536:
                continue
            seen.add((addr, port))
            f.ports.append(Port(service=svc.name, port=port, address=addr, evidence=self.evidence(path, why)))
        return bool(seen)

    def _data_dirs(self, ctx: Context, f: Findings, svc: Service, path: str) -> None:
        uid = svc.uid
        candidates: list[tuple[str, str]] = []
        for key, value in sorted(svc.environment.items()):
            if value == REDACTED or "://" in value:
                continue
            for v in value.split(":") if value.count(":") and value.startswith("/") else [value]:
                if v.startswith("/"):
                    candidates.append((posixpath.normpath(v), f"{key}={v} in the environment of {svc.name}"))
                elif svc.working_directory and (v.rstrip("/") in DATA_SUBDIRS or re.match(r"^\./[\w.-]+", v)):
                    candidates.append((posixpath.normpath(posixpath.join(svc.working_directory, v)),
                                       f"{key}={v} relative to WorkingDirectory {svc.working_directory}"))
        for arg in svc.exec_start[1:]:
            value = arg.partition("=")[2] if arg.startswith("--") and "=" in arg else arg
            if value.startswith(DATA_ROOTS) and not value.endswith((".py", ".jar", ".conf", ".sock")):
                candidates.append((posixpath.normpath(value), f"argument {arg} of {svc.name}"))
        if svc.working_directory:
            for sub in DATA_SUBDIRS:
                candidates.append((f"{svc.working_directory.rstrip('/')}/{sub}",
                                   f"{sub}/ below WorkingDirectory {svc.working_directory}"))
        seen: set[str] = set()
        for cand, why in candidates:
            if cand in seen:
                continue
            seen.add(cand)
            st = ctx.rootfs.stat(cand)
            if st is None or st.kind != "dir":
                continue
            under_wd = bool(svc.working_directory) and cand.startswith(svc.working_directory.rstrip("/") + "/")
            data_root = cand.startswith(DATA_ROOTS) or re.match(r"^/opt/[^/]+/(data|var|storage|uploads)(/|$)", cand)
            if not (data_root or under_wd):
                continue
            if uid is not None and st.uid != uid:
                continue
            if uid is None and st.uid != 0 and not under_wd:
                continue
            pp = persistent_path(ctx, self, cand, service=svc.name, kind="data",
                                 reason=f"{why}; owned by {svc.user or 'uid ' + str(st.uid)}", evidence_path=path)
            if pp:
                f.persistent_paths.append(pp)
