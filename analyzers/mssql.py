"""SQL Server instances from the SOFTWARE hive.

``Microsoft SQL Server\\Instance Names\\SQL`` maps each instance name to its instance id
(MSSQL15.SQLEXPRESS); under that id, ``Setup`` holds the version, edition and data root, and
``MSSQLServer\\SuperSocketNetLib\\Tcp\\IPAll`` the TCP port(s). The instance runs as the service
MSSQLSERVER (the default instance) or MSSQL$<name>: that service gets the role "mssql" and the ports.
32-bit instances on 64-bit Windows are registered the same way under Wow6432Node.
"""

from __future__ import annotations

from migrate.analyzers._support import PORT, persistent_path, small_int
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.analyzers.windows_hive import Hive, find_path, guest_path_of, readable_hive, windows_guest
from migrate.model.inventory import Findings, Port, Service, SQLServerInstance

ROOTS = ("Microsoft\\Microsoft SQL Server", "Wow6432Node\\Microsoft\\Microsoft SQL Server")
DEFAULT_INSTANCE = "MSSQLSERVER"


def service_name(instance: str) -> str:
    return DEFAULT_INSTANCE if instance.upper() == DEFAULT_INSTANCE else f"MSSQL${instance}"


def tcp_ports(text: str | None) -> list[int]:
    """TcpPort may list several ports, comma-separated; empty means none fixed."""
    out = []
    for part in (text or "").split(","):
        port = small_int(part.strip(), lo=PORT[0], hi=PORT[1])  # isdigit admits "²", int() refuses it
        if port is not None:
            out.append(port)
    return out


class MssqlAnalyzer(Analyzer):
    name = "mssql"
    os_families = ("windows",)
    requires = ("windows_services",)

    def run(self, ctx: Context) -> Findings:
        f = Findings()
        software = readable_hive(ctx, "SOFTWARE", self.name, f, required=True)
        if software is None:
            return f
        with software:
            for root in ROOTS:
                self._instances(ctx, software, root, f)
        if not f.sqlserver_instances:
            raise NotApplicable("no SQL Server instance registered")
        return f

    def _instances(self, ctx: Context, software: Hive, root: str, f: Findings) -> None:
        names = software.key(f"{root}\\Instance Names\\SQL")
        if names is None:
            return
        services = {s.name.upper(): s.name for s in ctx.findings("windows_services").services}
        guest = windows_guest(ctx)
        for instance, ident in names.values():
            if not instance or not isinstance(ident, str) or not ident.strip():
                continue
            ident = ident.strip()
            setup = software.key(f"{root}\\{ident}\\Setup")
            tcp = software.key(f"{root}\\{ident}\\MSSQLServer\\SuperSocketNetLib\\Tcp\\IPAll")
            svc = services.get(service_name(instance).upper())
            where = self.evidence(software.path, f"{names.path} {instance}")
            record = SQLServerInstance(
                name=instance, instance_id=ident, version=setup.text("Version") if setup else None,
                edition=setup.text("Edition") if setup else None, service=svc,
                tcp_ports=tcp_ports(tcp.text("TcpPort")) if tcp else [],
                data_root=setup.text("SQLDataRoot") if setup else None, evidence=where)
            f.sqlserver_instances.append(record)
            if svc is None:
                continue
            f.services.append(Service(name=svc, manager="windows", role="mssql", evidence=[where]))
            for port in record.tcp_ports:
                f.ports.append(Port(service=svc, proto="tcp", port=port,
                                    evidence=self.evidence(software.path, tcp.path if tcp else where.detail)))
            if record.data_root and guest is not None:
                candidate = guest_path_of(record.data_root, guest.systemroot)
                found = find_path(ctx.rootfs, candidate) if candidate else None
                if found is not None:
                    pp = persistent_path(ctx, self, found, service=svc, kind="database", evidence_path=software.path,
                                         reason=f"SQL Server {instance} data root {record.data_root} (Setup "
                                                "SQLDataRoot)")
                    if pp is not None:
                        f.persistent_paths.append(pp)
