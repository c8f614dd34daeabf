"""Helpers shared by the built-in analyzers: guarded reads, config-file records, secret handling in
environments, argv and connection strings, service-name lookup and persistent-path records.

Everything here reads through ``ctx.rootfs`` only. Secret values are handed to ``ctx.secrets`` and
never returned in anything that ends up in Findings.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import shlex
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

from migrate.analyzers.base import REDACTED, Analyzer, Context, NotApplicable, looks_secret_key, redact_url
from migrate.errors import GuestPathError
from migrate.kinds import scheme_ports
from migrate.model.inventory import ConfigFile, Connection, Findings, PersistentPath, Secret, Service, Unknown
from migrate.numbers import ID as ID  # re-exported: analyzers take their numbers from here
from migrate.numbers import PORT, small_int
from migrate.numbers import PORT_OR_ZERO as PORT_OR_ZERO

MAX_CONFIG_BYTES = 4 * 1024 * 1024


# -- reads ------------------------------------------------------------------------------------------
def read_text(ctx: Context, analyzer: Analyzer, path: str, findings: Findings, *,
              max_bytes: int = MAX_CONFIG_BYTES, missing_ok: bool = True) -> str | None:
    """The text of a guest file, or None. A missing file is silent when ``missing_ok``; any other
    failure (too large, not a regular file, a symlink loop) becomes an Unknown naming the file."""
    if missing_ok and ctx.rootfs.lstat(path) is None:
        return None
    try:
        return ctx.rootfs.read_text(path, max_bytes=max_bytes)
    except GuestPathError as exc:
        if missing_ok and not ctx.rootfs.exists(path):
            return None
        findings.unknowns.append(Unknown(analyzer=analyzer.name, path=path, message=f"cannot read: {exc.message}"))
        return None


def read_bytes(ctx: Context, analyzer: Analyzer, path: str, findings: Findings, *,
               max_bytes: int = MAX_CONFIG_BYTES) -> bytes | None:
    if ctx.rootfs.lstat(path) is None:
        return None
    try:
        return ctx.rootfs.read_bytes(path, max_bytes=max_bytes)
    except GuestPathError as exc:
        findings.unknowns.append(Unknown(analyzer=analyzer.name, path=path, message=f"cannot read: {exc.message}"))
        return None


def main_config(ctx: Context, candidates: Iterable[str], what: str) -> str:
    """The first of a server's usual main config paths that is a file in the guest; none means the
    server is not there (NotApplicable, not a failure)."""
    main = next((p for p in candidates if ctx.rootfs.is_file(p)), None)
    if main is None:
        raise NotApplicable(f"no {what}")
    return main


def unknown(analyzer: Analyzer, path: str | None, message: str) -> Unknown:
    return Unknown(analyzer=analyzer.name, path=path, message=message)


def guest_number(analyzer: Analyzer, findings: Findings, text: str | None, bounds: tuple[int, int], *,
                 path: str | None, what: str, line: int | None = None, base: int = 10) -> int | None:
    """``small_int`` of a number the guest wrote where one belongs (a port, a uid, an fstab field):
    None, and an unknown naming the file, the line and ``what`` (never the text), when it is not one
    in ``bounds``. The caller then treats that line as absent; the analyzer's other facts stand."""
    value = small_int(text, lo=bounds[0], hi=bounds[1], base=base)
    if value is None:
        where = f"line {line}: " if line is not None else ""
        findings.unknowns.append(unknown(analyzer, path, f"{where}{what} is not a number from {bounds[0]} to "
                                                         f"{bounds[1]}; the setting is taken as absent"))
    return value


def digits_port(analyzer: Analyzer, findings: Findings, text: str | None, *, path: str | None, what: str,
                line: int | None = None) -> int | None:
    """A port where a value only may be one (an app's ``-p``, a PHP argument, a DSN field): text that
    does not start with a digit (``$PORT``, java's ``-p`` module path) is passed over quietly, digits
    that make no port (99999, 5000 of them, ``²``) are an unknown as in ``guest_number``."""
    if not text or not text[0].isdigit():
        return None
    return guest_number(analyzer, findings, text, PORT, path=path, what=what, line=line)


