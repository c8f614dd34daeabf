"""Apache httpd (Debian's apache2 layout and the RHEL httpd layout): what the server really does once its
configuration is read the way httpd reads it.

httpd reads its configuration top to bottom and acts on some directives while reading: ``LoadModule``
loads a module at once, ``Define`` sets a name at once, ``Include``/``IncludeOptional`` splice files in
place. ``<IfModule>``/``<IfDefine>`` (and ``<IfFile>``) sections are decided at that moment against the
modules loaded and the names defined *so far*, so a ``Listen 443`` inside ``<IfModule ssl_module>`` is a
port only when mod_ssl was loaded before it (Debian: ``mods-enabled/ssl.load``). This analyzer replays
that order, so ports, TLS, document roots, proxies and the loaded modules (with the .so each names) come
from the active configuration only. ``<If>``/``<ElseIf>``/``<Else>`` are decided per request: their
content counts as configured.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field

from migrate.analyzers._php import php_ini_files
from migrate.analyzers._support import (
    config_file,
    enrich,
    persistent_path,
    pick_service,
    read_text,
    split_host_port,
    unknown,
)
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Connection, Findings, LoadedModule, Port

LAYOUTS = (("/etc/apache2/apache2.conf", "/etc/apache2", ["apache2"]),
           ("/etc/httpd/conf/httpd.conf", "/etc/httpd", ["httpd"]),
           ("/usr/local/apache2/conf/httpd.conf", "/usr/local/apache2", ["httpd", "apache2"]))
# compiled into the httpd binary of Debian's apache2-bin and RHEL's httpd (`apache2 -l`): always "loaded"
STATIC_MODULES = ("core_module", "so_module", "watchdog_module", "http_module", "log_config_module",
                  "logio_module", "version_module", "unixd_module", "mpm_common")
CONDITIONAL = ("ifmodule", "ifdefine", "iffile", "ifdirective", "ifsection", "ifversion")
# content below these is package data (reinstalled by the package closure), not a site to ship
SYSTEM_TREES = ("/usr/", "/etc/", "/lib/", "/lib64/", "/bin/", "/sbin/", "/boot/", "/proc/", "/sys/", "/dev/", "/run/")
MAX_DEPTH = 16
# include graphs: each file is read once and each pattern listed once; all expansions together are
# bounded (9 files that each IncludeOptional conf.d/*.conf would otherwise expand 9*8*7*... times)
MAX_INCLUDE_EXPANSIONS = 1000


@dataclass
class Line:
    text: str
    words: list[str]
    path: str
    lineno: int


@dataclass
class Replay:
    """State of one read of the configuration: what is loaded and defined so far, the active lines."""

    modules: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # id → (.so path, file, line)
    defines: dict[str, str] = field(default_factory=dict)
    lines: list[Line] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def module_names(ident: str, so_path: str | None = None) -> set[str]:
    """Every spelling ``<IfModule>`` accepts for a module: its identifier (``ssl_module``) and its
    source file (``mod_ssl.c``, also derived from the .so name)."""
    names = {ident}
    if ident.endswith("_module"):
        names.add(f"mod_{ident[:-len('_module')]}.c")
    if so_path:
        stem = posixpath.basename(so_path).rsplit(".so", 1)[0]
        names.add(f"{stem}.c")
        if stem.startswith("lib"):  # libphp8.2.so is mod_php.c
            names.add("mod_" + re.sub(r"[\d.]+$", "", stem[3:]) + ".c")
    return names


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=False)
    except ValueError:
        return text.split()


class ApacheAnalyzer(Analyzer):
    name = "apache"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        layout = next((lay for lay in LAYOUTS if ctx.rootfs.lstat(lay[0]) is not None), None)
        if layout is None:
            raise NotApplicable("no apache2.conf or httpd.conf")
        main, self.server_root, names = layout
        f = Findings()
        self.ctx, self.f = ctx, f
        self.service = pick_service(ctx, names + ["apache2", "httpd"], names[0])
        self.env = self._envvars()
        state = Replay()
        for ident in STATIC_MODULES:
            state.modules[ident] = ("", "", 0)
        for name in self._command_line_defines(ctx):
            state.defines[name] = ""
        self.state = state
        self._texts: dict[str, str | None] = {}
        self._globs: dict[str, list[str]] = {}
        self._expansions = 0
        self._loops: set[tuple[str, str, int]] = set()
        self._load(main, 0, (main,))
        if main not in state.files:
            f.services.append(enrich(ctx, self, self.service, main, role="apache"))
            return f
        ports, roots, dirs, tls_ports = self._directives(f)
        for p in ports.values():
            if p.port in tls_ports:
                p.tls = True
        f.ports.extend(ports.values())
        self._webroots(roots, dirs)
        modules, uses = self._modules()
        record = enrich(ctx, self, self.service, main, role="apache", modules=modules)
        record.uses_files = sorted(set(state.files) | set(uses))
        f.services.append(record)
        return f

    # -- reading, as httpd does ----------------------------------------------------------------------
    def _envvars(self) -> dict[str, str]:
        text = read_text(self.ctx, self, f"{self.server_root}/envvars", self.f) or ""
        return dict(re.findall(r"^\s*export\s+([A-Z_]+)=[\"']?([^\"'\s$]*)", text, re.M))

    def _command_line_defines(self, ctx: Context) -> list[str]:
        """``-D NAME`` given to httpd: in the unit's command and in envvars' APACHE_ARGUMENTS."""
        args: list[str] = []
        for svc_analyzer in ("systemd", "sysv"):
            for svc in ctx.findings(svc_analyzer).services:
                if svc.name == self.service:
                    args += svc.exec_start
        args += _words(self.env.get("APACHE_ARGUMENTS", ""))
        out = []
        for i, a in enumerate(args):
            if a == "-D" and i + 1 < len(args):
                out.append(args[i + 1])
            elif a.startswith("-D") and len(a) > 2:
                out.append(a[2:])
        return out

    def _subst(self, text: str) -> str:
        def one(m: re.Match) -> str:
            name = m.group(1)
            if name in self.state.defines and self.state.defines[name]:
                return self.state.defines[name]
            return self.env.get(name, m.group(0))
        return re.sub(r"\$\{(\w+)\}", one, text)

    def _condition(self, tag: str, arg: str) -> bool:
        arg = arg.strip().strip("\"'")
        negate = arg.startswith("!")
        arg = arg[1:].strip() if negate else arg
        if tag == "ifmodule":
            loaded = set().union(*(module_names(ident, so) for ident, (so, _, _) in self.state.modules.items()))
            result = arg in loaded
        elif tag == "ifdefine":
            result = arg in self.state.defines
        elif tag == "iffile":
            target = arg if arg.startswith("/") else posixpath.join(self.server_root, arg)
            result = self.ctx.rootfs.exists(target)
        else:  # IfVersion, IfDirective, IfSection: this httpd is the one that wrote the config
            result = True
        return result != negate

    def _load(self, path: str, depth: int, stack: tuple[str, ...]) -> None:
        first = path not in self._texts
        if first:
            self._texts[path] = read_text(self.ctx, self, path, self.f)
        text = self._texts[path]
        if text is None:
            return
        self._expansions += 1
        if self._expansions > MAX_INCLUDE_EXPANSIONS:
            if self._expansions == MAX_INCLUDE_EXPANSIONS + 1:
                self.f.unknowns.append(unknown(self, path, f"more than {MAX_INCLUDE_EXPANSIONS} include expansions: "
                                                           "the rest of the include graph is not followed"))
            return
        st = self.state
        if first:
            st.files.append(path)
            kind = "apache-site" if "/sites-" in path or "/conf.d/" in path else "apache-conf"
            self.f.configs.append(config_file(self.ctx, self, path, service=self.service, kind=kind, content=text))
        raw = text.splitlines()
        conditions: list[bool] = []  # one entry per open conditional section of this file
        i = 0
        while i < len(raw):
            lineno = i + 1
            line = raw[i]
            i += 1
            while line.endswith("\\") and i < len(raw):
                line = line[:-1] + " " + raw[i].strip()
                i += 1
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            s = self._subst(s)
            m = re.match(r"^<\s*(/?)\s*(\w+)\s*(.*?)>?\s*$", s) if s.startswith("<") else None
            if m and m.group(2).lower() in CONDITIONAL:
                if m.group(1):
                    if conditions:
                        conditions.pop()
                    else:
                        self.f.unknowns.append(unknown(self, path, f"line {lineno}: </{m.group(2)}> without an "
                                                                   "opening section"))
                else:
                    active = all(conditions) and self._condition(m.group(2).lower(), m.group(3).rstrip(">"))
                    conditions.append(active)
                continue
            if not all(conditions):
                continue
            words = _words(s)
            if not words:
                continue
            key = words[0].lower()
            if key in ("include", "includeoptional") and len(words) > 1:
                self._include(words, path, lineno, depth, stack)
                continue
            if key == "loadmodule" and len(words) > 2:
                so = words[2] if words[2].startswith("/") else posixpath.join(self.server_root, words[2])
                st.modules.setdefault(words[1], (posixpath.normpath(so), path, lineno))
            elif key == "serverroot" and len(words) > 1 and words[1].startswith("/"):
                self.server_root = posixpath.normpath(words[1])  # later relative paths resolve against it
            elif key == "define" and len(words) > 1:
                st.defines[words[1]] = words[2] if len(words) > 2 else ""
            elif key == "undefine" and len(words) > 1:
                st.defines.pop(words[1], None)
            st.lines.append(Line(s, words, path, lineno))
        if conditions:
            self.f.unknowns.append(unknown(self, path, f"{len(conditions)} conditional section(s) not closed"))

    def _include(self, words: list[str], path: str, lineno: int, depth: int, stack: tuple[str, ...]) -> None:
        pattern = words[1].strip().strip("\"'")
        if not pattern.startswith("/"):
            pattern = posixpath.join(self.server_root, pattern)
        if depth >= MAX_DEPTH:
            self.f.unknowns.append(unknown(self, path, f"line {lineno}: includes nested too deeply"))
            return
        fs = self.ctx.rootfs
        if pattern not in self._globs:
            self._globs[pattern] = [p for p in fs.iterdir(pattern)] if fs.is_dir(pattern) else fs.glob(pattern)
        matches = self._globs[pattern]
        if not matches and words[0].lower() == "include" and not any(c in pattern for c in "*?["):
            self.f.unknowns.append(unknown(self, path, f"line {lineno}: included file {pattern} is missing"))
        for inc in sorted(matches):
            if inc in stack:
                if (inc, path, lineno) not in self._loops:  # once per include line, however often it expands
                    self._loops.add((inc, path, lineno))
                    self.f.unknowns.append(unknown(self, inc, f"included again from {path} (line {lineno}): "
                                                              "include loop"))
            elif fs.is_file(inc):
                self._load(inc, depth + 1, (*stack, inc))
            elif fs.is_symlink(inc) and not fs.exists(inc):
                self.f.unknowns.append(unknown(self, inc, f"included from {path} (line {lineno}) but the link is "
                                                          "dangling or loops"))

    # -- what the active configuration says ------------------------------------------------------------
    def _directives(self, f: Findings):
        ports: dict[tuple, Port] = {}
        roots: dict[str, tuple[str, str]] = {}
        dirs: dict[str, str] = {}
        tls_ports: set[int] = set()
        vhost: str | None = None
        vhost_ports: list[int] = []
        balancers: dict[str, list[str]] = {}
        current_balancer: str | None = None
        proxies: list[tuple[str, str, int, str]] = []
        for ln in self.state.lines:
            words, key = ln.words, ln.words[0].lower()
            if key.startswith("<virtualhost"):
                vhost = " ".join(words)[len("<VirtualHost"):].rstrip(">").strip()
                vhost_ports = [split_host_port(a.rstrip(">"))[1] or 0 for a in words[1:]]
            elif key == "</virtualhost>":
                vhost, vhost_ports = None, []
            elif key == "<proxy" and len(words) > 1 and words[1].rstrip(">").startswith("balancer://"):
                current_balancer = words[1].rstrip(">")
                balancers[current_balancer] = []
            elif key == "</proxy>":
                current_balancer = None
            elif key == "balancermember" and len(words) > 1 and current_balancer:
                balancers[current_balancer].append(words[1])
            elif key == "listen" and len(words) > 1:
                addr, port = split_host_port(words[1])
                if port is None:
                    continue
                proto = words[2].lower() if len(words) > 2 else ("https" if port == 443 else "http")
                if proto == "https":
                    tls_ports.add(port)
                addr = None if addr in ("::", "0.0.0.0") else addr
                ports.setdefault(("tcp", addr, port), Port(
                    service=self.service, port=port, address=addr,
                    evidence=self.evidence(ln.path, f"Listen {' '.join(words[1:])} (line {ln.lineno})")))
            elif key == "sslengine" and len(words) > 1 and words[1].lower() == "on":
                tls_ports.update(p for p in vhost_ports if p)
            elif key == "documentroot" and len(words) > 1:
                roots.setdefault(posixpath.normpath(words[1]), (ln.path, f"DocumentRoot (line {ln.lineno})"))
            elif key in ("alias", "scriptalias") and len(words) > 2:
                roots.setdefault(posixpath.normpath(words[2]), (ln.path, f"{words[0]} {words[1]} (line {ln.lineno})"))
            elif key == "<directory" and len(words) > 1:
                target = words[1].rstrip(">").strip("\"'")
                if target.startswith("/") and not any(c in target for c in "*?[~"):
                    dirs.setdefault(posixpath.normpath(target), ln.path)
            elif key == "proxypass" and len(words) > 2 and words[2] != "!":
                proxies.append((words[2], ln.path, ln.lineno, vhost or "main server"))
            elif key == "servername" and len(words) > 1 and vhost is not None:
                vhost = f"{vhost} {words[1]}"
        for target, path, lineno, where in proxies:
            members = balancers.get(target.rstrip("/"))
            for url in members if members is not None else [target]:
                scheme, _, rest = url.partition("://")
                addr, port = split_host_port(rest.split("/", 1)[0])
                if port is None:
                    port = {"http": 80, "https": 443, "ajp": 8009, "ws": 80, "wss": 443}.get(scheme)
                f.connections.append(Connection(
                    from_service=self.service, scheme=scheme or "http", host=addr or "localhost", port=port,
                    url_redacted=url, via=f"ProxyPass ({where})" + (f" → {target}" if members is not None else ""),
                    evidence=self.evidence(path, f"line {lineno}")))
        return ports, roots, dirs, tls_ports

    def _webroots(self, roots: dict[str, tuple[str, str]], dirs: dict[str, str]) -> None:
        """DocumentRoot and Alias targets are the sites; a <Directory> section adds a root only when it is
        neither inside nor around one of them (Debian's ``<Directory /var/www/>`` around
        ``DocumentRoot /var/www/html`` is an access rule, not another site). Package data (/usr ...) is
        left to the packages."""
        chosen = {p: why for p, why in roots.items() if not (p + "/").startswith(SYSTEM_TREES) and p != "/"}
        for d, path in dirs.items():
            if d == "/" or (d + "/").startswith(SYSTEM_TREES):
                continue
            if any((d + "/").startswith(r + "/") or (r + "/").startswith(d + "/") for r in chosen):
                continue
            if self.ctx.rootfs.is_dir(d):
                chosen[d] = (path, "<Directory> section")
        for root, (evidence, why) in sorted(chosen.items()):
            if any(root.startswith(other + "/") for other in chosen):
                continue  # an Alias inside a document root ships with it
            pp = persistent_path(self.ctx, self, root, service=self.service, kind="webroot",
                                 reason=f"{why} in {evidence}; web content to ship with the image or mount",
                                 evidence_path=evidence)
            if pp:
                self.f.persistent_paths.append(pp)

    def _modules(self) -> tuple[list[LoadedModule], list[str]]:
        """The modules LoadModule really loaded (static ones left out), and for an embedded PHP (mod_php)
        the PHP ini files and extensions that SAPI reads."""
        out: list[LoadedModule] = []
        uses: list[str] = []
        for ident, (so, path, lineno) in sorted(self.state.modules.items()):
            if not path:
                continue
            present = self.ctx.rootfs.exists(so)
            out.append(LoadedModule(kind="apache", name=ident, path=so if present else None,
                                    evidence=self.evidence(path, f"LoadModule {ident} {so} (line {lineno})"
                                                           + ("" if present else " (file missing)"))))
            if present:
                uses.append(so)
                real = self.ctx.rootfs.resolve(so)
                if real != so:
                    uses.append(real)  # RHEL: /etc/httpd/modules is a link to /usr/lib64/httpd/modules
            m = re.match(r"^lib(php[\d.]*)\.so$", posixpath.basename(so))
            if m:
                version = m.group(1)[3:] or None
                ini_files, ext = php_ini_files(self.ctx, self, self.f, sapi="apache2", version=version)
                uses += ini_files + [e.path for e in ext if e.path]
                out += ext
        return out, uses
