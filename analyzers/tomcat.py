"""Apache Tomcat: server.xml connectors, hosts and contexts, and JDBC resources (context.xml and
per-application context files) whose URLs become connections and whose passwords become secrets."""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET

from migrate.analyzers._support import (
    SecretSink,
    config_file,
    digits_port,
    enrich,
    persistent_path,
    pick_service,
    read_text,
    unknown,
)
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.errors import GuestPathError
from migrate.model.inventory import Findings, Port

CONF_DIRS = ("/etc/tomcat*", "/opt/tomcat*/conf", "/usr/share/tomcat*/conf", "/opt/apache-tomcat*/conf",
             "/usr/local/tomcat*/conf")


class TomcatAnalyzer(Analyzer):
    name = "tomcat"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        fs = ctx.rootfs
        confs: list[str] = []
        for pattern in CONF_DIRS:
            for d in fs.glob(pattern):
                real = fs.resolve(d) if fs.exists(d) else d
                if fs.is_file(f"{d}/server.xml") and real not in [fs.resolve(c) for c in confs]:
                    confs.append(d)
        if not confs:
            raise NotApplicable("no tomcat server.xml")
        f = Findings()
        for conf in confs:
            base = conf.rstrip("/").split("/")
            flavour = next((p for p in base if p.startswith(("tomcat", "apache-tomcat"))), "tomcat")
            service = pick_service(ctx, [flavour, "tomcat", "tomcat10", "tomcat9", "tomcat8"], flavour)
            sink = SecretSink(ctx, self, f, service)
            catalina_base = posixpath.dirname(conf) if conf.endswith("/conf") else \
                f"/var/lib/{posixpath.basename(conf)}"
            server_xml = f"{conf}/server.xml"
            root = self._xml(ctx, f, server_xml)
            f.configs.append(config_file(ctx, self, server_xml, service=service, kind="tomcat-server.xml"))
            if root is None:
                f.services.append(enrich(ctx, self, service, server_xml, role="tomcat"))
                continue
            for conn in root.iter("Connector"):
                port = digits_port(self, f, conn.get("port", ""), path=server_xml, what="a connector port")
                if port is None:  # ${http.port} and the like: not a number we can read
                    continue
                proto = conn.get("protocol", "HTTP/1.1")
                ssl = conn.get("SSLEnabled", "false").lower() == "true"
                addr = conn.get("address")
                f.ports.append(Port(service=service, port=port, tls=ssl,
                                    address=None if addr in (None, "0.0.0.0", "::") else addr,
                                    evidence=self.evidence(server_xml, f"Connector {proto}" + (" ssl" if ssl else ""))))
            docbases: list[tuple[str, str]] = []
            for host in root.iter("Host"):
                app_base = host.get("appBase", "webapps")
                if not app_base.startswith("/"):
                    app_base = posixpath.join(catalina_base, app_base)
                docbases.append((app_base, f"Host {host.get('name', '')} appBase"))
                for context in host.iter("Context"):
                    if context.get("docBase"):
                        db = context.get("docBase", "")
                        docbases.append((db if db.startswith("/") else posixpath.join(app_base, db),
                                         f"Context {context.get('path', '')} docBase"))
            self._resources(ctx, f, sink, root, server_xml)
            context_files = [f"{conf}/context.xml", *fs.glob(f"{conf}/Catalina/*/*.xml")]
            for path in context_files:
                if not fs.is_file(path):
                    continue
                before = len(f.secrets)
                croot = self._xml(ctx, f, path)
                if croot is not None:
                    self._resources(ctx, f, sink, croot, path)
                    if croot.tag == "Context" and croot.get("docBase"):
                        docbases.append((croot.get("docBase", ""), f"Context {posixpath.basename(path)} docBase"))
                f.configs.append(config_file(ctx, self, path, service=service, kind="tomcat-context",
                                             contains_secrets=len(f.secrets) > before))
            for path, why in docbases:
                pp = persistent_path(ctx, self, path, service=service, kind="webapps",
                                     reason=f"{why} in {server_xml}", evidence_path=server_xml)
                if pp:
                    f.persistent_paths.append(pp)
            record = enrich(ctx, self, service, server_xml, role="tomcat")
            libs = self._base_libs(ctx, f, conf, catalina_base)
            for lib in libs:  # e.g. a JDBC driver linked into CATALINA_BASE/lib: the DataSource needs it
                f.configs.append(config_file(ctx, self, lib, service=service, kind="tomcat-lib"))
            # the whole conf directory is what Catalina reads at start (web.xml, catalina.properties, ...)
            record.uses_files = sorted({p for p, st in self._conf_files(ctx, conf)} | {server_xml}
                                       | {c for c in context_files if fs.is_file(c)} | set(libs))
            f.services.append(record)
        return f

    def _base_libs(self, ctx: Context, f: Findings, conf: str, catalina_base: str) -> list[str]:
        """JARs of CATALINA_BASE that catalina.properties' common.loader puts on the server's class path
        (``${catalina.base}/lib/*.jar``): the VM's own additions, such as a JDBC driver linked there.
        CATALINA_HOME's entries are the package's and come with it."""
        text = read_text(ctx, self, f"{conf}/catalina.properties", f)
        found: list[str] = []
        for line in (text or "").splitlines():
            key, _, value = line.partition("=")
            if key.strip() != "common.loader":
                continue
            for entry in value.split(","):
                entry = entry.strip().strip('"')
                if not entry.startswith("${catalina.base}/") or not entry.endswith("*.jar"):
                    continue
                pattern = catalina_base + entry[len("${catalina.base}"):]
                found += [p for p in ctx.rootfs.glob(pattern)[:200] if ctx.rootfs.exists(p)]
        return sorted(set(found))

    def _conf_files(self, ctx: Context, conf: str):
        try:
            for path, st in ctx.rootfs.walk(conf, max_entries=2000):
                if st.kind == "file":
                    yield path, st
        except GuestPathError:
            return

    def _xml(self, ctx: Context, f: Findings, path: str) -> ET.Element | None:
        text = read_text(ctx, self, path, f)
        if text is None:
            return None
        if "<!ENTITY" in text:
            f.unknowns.append(unknown(self, path, "XML with entity declarations is not parsed"))
            return None
        try:
            return ET.fromstring(text)
        except ET.ParseError as exc:
            f.unknowns.append(unknown(self, path, f"XML does not parse: {exc}"))
            return None

    def _resources(self, ctx: Context, f: Findings, sink: SecretSink, root: ET.Element, path: str) -> None:
        for res in root.iter("Resource"):
            name = res.get("name", "resource")
            url = res.get("url")
            password = res.get("password")
            if url:
                sink.url(url, via=f"jdbc resource {name}", path=path)
            if password:
                sink.secret(password, key=f"{name}.password", kind="password", redacted="****", path=path)