def expand_glob(ctx: Context, pattern: str) -> list[str]:
    """Sorted guest paths matching ``pattern`` (fnmatch per component), regular files only."""
    return [p for p in ctx.rootfs.glob(pattern) if ctx.rootfs.is_file(p)]


# -- dpkg conffiles (md5 per path) -------------------------------------------------------------------
def cache(ctx: Context) -> dict:
    return ctx.cache


def conffile_info(ctx: Context, path: str) -> tuple[str, str] | None:
    """(package, md5 as shipped) for a dpkg conffile; filled by the packages_dpkg analyzer."""
    return cache(ctx).get("dpkg_conffiles", {}).get(path)


def config_file(ctx: Context, analyzer: Analyzer, path: str, *, service: str | None, kind: str,
                content: str | bytes | None = None, contains_secrets: bool = False,
                detail: str | None = None) -> ConfigFile:
    st = ctx.rootfs.stat(path)
    data: bytes | None
    if content is None:
        try:
            data = ctx.rootfs.read_bytes(path, max_bytes=MAX_CONFIG_BYTES)
        except GuestPathError:
            data = None
    else:
        data = content.encode("utf-8", errors="surrogateescape") if isinstance(content, str) else content
    from_package = None
    modified = None
    info = conffile_info(ctx, path)
    if info is not None:
        from_package = info[0]
        if data is not None and info[1]:
            modified = hashlib.md5(data).hexdigest() != info[1]
    return ConfigFile(
        path=path, service=service, kind=kind,
        size=st.size if st else (len(data) if data is not None else None),
        sha256=hashlib.sha256(data).hexdigest() if data is not None else None,
        mode=st.mode if st else None, uid=st.uid if st else None, gid=st.gid if st else None,
        contains_secrets=contains_secrets, from_package=from_package, modified_from_package=modified,
        evidence=analyzer.evidence(path, detail),
    )


# -- services ----------------------------------------------------------------------------------------
def known_services(ctx: Context) -> dict[str, Service]:
    """Services found so far by the init-system analyzers, by name."""
    found: dict[str, Service] = {}
    for name in ("systemd", "sysv", "rc_local"):
        for svc in ctx.findings(name).services:
            found.setdefault(svc.name, svc)
    return found


def pick_service(ctx: Context, candidates: Iterable[str], default: str) -> str:
    """The first candidate name an init-system analyzer knows (masked ones last), else ``default``."""
    services = known_services(ctx)
    names = list(candidates)
    for name in names:
        svc = services.get(name)
        if svc is not None and svc.state != "masked":
            return name
    for name in names:
        if name in services:
            return name
    return default


def service_manager(ctx: Context, name: str) -> str:
    services = known_services(ctx)
    svc = services.get(name)
    if svc is None and "@" in name:
        svc = services.get(name.split("@", 1)[0] + "@")
    return svc.manager if svc is not None else "other"


def enrich(ctx: Context, analyzer: Analyzer, name: str, path: str, *, role: str | None = None,
           **fields: object) -> Service:
    """A Service record that only carries what this analyzer knows; the runner merges it by name."""
    return Service(name=name, manager=service_manager(ctx, name), role=role,  # type: ignore[arg-type]
                   evidence=[analyzer.evidence(path, f"role {role}" if role else None)], **fields)


def user_ids(ctx: Context) -> tuple[dict[str, int], dict[str, int], dict[int, str]]:
    """(user name → uid, group name → gid, uid → user name) from the users_groups analyzer."""
    f = ctx.findings("users_groups")
    return ({u.name: u.uid for u in f.users}, {g.name: g.gid for g in f.groups}, {u.uid: u.name for u in f.users})


