"""BIND 9 (named): named.conf and everything it includes. ``listen-on``/``listen-on-v6`` (with their
``port``) say what listens, on TCP and UDP; each ``zone`` names its zone file (a config to copy, or
data when named writes it: secondaries and dynamic zones); ``options { directory }`` is named's
working directory; ``key`` blocks hold TSIG/rndc secrets."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from migrate.analyzers._support import (
    PORT,
    SecretSink,
    config_file,
    enrich,
    guest_number,
    main_config,
    persistent_path,
    pick_service,
    read_text,
    unknown,
)
from migrate.analyzers.base import REDACTED, Analyzer, Context
from migrate.model.inventory import Findings, Port

MAIN = ("/etc/bind/named.conf", "/etc/named.conf")
MAX_NESTING = 32  # named.conf nests a few levels; a hostile file must not exhaust the stack
TOKEN_RE = re.compile(r'"(?:[^"\\]|\\.)*"|[{};]|[^\s{};"]+')


@dataclass
class Stmt:
    words: list[str]
    block: list[Stmt] | None = None
    path: str = ""
    children: list[Stmt] = field(default_factory=list)


def strip_comments(text: str) -> str:
    """named.conf comments: /* */, // and # (outside quoted strings)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif text.startswith("//", i) or c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse(text: str, path: str) -> list[Stmt]:
    tokens = TOKEN_RE.findall(strip_comments(text))
    pos = 0

    def block(depth: int = 0) -> list[Stmt]:
        nonlocal pos
        if depth > MAX_NESTING:
            raise ValueError(f"blocks nested more than {MAX_NESTING} deep")
        out: list[Stmt] = []
        words: list[str] = []
        while pos < len(tokens):
            t = tokens[pos]
            pos += 1
            if t == "}":
                if words:
                    out.append(Stmt(words, path=path))
                return out
            if t == ";":
                if words:
                    out.append(Stmt(words, path=path))
                words = []
            elif t == "{":
                inner = block(depth + 1)
                if words:
                    out.append(Stmt(words, inner, path=path))
                    words = []
                else:  # an address-match list inside a statement: keep it with the words
                    out.append(Stmt(["{}"], inner, path=path))
                if pos < len(tokens) and tokens[pos] == ";":
                    pos += 1
            else:
                words.append(t.strip('"'))
        if words:
            out.append(Stmt(words, path=path))
        return out

    return block()


class BindAnalyzer(Analyzer):
    name = "bind"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        main = main_config(ctx, MAIN, "named.conf")
        self.ctx, self.f = ctx, Findings()
        self.service = pick_service(ctx, ["named", "bind9"], "named")
        self.sink = SecretSink(ctx, self, self.f, self.service)
        stmts = self._load(main, 0, set())
        directory = "/var/cache/bind" if main.startswith("/etc/bind/") else "/var/named"
        listens: list[tuple[str, int, str]] = []  # (family, port, statement path)
        for s in stmts:
            if s.words[0] == "options" and s.block:
                for o in s.block:
                    if o.words[0] == "directory" and len(o.words) > 1:
                        directory = o.words[1]
                    elif o.words[0] in ("listen-on", "listen-on-v6"):
                        port = 53
                        if "port" in o.words:
                            at = o.words.index("port") + 1
                            port = guest_number(self, self.f, o.words[at] if at < len(o.words) else None, PORT,
                                                path=o.path, what=f"the port of {o.words[0]}") or 53
                        listens.append((o.words[0], port, o.path))
        for fam, port, path in listens or [("listen-on", 53, main)]:
            for proto in ("udp", "tcp"):
                self.f.ports.append(Port(service=self.service, proto=proto, port=port,
                                         evidence=self.evidence(path, f"{fam} port {port}")))
        for s in stmts:
            if s.words[0] == "zone" and len(s.words) > 1 and s.block:
                self._zone(s, directory)
        pp = persistent_path(ctx, self, directory, service=self.service, kind="data",
                             reason=f"named's working directory (options directory in {main}): secondary and "
                                    "dynamic zones, managed keys", evidence_path=main)
        if pp:
            self.f.persistent_paths.append(pp)
        self.f.services.append(enrich(ctx, self, self.service, main, role="bind"))
        return self.f

    def _load(self, path: str, depth: int, seen: set[str]) -> list[Stmt]:
        if depth > 8 or path in seen:
            return []
        seen.add(path)
        text = read_text(self.ctx, self, path, self.f)
        if text is None:
            self.f.unknowns.append(unknown(self, path, "included file is missing"))
            return []
        before = len(self.f.secrets)
        try:
            stmts = parse(text, path)
        except ValueError as exc:
            self.f.unknowns.append(unknown(self, path, f"not read: {exc}"))
            return []
        out: list[Stmt] = []
        for s in stmts:
            if s.words[0] == "include" and len(s.words) > 1:
                out += self._load(s.words[1], depth + 1, seen)
            else:
                out.append(s)
        for s in stmts:
            if s.words[0] == "key" and s.block:
                self._key(s)
        self.f.configs.append(config_file(self.ctx, self, path, service=self.service, kind="named.conf",
                                          content=text, contains_secrets=len(self.f.secrets) > before))
        return out

    def _key(self, s: Stmt) -> None:
        name = s.words[1] if len(s.words) > 1 else "key"
        for k in s.block or []:
            if k.words[0] == "secret" and len(k.words) > 1:
                self.sink.secret(k.words[1], key=f"key {name}", kind="tsig-key", redacted=REDACTED, path=k.path)

    def _zone(self, s: Stmt, directory: str) -> None:
        name = s.words[1]
        opts = {o.words[0]: o.words[1:] for o in s.block or [] if o.words}
        ztype = (opts.get("type") or ["?"])[0]
        zfile = (opts.get("file") or [None])[0]
        if not zfile:
            return
        zpath = zfile if zfile.startswith("/") else posixpath.join(directory, zfile)
        written = ztype in ("slave", "secondary", "mirror") or "allow-update" in opts or "update-policy" in opts
        if written:  # named rewrites it: data, not configuration
            pp = persistent_path(self.ctx, self, posixpath.dirname(zpath), service=self.service, kind="data",
                                 reason=f"zone {name} ({ztype}) is written by named", evidence_path=s.path)
            if pp:
                self.f.persistent_paths.append(pp)
            return
        if self.ctx.rootfs.is_file(zpath):
            self.f.configs.append(config_file(self.ctx, self, zpath, service=self.service, kind="zone",
                                              detail=f"zone {name} ({ztype})"))
        else:
            self.f.unknowns.append(unknown(self, s.path, f"zone {name}: file {zpath} is missing"))
