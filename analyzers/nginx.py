"""nginx: a real parser of the configuration language (comments, quotes, nested blocks, include
globs) and what matters for a migration: listen sockets, server names, document roots, proxy and
FastCGI targets and upstream servers. A file that does not parse becomes an Unknown naming the file
and line; the rest of the configuration is still read."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from migrate.analyzers._support import (
    SecretSink,
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

MAIN_CONFIGS = ("/etc/nginx/nginx.conf", "/usr/local/nginx/conf/nginx.conf", "/usr/local/etc/nginx/nginx.conf",
                "/opt/nginx/conf/nginx.conf")
MAX_INCLUDE_DEPTH = 16
# compiled-in prefixes of distribution and source builds, against which a relative load_module resolves
MODULE_PREFIXES = ("/usr/share/nginx", "/usr/lib/nginx", "/usr/lib64/nginx", "/usr/local/nginx", "/etc/nginx")
# content below these is package data (reinstalled by the package closure), not a site to ship
SYSTEM_TREES = ("/usr/", "/etc/", "/lib/", "/lib64/", "/bin/", "/sbin/", "/boot/", "/proc/", "/sys/", "/dev/", "/run/")
# include graphs: each file is read and globbed once; the expansions of all includes together are
# bounded (9 files that each include conf.d/*.conf would otherwise expand 9*8*7*... times)
MAX_INCLUDE_EXPANSIONS = 1000
# files named by directives that nginx reads at start and that hold no secret (certificates, DH params)
PUBLIC_FILES = ("ssl_certificate", "ssl_trusted_certificate", "ssl_client_certificate", "ssl_dhparam")


class NginxSyntaxError(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass
class Directive:
    name: str
    args: list[str]
    file: str
    line: int
    block: list[Directive] | None = None
    children_files: list[str] = field(default_factory=list)


def tokenize(text: str) -> list[tuple[str, int, bool]]:
    """(token, line, quoted). Punctuation ``{ } ;`` are tokens of their own."""
    tokens: list[tuple[str, int, bool]] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "{};":
            tokens.append((c, line, False))
            i += 1
        elif c in "\"'":
            start_line = line
            i += 1
            buf = []
            while i < n and text[i] != c:
                if text[i] == "\\" and i + 1 < n:
                    buf.append(text[i + 1])
                    i += 2
                    continue
                if text[i] == "\n":
                    line += 1
                buf.append(text[i])
                i += 1
            if i >= n:
                raise NginxSyntaxError("unterminated quoted string", start_line)
            i += 1
            tokens.append(("".join(buf), start_line, True))
        else:
            buf = []
            while i < n and not text[i].isspace() and text[i] not in ";":
                if text[i] == "{":
                    if buf and buf[-1] == "$":  # ${var}
                        end = text.find("}", i)
                        if end < 0:
                            raise NginxSyntaxError("unterminated ${ variable", line)
                        buf.append(text[i:end + 1])
                        i = end + 1
                        continue
                    break
                if text[i] == "}":
                    break
                if text[i] == "\\" and i + 1 < n:
                    buf.append(text[i:i + 2])
                    i += 2
                    continue
                buf.append(text[i])
                i += 1
            tokens.append(("".join(buf), line, False))
    return tokens


def _shown(name: str) -> str:
    """A directive name for an error message: quoted only when it looks like one. A file that is not
    nginx syntax at all (an htpasswd pulled in by ``include``) must not have its lines quoted."""
    return f"\"{name}\"" if re.fullmatch(r"[a-z_][a-z0-9_]{0,39}", name) else "(a token that is not a directive name)"


def parse(text: str, path: str) -> list[Directive]:
    tokens = tokenize(text)
    pos = 0

    def block(depth: int, open_line: int) -> list[Directive]:
        nonlocal pos
        out: list[Directive] = []
        while True:
            if pos >= len(tokens):
                if depth:
                    raise NginxSyntaxError("unexpected end of file, expecting \"}\"", open_line)
                return out
            tok, line, quoted = tokens[pos]
            if tok == "}" and not quoted:
                if not depth:
                    raise NginxSyntaxError("unexpected \"}\"", line)
                pos += 1
                return out
            if tok in ("{", ";") and not quoted:
                raise NginxSyntaxError(f"unexpected \"{tok}\"", line)
            name, args = tok, []
            pos += 1
            while True:
                if pos >= len(tokens):
                    raise NginxSyntaxError(f"unexpected end of file in directive {_shown(name)}", line)
                t, tline, q = tokens[pos]
                if t == ";" and not q:
                    pos += 1
                    out.append(Directive(name, args, path, line))
                    break
                if t == "{" and not q:
                    pos += 1
                    out.append(Directive(name, args, path, line, block(depth + 1, tline)))
                    break
                if t == "}" and not q:
                    raise NginxSyntaxError(f"directive {_shown(name)} is not terminated by \";\"", line)
                args.append(t)
                pos += 1

    return block(0, 1)


class NginxAnalyzer(Analyzer):
    name = "nginx"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        main = next((p for p in MAIN_CONFIGS if ctx.rootfs.lstat(p) is not None), None)
        if main is None:
            raise NotApplicable("no nginx.conf")
        f = Findings()
        self.ctx, self.f = ctx, f
        self.service = pick_service(ctx, ["nginx", "openresty"], "nginx")
        self.prefix = posixpath.dirname(main)
        self.files: list[str] = []
        self._texts: dict[str, str | None] = {}
        self._globs: dict[str, list[str]] = {}
        self._expansions = 0
        tree = self._load(main, 0, set())
        if tree is None:
            f.services.append(enrich(ctx, self, self.service, main, role="nginx"))
            return f
        upstreams: dict[str, list[str]] = {}
        for d in self._walk(tree):
            if d.name == "upstream" and d.args and d.block is not None:
                upstreams[d.args[0]] = [s.args[0] for s in d.block if s.name == "server" and s.args]
        ports: dict[tuple, Port] = {}
        roots: dict[str, tuple[str, str]] = {}
        for ctxname, server in self._servers(tree):
            self._server(ctxname, server, upstreams, ports, roots)
        f.ports.extend(ports.values())
        for root, (evidence, why) in sorted(roots.items()):
            if root == "/" or (root + "/").startswith(SYSTEM_TREES):
                continue  # package data (Debian's /usr/share/nginx/html): the packages bring it back
            if any(root.startswith(other + "/") for other in roots if other != "/"):
                continue  # an alias inside a document root ships with it
            pp = persistent_path(ctx, self, root, service=self.service, kind="webroot",
                                 reason=f"nginx {why} in {evidence}; static content to ship with the "
                                        "image or mount", evidence_path=evidence)
            if pp:
                f.persistent_paths.append(pp)
        modules = self._modules(tree)
        record = enrich(ctx, self, self.service, main, role="nginx", modules=modules)
        record.uses_files = sorted(set(self.files) | {m.path for m in modules if m.path}
                                   | {self.ctx.rootfs.resolve(m.path) for m in modules if m.path})
        f.services.append(record)
        return f

    def _modules(self, tree: list[Directive]) -> list[LoadedModule]:
        """``load_module`` directives (main context, after includes: Debian's modules-enabled/*.conf) with
        the .so each loads. A relative path is relative to nginx's compiled-in prefix, which is not in the
        configuration: the first of the usual prefixes that holds the file is taken."""
        out: list[LoadedModule] = []
        for d in tree:
            if d.name != "load_module" or not d.args:
                continue
            target = d.args[0]
            candidates = [target] if target.startswith("/") else [posixpath.join(p, target) for p in
                                                                  (*MODULE_PREFIXES, self.prefix)]
            where = next((c for c in candidates if self.ctx.rootfs.is_file(c)), None)
            name = posixpath.basename(target).removesuffix(".so")
            out.append(LoadedModule(kind="nginx", name=name, path=where, evidence=self.evidence(
                d.file, f"load_module {target} (line {d.line})" + ("" if where else " (file missing)"))))
        return out

    # -- loading ---------------------------------------------------------------------------------
    def _load(self, path: str, depth: int, stack: set[str]) -> list[Directive] | None:
        first = path not in self._texts
        if first:
            self._texts[path] = read_text(self.ctx, self, path, self.f)
        text = self._texts[path]
        if text is None:
            return None
        self._expansions += 1
        if self._expansions > MAX_INCLUDE_EXPANSIONS:
            if self._expansions == MAX_INCLUDE_EXPANSIONS + 1:
                self.f.unknowns.append(unknown(self, path, f"more than {MAX_INCLUDE_EXPANSIONS} include expansions: "
                                                           "the rest of the include graph is not followed"))
            return None
        try:
            tree = parse(text, path)
        except NginxSyntaxError as exc:
            if first:
                real = self.ctx.rootfs.resolve(path)
                where = f" (a link to {real})" if real != path else ""
                self.f.unknowns.append(unknown(self, path, f"nginx configuration does not parse: {exc}{where}"))
            return None
        kind = "nginx-site" if "/sites-" in path or "/conf.d/" in path else "nginx-conf"
        secrets = self._expand(tree, path, depth, stack | {path})
        if path not in self.files:
            self.files.append(path)
            self.f.configs.append(config_file(self.ctx, self, path, service=self.service, kind=kind, content=text,
                                              contains_secrets=secrets))
        return tree

    def _expand(self, block: list[Directive], path: str, depth: int, stack: set[str]) -> bool:
        """Replace include directives by the directives of the files they name (in place)."""
        secrets = False
        i = 0
        while i < len(block):
            d = block[i]
            if d.block is not None:
                secrets |= self._expand(d.block, path, depth, stack)
            if d.name == "include" and d.args:
                pattern = d.args[0] if d.args[0].startswith("/") else posixpath.join(self.prefix, d.args[0])
                included: list[Directive] = []
                if depth >= MAX_INCLUDE_DEPTH:
                    self.f.unknowns.append(unknown(self, path, f"line {d.line}: includes nested too deeply"))
                else:
                    if pattern not in self._globs:
                        self._globs[pattern] = self.ctx.rootfs.glob(pattern)
                    matches = self._globs[pattern]
                    if not matches and not any(ch in pattern for ch in "*?["):
                        self.f.unknowns.append(unknown(self, path, f"line {d.line}: included file {pattern} "
                                                                   "does not exist"))
                    for inc in matches:
                        if inc in stack or not self.ctx.rootfs.is_file(inc):
                            continue
                        sub = self._load(inc, depth + 1, stack)
                        if sub:
                            included.extend(sub)
                block[i:i + 1] = included
                i += len(included)
                continue
            if d.name in ("auth_basic_user_file", "ssl_certificate_key", "ssl_password_file") and d.args:
                secrets |= self._secret_file(d)
            elif d.name in PUBLIC_FILES and d.args:
                self._public_file(d)
            i += 1
        return secrets

    def _secret_file(self, d: Directive) -> bool:
        target = d.args[0] if d.args[0].startswith("/") else posixpath.join(self.prefix, d.args[0])
        if "$" in target or not self.ctx.rootfs.is_file(target):
            return False
        data = read_text(self.ctx, self, target, self.f, max_bytes=1024 * 1024)
        if not data:
            return False
        kind = {"ssl_certificate_key": "private-key", "auth_basic_user_file": "password-hash"}.get(d.name, "password")
        SecretSink(self.ctx, self, self.f, self.service).secret(data, key=d.name, kind=kind, redacted=f"{target}: ****",
                                                                path=target)
        self.f.configs.append(config_file(self.ctx, self, target, service=self.service, kind=d.name.replace("_", "-"),
                                          contains_secrets=True))
        return False

    def _public_file(self, d: Directive) -> None:
        """A certificate or DH parameters file the server reads at start: without it nginx refuses the
        whole config ("cannot load certificate"), so it is a config file of the service (not a secret)."""
        target = d.args[0] if d.args[0].startswith("/") else posixpath.join(self.prefix, d.args[0])
        if "$" in target or not self.ctx.rootfs.is_file(target):
            return
        self.f.configs.append(config_file(self.ctx, self, target, service=self.service, kind=d.name.replace("_", "-")))

    # -- extraction ------------------------------------------------------------------------------
    def _walk(self, block: list[Directive]):
        for d in block:
            yield d
            if d.block is not None:
                yield from self._walk(d.block)

    def _servers(self, tree: list[Directive]):
        for top in tree:
            if top.name in ("http", "stream") and top.block is not None:
                for d in top.block:
                    if d.name == "server" and d.block is not None:
                        yield top.name, d

    def _server(self, ctxname: str, server: Directive, upstreams: dict[str, list[str]],
                ports: dict[tuple, Port], roots: dict[str, tuple[str, str]]) -> None:
        assert server.block is not None
        names = [a for d in server.block if d.name == "server_name" for a in d.args]
        listens = [d for d in server.block if d.name == "listen" and d.args]
        label = f"server {' '.join(names) or '_'}"
        if not listens and ctxname == "http":
            key = ("tcp", None, 80, None)
            ports.setdefault(key, Port(service=self.service, port=80,
                                       evidence=self.evidence(server.file, f"{label} (default listen 80)")))
        # `ssl on;` (before nginx 1.25) makes every listen of the server TLS
        ssl_on = any(d.name == "ssl" and d.args[:1] == ["on"] for d in server.block)
        for d in listens:
            spec = d.args[0]
            flags = d.args[1:]
            proto = "udp" if "udp" in flags or "quic" in flags else "tcp"
            tls = ssl_on or "ssl" in flags or "quic" in flags
            detail = f"{label}: listen {' '.join(d.args)} (line {d.line})"
            if spec.startswith("unix:"):
                key = ("unix", None, None, spec[5:])
                ports.setdefault(key, Port(service=self.service, proto="unix", path=spec[5:],
                                           evidence=self.evidence(d.file, detail)))
                continue
            addr, port = split_host_port(spec)
            if port is None and addr is not None and not addr.replace(".", "").isdigit() and ":" not in addr:
                port = 80  # "listen localhost;" means port 80
            elif port is None:
                port = 80
            if addr in ("::", "*"):
                addr = None
            key = (proto, addr, port, None)
            port_record = ports.setdefault(key, Port(service=self.service, proto=proto,  # type: ignore[arg-type]
                                                     port=port, address=addr, evidence=self.evidence(d.file, detail)))
            port_record.tls = port_record.tls or tls
        for d in self._walk(server.block):
            if d.name in ("root", "alias") and d.args and "$" not in d.args[0] and d.args[0].startswith("/"):
                why = "document root" if d.name == "root" else "alias"
                roots.setdefault(posixpath.normpath(d.args[0]), (d.file, f"{why} ({label}, line {d.line})"))
            elif d.name in ("proxy_pass", "fastcgi_pass", "uwsgi_pass", "grpc_pass", "scgi_pass") and d.args:
                self._target(d, upstreams, label)

    def _target(self, d: Directive, upstreams: dict[str, list[str]], label: str) -> None:
        target = d.args[0]
        scheme_default = {"proxy_pass": "http", "fastcgi_pass": "fastcgi", "uwsgi_pass": "uwsgi",
                          "grpc_pass": "grpc", "scgi_pass": "scgi"}[d.name]
        scheme, rest = scheme_default, target
        if "://" in target:
            scheme, _, rest = target.partition("://")
        if "$" in rest.split("/", 1)[0]:
            self.f.unknowns.append(unknown(self, d.file, f"line {d.line}: {d.name} target uses variables; "
                                                         "its destination is decided at run time"))
            return
        hostport = rest.split("/", 1)[0]
        if target.startswith("unix:") or rest.startswith("unix:"):
            sock = (rest if rest.startswith("unix:") else target)[5:].split(":", 1)[0]
            self.f.connections.append(Connection(from_service=self.service, scheme=scheme, host=f"unix:{sock}",
                                                 unix_socket=sock, url_redacted=target, via=f"{d.name} ({label})",
                                                 evidence=self.evidence(d.file, f"line {d.line}")))
            return
        servers = upstreams.get(hostport)
        via = f"{d.name} ({label})"
        if servers is not None:
            via = f"{d.name} → upstream {hostport} ({label})"
        for server in servers if servers is not None else [hostport]:
            if server.startswith("unix:"):
                self.f.connections.append(Connection(from_service=self.service, scheme=scheme, host=server,
                                                     unix_socket=server[5:].split(":", 1)[0], url_redacted=target,
                                                     via=via,
                                                     evidence=self.evidence(d.file, f"line {d.line}")))
                continue
            addr, port = split_host_port(server)
            if port is None:
                port = {"http": 80, "https": 443, "grpc": 80, "grpcs": 443}.get(scheme)
            self.f.connections.append(Connection(
                from_service=self.service, scheme=scheme, host=addr or "localhost", port=port, url_redacted=target,
                via=via, evidence=self.evidence(d.file, f"line {d.line}")))