def persistent_path(ctx: Context, analyzer: Analyzer, path: str, *, service: str | None, kind: str, reason: str,
                    evidence_path: str, measure: bool = True, max_entries: int = 20000) -> PersistentPath | None:
    """A PersistentPath with owner and mode from the guest; None when the directory does not exist.
    Size and file count are measured up to ``max_entries`` entries (left empty beyond that)."""
    st = ctx.rootfs.stat(path)
    if st is None:
        return PersistentPath(path=path, service=service, kind=kind, reason=reason + " (not present in the image)",
                              evidence=analyzer.evidence(evidence_path))
    size = count = None
    if measure and st.kind == "dir":
        total = files = 0
        try:
            for _child, cst in ctx.rootfs.walk(path, max_entries=max_entries):
                if cst.kind == "file":
                    total += cst.size
                    files += 1
            size, count = total, files
        except GuestPathError:
            pass
    return PersistentPath(path=path, service=service, kind=kind, reason=reason, size_bytes=size, file_count=count,
                          uid=st.uid, gid=st.gid, mode=st.mode, evidence=analyzer.evidence(evidence_path))


# -- connection strings and secrets --------------------------------------------------------------------
DEFAULT_PORTS = scheme_ports()  # URL scheme -> port; one table (migrate/kinds), shared with the graph
URL_RE = re.compile(
    r"(?:jdbc:(?:postgresql|mysql|mariadb|sqlserver|oracle:thin)|postgres(?:ql)?|rediss?|mysql|mariadb|amqps?"
    r"|mongodb(?:\+srv)?|https?|memcached|ldaps?|smtp|nats|kafka)(?:\+\w+)?://[^\s'\"<>]+"
    # Oracle's thin driver has no "://": jdbc:oracle:thin:[user/password]@[//]host:port(:SID|/service)
    r"|jdbc:oracle:thin:(?:[^\s'\"<>@/:]+/[^\s'\"<>@]*)?@(?://)?[A-Za-z0-9_.\-]+:\d{1,5}[:/][\w.$#\-]+",
    re.I,
)
# the thin driver's inline credential: jdbc:oracle:thin:USER/PASSWORD@...
_ORACLE_CREDENTIAL_RE = re.compile(r"(jdbc:oracle:thin:([^\s'\"<>@/:]+)/)([^\s'\"<>@]*)(@)", re.I)
HOSTPORT_RE = re.compile(r"^\s*([A-Za-z0-9_.\-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\s*$")


def _scheme_of(url: str) -> str:
    if url.lower().startswith("jdbc:oracle:thin:"):
        return "jdbc:oracle:thin"
    scheme = url.split("://", 1)[0].lower()
    if scheme == "postgres":
        return "postgresql"
    return scheme.split("+", 1)[0] if not scheme.startswith("mongodb") else "mongodb"


def _redact_query_password(url: str) -> tuple[str, str | None]:
    """jdbc-style ``?user=x&password=y`` (or ``;password=y``)."""
    m = re.search(r"([?&;](?:password|pass|pwd)=)([^&;]*)", url, re.I)
    if not m or not m.group(2):
        return url, None
    return url[:m.start(2)] + REDACTED + url[m.end(2):], m.group(2)


def redact_connection_url(url: str) -> tuple[str, str | None]:
    """(redacted url, password) for any URL-ish string, including jdbc: ones."""
    m = _ORACLE_CREDENTIAL_RE.match(url)
    if m:
        password = m.group(3) or None
        return (url[: m.end(1)] + REDACTED + url[m.start(4):], password) if password else (url, None)
    inner = url[5:] if url.lower().startswith("jdbc:") else url
    red, password = redact_url(inner)
    red = url[: len(url) - len(inner)] + red if password is not None else url
    red2, qpass = _redact_query_password(red)
    return red2, password if password is not None else qpass


def parse_connection(url: str) -> tuple[str, str, int | None, str | None, str | None]:
    """(scheme, host, port, database, username) of a connection URL."""
    scheme = _scheme_of(url)
    inner = url
    if scheme.startswith("jdbc:"):
        inner = url[5:]
        if scheme == "jdbc:oracle:thin":
            m = re.search(r"@(?://)?([^:/@]+):(\d+)[:/]([\w.$#\-]+)", url)
            if m:
                user = _ORACLE_CREDENTIAL_RE.match(url)
                return (scheme, m.group(1), small_int(m.group(2), lo=PORT[0], hi=PORT[1]), m.group(3),
                        user.group(2) if user else None)
            return scheme, "unknown", None, None, None
    try:
        parts = urlsplit(inner)
        host = parts.hostname or "localhost"
        try:
            port = parts.port
        except ValueError:
            port = None
        username = parts.username
        if username is None and parts.query:
            q = dict(parse_qsl(parts.query))
            username = q.get("user") or q.get("username")
    except ValueError:
        return scheme, "unknown", None, None, None
    if port is None:
        port = DEFAULT_PORTS.get(scheme)
    database = parts.path.lstrip("/").split("/")[0] or None
    if scheme in ("http", "https"):
        database = None
    return scheme, host, port, database, username


