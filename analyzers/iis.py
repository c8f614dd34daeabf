"""IIS sites from %SystemRoot%\\System32\\inetsrv\\config\\applicationHost.config.

The file is XML (parsed with defusedxml: no entities, no external references, a size cap). Each
<site> gives its name and id, its <binding>s (protocol and bindingInformation, which is
``address:port:host`` for http/https) and the physicalPath of its root application's root virtual
directory, the folder the site serves. IIS runs as the W3SVC service (with WAS): the service gets the
role "iis", the bindings become its ports, each site's folder a web root.

Each application folder's web.config is read for its <connectionStrings> (ADO.NET ``key=value;``
strings): each becomes a connection of W3SVC (SQL Server, PostgreSQL, MySQL by providerName), the
password a secret, never kept in clear.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET

from migrate.analyzers._support import (
    DEFAULT_PORTS,
    PORT,
    SecretSink,
    config_file,
    persistent_path,
    read_text,
    small_int,
)
from migrate.analyzers.base import REDACTED, Analyzer, Context, NotApplicable
from migrate.analyzers.windows_hive import find_path, guest_path_of, windows_guest
from migrate.model.inventory import Connection, Findings, IISBinding, IISSite, Port, Service, Unknown

CONFIG = "System32/inetsrv/config/applicationHost.config"
SERVICE = "W3SVC"  # the World Wide Web Publishing Service hosts every site
MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_SITES = 10_000
MAX_CONNECTION_STRING = 64 * 1024  # ADO.NET strings are a few hundred bytes
_BINDING = re.compile(r"^(?P<address>\[[^\]]*\]|[^:]*):(?P<port>\d{1,5}):(?P<host>.*)$")


def parse_binding(protocol: str, information: str) -> IISBinding:
    """``*:80:shop.example`` -> address None (all), port 80, host shop.example; other protocols
    (net.tcp ``808:*``) keep the first number as the port."""
    m = _BINDING.match(information.strip())
    if m and protocol.lower() in ("http", "https", "ftp"):
        address = m.group("address").strip("[]")
        port = int(m.group("port"))
        return IISBinding(protocol=protocol, address=None if address in ("", "*") else address,
                          port=port if 0 < port < 65536 else None, host=m.group("host") or None,
                          information=information)
    num = re.search(r"\d{1,5}", information)
    port = int(num.group(0)) if num else None
    return IISBinding(protocol=protocol, port=port if port and port < 65536 else None, information=information)


_PAIR = re.compile(r"""\s*([^=;]+?)\s*=\s*("(?:[^"]|"")*"|'(?:[^']|'')*'|[^;]*)\s*(?:;|$)""")
HOST_KEYS = ("server", "data source", "address", "addr", "network address", "host")
DATABASE_KEYS = ("database", "initial catalog")
USER_KEYS = ("user id", "uid", "user", "username", "user name")
PASSWORD_KEYS = ("password", "pwd")
# providerName -> connection scheme; .NET's default provider (no providerName) is SqlClient
PROVIDERS = (("npgsql", "postgresql"), ("mysql", "mysql"), ("oracle", "oracle"), ("sqlclient", "mssql"))


def parse_connection_string(text: str) -> list[tuple[str, str]]:
    """ADO.NET ``key=value;`` pairs (values may be quoted, quotes doubled inside), keys as written.

    Matched pair after pair from where the last one ended; where no pair starts, the text up to the
    next ``;`` is skipped. (``finditer`` retried the lazy key at every position: a 20 KB string
    without ``=`` took 17 s, the 16 MiB a web.config may hold would take days.)"""
    out = []
    pos = 0
    while pos < len(text):
        m = _PAIR.match(text, pos)
        if m is None or m.end() == pos:
            nxt = text.find(";", pos)
            if nxt < 0:
                break
            pos = nxt + 1
            continue
        pos = m.end()
        value = m.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace(value[0] * 2, value[0])
        out.append((m.group(1).strip(), value))
    return out


def _server(value: str) -> tuple[str, int | None, str | None]:
    """``tcp:db01,1433`` -> (db01, 1433, None); ``db01\\SQLEXPRESS`` -> (db01, None, SQLEXPRESS)."""
    value = re.sub(r"^(tcp|np|lpc):", "", value.strip(), flags=re.I)
    host, _, port = value.partition(",")
    host, _, instance = host.partition("\\")
    if host in (".", "(local)", "(localdb)"):
        host = "localhost"
    return host.strip(), _port(port), instance or None


def _port(text: str) -> int | None:
    """A TCP port from guest text, or None (``isdigit`` alone admits ``²``, which int() refuses)."""
    return small_int(text.strip(), lo=PORT[0], hi=PORT[1])


def _root_directory(site: Element) -> str | None:
    for app in site.findall("application"):
        if app.get("path", "/") != "/":
            continue
        for vdir in app.findall("virtualDirectory"):
            if vdir.get("path", "/") == "/":
                return vdir.get("physicalPath")
    return None