class SecretSink:
    """Collects the Secrets and Connections an analyzer finds for one service while redacting."""

    def __init__(self, ctx: Context, analyzer: Analyzer, findings: Findings, service: str | None, *,
                 id_prefix: str | None = None) -> None:
        self.ctx, self.analyzer, self.findings, self.service = ctx, analyzer, findings, service
        self.id_prefix = id_prefix or service or analyzer.name

    def secret(self, value: str, *, key: str, kind: str, redacted: str, path: str) -> Secret:
        base = f"{self.id_prefix}-{key}".lower()
        ident = re.sub(r"[^a-z0-9_.@-]+", "-", base).strip("-")
        existing = {s.id for s in self.findings.secrets}
        n, candidate = 2, ident
        while candidate in existing:
            same = next(s for s in self.findings.secrets if s.id == candidate)
            if same.evidence.path == path and same.key == key and same.redacted == redacted:
                return same
            candidate = f"{ident}-{n}"
            n += 1
        secret = self.ctx.secrets.record(value, id=candidate, kind=kind, redacted=redacted,
                                         evidence=self.analyzer.evidence(path), service=self.service, key=key)
        self.findings.secrets.append(secret)
        return secret

    def url(self, url: str, *, via: str, path: str) -> str:
        """Record a connection URL (and its password); returns the redacted URL."""
        red, password = redact_connection_url(url)
        secret_id = None
        if password:
            secret_id = self.secret(password, key=via, kind="connection-string", redacted=red, path=path).id
        scheme, host, port, database, username = parse_connection(url)
        self.findings.connections.append(Connection(
            from_service=self.service, scheme=scheme, host=host, port=port, database=database, username=username,
            url_redacted=red, via=via, secret_id=secret_id, evidence=self.analyzer.evidence(path)))
        return red

    def value(self, key: str, value: str, *, path: str) -> str:
        """One KEY=VALUE from an environment or config: URLs become connections, secrets are recorded;
        returns the value to keep (redacted)."""
        out = value
        urls = URL_RE.findall(value)
        for url in urls:
            red = self.url(url.rstrip(".,;)"), via=key, path=path)
            out = out.replace(url.rstrip(".,;)"), red)
        if not urls and "MEMCACHE" in key.upper():
            for item in re.split(r"[,\s]+", value.strip()):
                m = HOSTPORT_RE.match(item)
                if m and small_int(m.group(2), lo=PORT[0], hi=PORT[1]):
                    self.findings.connections.append(Connection(
                        from_service=self.service, scheme="memcached", host=m.group(1).strip("[]"),
                        port=int(m.group(2)), url_redacted=item, via=key, evidence=self.analyzer.evidence(path)))
        if looks_secret_key(key) and value and out == value:
            self.secret(value, key=key, kind=secret_kind(key), redacted=REDACTED, path=path)
            return REDACTED
        return out

    def argv(self, argv: list[str], *, path: str) -> list[str]:
        """argv with ``--password=x`` / ``--password x`` / ``-pX`` (mysql-style) and URL passwords redacted."""
        out: list[str] = []
        redact_next: str | None = None
        for arg in argv:
            if redact_next is not None:
                if arg:
                    self.secret(arg, key=redact_next, kind="password", redacted=REDACTED, path=path)
                out.append(REDACTED)
                redact_next = None
                continue
            m = re.match(r"^(--?[\w.-]*(?:pass(?:word|wd)?|secret|token|api[-_]?key|auth)[\w.-]*)(=)(.*)$", arg, re.I)
            if m and m.group(3):
                self.secret(m.group(3), key=m.group(1).lstrip("-"), kind="password", redacted=REDACTED, path=path)
                out.append(m.group(1) + "=" + REDACTED)
                continue
            if re.match(r"^--?[\w.-]*(?:pass(?:word|wd)?|secret|token|api[-_]?key)[\w.-]*$", arg, re.I):
                out.append(arg)
                redact_next = arg.lstrip("-")
                continue
            if re.match(r"^-p\S+$", arg) and out and posixpath.basename(out[0]).startswith(("mysql", "mariadb")):
                self.secret(arg[2:], key="mysql-p", kind="password", redacted=REDACTED, path=path)
                out.append("-p" + REDACTED)
                continue
            m2 = re.match(r"^(-D[\w.]*(?:password|secret|token)[\w.]*=)(.+)$", arg, re.I)
            if m2:
                self.secret(m2.group(2), key=m2.group(1)[2:-1], kind="password", redacted=REDACTED, path=path)
                out.append(m2.group(1) + REDACTED)
                continue
            new = arg
            for url in URL_RE.findall(arg):
                red = self.url(url, via="command line", path=path)
                new = new.replace(url, red)
            out.append(new)
        return out

    def command(self, command: str, *, path: str) -> str:
        """A shell command line (cron, rc.local) with its secrets redacted."""
        try:
            tokens = shlex.split(command, posix=True)
        except ValueError:
            tokens = None
        red = command
        if tokens:
            for before, after in zip(tokens, self.argv(tokens, path=path), strict=True):
                if before != after and before:
                    red = red.replace(before, after)
        for url in URL_RE.findall(red):
            r, password = redact_connection_url(url)
            if password:
                red = red.replace(url, r)
        return red


def secret_kind(key: str) -> str:
    k = key.upper()
    if "TOKEN" in k:
        return "token"
    if "API" in k and "KEY" in k:
        return "api-key"
    if "PRIVATE" in k:
        return "private-key"
    return "password"


def parse_env_file(text: str) -> list[tuple[str, str, int]]:
    """KEY=VALUE lines as systemd's EnvironmentFile= and shells read them: comments, ``export``,
    single and double quotes, backslash continuation. Returns (key, value, line number)."""
    out: list[tuple[str, str, int]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        lineno = i + 1
        line = lines[i]
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + lines[i]
        i += 1
        s = line.strip()
        if not s or s.startswith(("#", ";")):
            continue
        if s.startswith("export "):
            s = s[7:].lstrip()
        if "=" not in s:
            continue
        key, _, raw = s.partition("=")
        key = key.strip()
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", key):
            continue
        raw = raw.strip()
        value = raw
        if raw[:1] in ("'", '"'):
            q = raw[0]
            end = raw.find(q, 1)
            while q == '"' and end > 0 and raw[end - 1] == "\\":
                end = raw.find(q, end + 1)
            value = raw[1:end] if end > 0 else raw[1:]
            if q == '"':
                value = re.sub(r"\\(.)", r"\1", value)
        else:
            value = re.sub(r"\s+#.*$", "", raw)
        out.append((key, value, lineno))
    return out


def _port_number(text: str) -> int | None:
    return small_int(text, lo=PORT[0], hi=PORT[1])


def split_host_port(text: str) -> tuple[str | None, int | None]:
    """'127.0.0.1:80' / '[::1]:80' / '80' / '*:80' / 'host' → (address or None for all, port).
    A port is ASCII digits from 1 to 65535 (``small_int``: ``isdigit`` admits ``²`` and int() refuses it,
    as it refuses 5000 digits: one such line in a guest's config cost the analyzer all its facts)."""
    text = text.strip()
    m = re.match(r"^\[([0-9a-fA-F:.]+)\](?::(\d+))?$", text)
    if m:
        return m.group(1), _port_number(m.group(2)) if m.group(2) else None
    if text.isdecimal():
        return None, _port_number(text)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        addr = None if host in ("*", "", "0.0.0.0") else host
        return addr, _port_number(port)
    if text.count(":") > 1:
        return text, None
    return (None if text in ("*", "0.0.0.0") else text), None