class IISAnalyzer(Analyzer):
    name = "iis"
    os_families = ("windows",)
    requires = ("windows_services",)

    def run(self, ctx: Context) -> Findings:
        guest = windows_guest(ctx)
        path = find_path(ctx.rootfs, f"{guest.systemroot}/{CONFIG}") if guest else None
        if guest is None or path is None or not ctx.rootfs.is_file(path):
            raise NotApplicable("no IIS applicationHost.config")
        f = Findings()
        text = read_text(ctx, self, path, f, max_bytes=MAX_CONFIG_BYTES)
        if text is None:
            return f
        try:
            root = SafeET.fromstring(text.encode("utf-8"))
        except Exception as exc:  # noqa: BLE001 - ParseError and defusedxml's refusals alike
            f.unknowns.append(Unknown(analyzer=self.name, path=path,
                                      message=f"not well-formed XML or refused ({type(exc).__name__})"))
            return f
        f.configs.append(config_file(ctx, self, path, service=SERVICE, kind="iis-applicationhost", content=text))
        sites = root.findall("./system.applicationHost/sites/site")
        if len(sites) > MAX_SITES:
            f.unknowns.append(Unknown(analyzer=self.name, path=path,
                                      message=f"{len(sites)} sites; only the first {MAX_SITES} read"))
        for site in sites[:MAX_SITES]:
            f.iis_sites.append(self._site(ctx, site, path, guest.systemroot, f))
        running = any(s.name == SERVICE for s in ctx.findings("windows_services").services)
        sink = SecretSink(ctx, self, f, SERVICE if running else None, id_prefix=SERVICE)
        for site in sites[:MAX_SITES]:
            for vdir in site.findall("./application/virtualDirectory"):
                folder = guest_path_of(vdir.get("physicalPath") or "", guest.systemroot)
                web_config = find_path(ctx.rootfs, f"{folder}/web.config") if folder else None
                if web_config and ctx.rootfs.is_file(web_config):
                    self._web_config(ctx, web_config, sink, f)
        if running:
            f.services.append(Service(name=SERVICE, manager="windows", role="iis", uses_files=[path],
                                      evidence=[self.evidence(path)]))
        seen: set[tuple[str, int | None, str | None]] = set()
        for site in f.iis_sites:
            for b in site.bindings:
                if b.port is None or (b.protocol, b.port, b.address) in seen:
                    continue
                seen.add((b.protocol, b.port, b.address))
                f.ports.append(Port(service=SERVICE if running else None, proto="tcp", port=b.port,
                                    address=b.address, tls=b.protocol.lower() == "https",
                                    evidence=self.evidence(path, f"site {site.name}: {b.protocol} {b.information}")))
        return f

    def _web_config(self, ctx: Context, path: str, sink: SecretSink, f: Findings) -> None:
        if any(c.path == path for c in f.configs):
            return
        text = read_text(ctx, self, path, f, max_bytes=MAX_CONFIG_BYTES)
        if text is None:
            return
        try:
            root = SafeET.fromstring(text.encode("utf-8"))
        except Exception as exc:  # noqa: BLE001 - ParseError and defusedxml's refusals alike
            f.unknowns.append(Unknown(analyzer=self.name, path=path,
                                      message=f"not well-formed XML or refused ({type(exc).__name__})"))
            return
        found = False
        for add in root.findall("./connectionStrings/add"):
            name, value = add.get("name") or "connection", add.get("connectionString") or ""
            if len(value) > MAX_CONNECTION_STRING:
                f.unknowns.append(Unknown(analyzer=self.name, path=path, message=(
                    f"a connection string of {len(value)} characters (over {MAX_CONNECTION_STRING}): not read")))
                continue
            provider = (add.get("providerName") or "System.Data.SqlClient").lower()
            pairs = parse_connection_string(value)
            keys = {k.lower(): v for k, v in pairs}
            server = next((keys[k] for k in HOST_KEYS if keys.get(k)), None)
            if server is None:
                continue
            found = True
            scheme = next((sch for needle, sch in PROVIDERS if needle in provider), "mssql")
            host, port, instance = _server(server)
            if port is None:
                port = _port(keys.get("port", ""))
            password = next((keys[k] for k in PASSWORD_KEYS if keys.get(k)), None)
            redacted = ";".join(f"{k}={REDACTED if k.lower() in PASSWORD_KEYS else v}" for k, v in pairs)
            secret_id = None
            if password:
                secret_id = sink.secret(password, key=name, kind="connection-string", redacted=redacted, path=path).id
            f.connections.append(Connection(
                from_service=sink.service, scheme=scheme, host=host,
                port=port if port or instance else DEFAULT_PORTS.get(scheme), url_redacted=redacted,
                database=next((keys[k] for k in DATABASE_KEYS if keys.get(k)), None),
                username=next((keys[k] for k in USER_KEYS if keys.get(k)), None),
                via=f"web.config connectionStrings {name}", secret_id=secret_id, evidence=self.evidence(path)))
        f.configs.append(config_file(ctx, self, path, service=SERVICE, kind="web.config", content=text,
                                     contains_secrets=found and any(s.evidence.path == path for s in f.secrets)))

    def _site(self, ctx: Context, site: Element, path: str, systemroot: str, f: Findings) -> IISSite:
        name = site.get("name", "")
        ident = site.get("id", "")
        bindings = [parse_binding(b.get("protocol", ""), b.get("bindingInformation", ""))
                    for b in site.findall("./bindings/binding")]
        physical = _root_directory(site)
        guest_dir = None
        if physical:
            candidate = guest_path_of(physical, systemroot)
            guest_dir = find_path(ctx.rootfs, candidate) if candidate else None
            if guest_dir is not None:
                pp = persistent_path(ctx, self, guest_dir, service=SERVICE, kind="webroot", evidence_path=path,
                                     reason=f"IIS site {name!r} serves {physical} (applicationHost.config)")
                if pp is not None:
                    f.persistent_paths.append(pp)
        return IISSite(name=name, id=int(ident) if ident.isdecimal() and len(ident) <= 9 else None, bindings=bindings,
                       physical_path=physical, guest_path=guest_dir,
                       applications=[a.get("path", "/") for a in site.findall("application")],
                       evidence=self.evidence(path, f"site {name}"))
