"""The Inventory: everything `migrate inspect` found in a guest, each fact with its evidence."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from migrate.model.base import Document, Evidence, Model

OSFamily = Literal["debian", "rhel", "suse", "alpine", "arch", "windows", "unknown"]


class ImageSource(Model):
    """One disk image (or OVA member) the inventory was read from."""

    path: str
    format: str  # qcow2, vmdk, vhd, vhdx, vdi, raw, ova
    variant: str | None = None  # e.g. streamOptimized, monolithicSparse, compressed
    virtual_size: int | None = None
    file_size: int | None = None
    backing_chain: list[str] = Field(default_factory=list)


class DiskSizing(Model):
    name: str
    capacity_bytes: int | None = None
    format: str | None = None


class VMSizing(Model):
    """The VM's allocation, from an OVF descriptor or the images themselves."""

    name: str | None = None
    vcpus: int | None = None
    memory_mib: int | None = None
    disks: list[DiskSizing] = Field(default_factory=list)
    source: str  # "ovf:<file>", "image"
    evidence: Evidence | None = None


class OSInfo(Model):
    family: OSFamily = "unknown"
    distro: str = "unknown"  # os-release ID
    version: str | None = None  # VERSION_ID
    codename: str | None = None
    pretty_name: str | None = None
    kernel_versions: list[str] = Field(default_factory=list)
    arch: str | None = None
    # What libguestfs's inspection reports beside the os-release ID/VERSION_ID above (issue 11), read the
    # way libguestfs reads them: the release files' full version (Debian 5.0.1 -> 5, 0; "Fedora release
    # 14" -> 14, 0) and product name (PRETTY_NAME, DISTRIB_DESCRIPTION or the release file's first line).
    # `version` keeps os-release's VERSION_ID: the planner's base image choice is keyed on it.
    version_major: int | None = None
    version_minor: int | None = None
    product_name: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)


class Filesystem(Model):
    """A filesystem the backend found and mounted (or could not)."""

    device: str  # backend's name: /dev/sda1, /dev/vg0/var, partition index
    fstype: str | None = None
    uuid: str | None = None
    label: str | None = None
    mountpoint: str | None = None
    size: int | None = None


class Package(Model):
    name: str
    version: str
    arch: str | None = None
    manager: Literal["dpkg", "rpm", "apk", "pacman"]
    state: str = "installed"  # dpkg: installed, config-files, half-installed, ...; desired: install/deinstall
    desired: str | None = None
    source: str | None = None
    evidence: Evidence


class User(Model):
    name: str
    uid: int
    gid: int
    home: str | None = None
    shell: str | None = None
    gecos: str | None = None
    system: bool = False
    has_password: bool = False  # a usable hash in /etc/shadow (the hash itself is never kept)
    evidence: Evidence


class Group(Model):
    name: str
    gid: int
    members: list[str] = Field(default_factory=list)
    evidence: Evidence


class ExecCommand(Model):
    """One Exec*= command line as systemd would run it: specifiers and environment variables expanded
    the way systemd expands them, with the line as written kept beside it as evidence."""

    argv: list[str]  # secrets redacted
    prefixes: str = ""  # systemd's special prefixes as written: - @ + ! !! :
    raw: str  # the value as written in the unit (secrets redacted)


class UnitDirectory(Model):
    """A directory systemd creates for a service (RuntimeDirectory=, StateDirectory=, CacheDirectory=,
    LogsDirectory=, ConfigurationDirectory=), owned by the service's user, with its mode."""

    kind: Literal["runtime", "state", "cache", "logs", "configuration"]
    path: str  # absolute guest path, e.g. /run/mysqld
    mode: int = 0o755  # RuntimeDirectoryMode= & co. (systemd's default 0755)
    evidence: Evidence


class LoadedModule(Model):
    """A module the service's enabled configuration loads, with the file it names: an Apache LoadModule
    .so, an nginx load_module .so, a PHP extension= shared object."""

    kind: Literal["apache", "nginx", "php"]
    name: str  # ssl_module, ngx_http_echo_module, mysqli
    path: str | None = None  # the guest file it loads (None when it cannot be located)
    evidence: Evidence


# the Start value of a Windows service key (0-4), by the names services.msc uses
WindowsStartType = Literal["boot", "system", "automatic", "manual", "disabled", "unknown"]

ServiceState = Literal["enabled", "disabled", "masked", "static", "indirect", "generated", "running-at-boot",
                       "unknown"]


class Service(Model):
    """Something that runs: a systemd unit, a SysV script, an rc.local command."""

    name: str  # unit name without .service, or script name
    manager: Literal["systemd", "sysv", "rc.local", "openrc", "windows", "other"]
    unit_path: str | None = None
    state: ServiceState = "unknown"
    description: str | None = None
    role: str | None = None  # application analyzer's name: nginx, postgresql, redis, app, sshd ...
    exec_start: list[str] = Field(default_factory=list)  # argv of the main process, as systemd would run it
    exec_start_raw: str | None = None  # ExecStart= as written in the unit (secrets redacted)
    exec_prefixes: str | None = None  # ExecStart= prefixes (- @ + ! !! :)
    executable: str | None = None  # the program that ends up running: argv[0], or what `sh -c "... exec X"` execs
    exec_start_pre: list[ExecCommand] = Field(default_factory=list)
    exec_start_post: list[ExecCommand] = Field(default_factory=list)
    directories: list[UnitDirectory] = Field(default_factory=list)  # RuntimeDirectory= & co.
    modules: list[LoadedModule] = Field(default_factory=list)  # modules its enabled configuration loads
    # every guest file the service's enabled configuration uses: the config files read (after conditions and
    # includes) and the files they load (module .so files, PHP ini files and extensions); for package closure
    uses_files: list[str] = Field(default_factory=list)
    user: str | None = None
    group: str | None = None
    uid: int | None = None
    gid: int | None = None
    working_directory: str | None = None
    environment: dict[str, str] = Field(default_factory=dict)  # secret values replaced by redactions
    environment_files: list[str] = Field(default_factory=list)
    after: list[str] = Field(default_factory=list)
    requires: list[str] = Field(default_factory=list)
    wants: list[str] = Field(default_factory=list)
    socket_units: list[str] = Field(default_factory=list)  # socket activation
    template: str | None = None  # foo@.service for foo@bar
    instances: list[str] = Field(default_factory=list)
    unit_type: str | None = None  # Type=
    interpreter: str | None = None  # application services: python3, java, node, php ...
    script: str | None = None
    virtualenv: str | None = None
    vm_only: bool = False
    vm_only_reason: str | None = None
    windows_start: WindowsStartType | None = None  # Windows services: the registry's Start value, named
    evidence: list[Evidence] = Field(default_factory=list)


class Port(Model):
    service: str | None
    proto: Literal["tcp", "udp", "unix"] = "tcp"
    port: int | None = None
    address: str | None = None  # bind address; None = all
    path: str | None = None  # unix socket path
    tls: bool = False  # the listener speaks TLS (nginx `listen ... ssl`, Apache Listen 443 https / SSLEngine)
    evidence: Evidence


class ConfigFile(Model):
    path: str
    service: str | None = None
    kind: str | None = None  # nginx-site, postgresql.conf, env-file, unit ...
    size: int | None = None
    sha256: str | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    contains_secrets: bool = False
    from_package: str | None = None
    modified_from_package: bool | None = None
    evidence: Evidence


class Secret(Model):
    """A credential found in the guest. The value is never stored; ``value_ref`` ties together
    places that hold the same value (secret-1, secret-2 ...)."""

    id: str  # stable name: <service>-<key>
    kind: str  # password, connection-string, requirepass, api-key, private-key, password-hash
    service: str | None = None
    key: str | None = None  # DATABASE_URL, requirepass, ...
    redacted: str  # e.g. postgresql://shop:****@localhost:5432/shop
    value_ref: str = ""
    length: int | None = None
    evidence: Evidence


class ScheduledJob(Model):
    source: Literal["crontab", "cron.d", "user-crontab", "cron-periodic", "systemd-timer", "anacron", "at"]
    schedule: str
    command: str
    user: str | None = None
    unit: str | None = None
    enabled: bool = True
    evidence: Evidence


class Mount(Model):
    spec: str  # UUID=..., LABEL=..., /dev/mapper/..., tmpfs
    mountpoint: str
    fstype: str
    options: list[str] = Field(default_factory=list)
    dump: int = 0
    passno: int = 0
    resolved_device: str | None = None
    mounted: bool = False
    evidence: Evidence


class HostEntry(Model):
    address: str
    names: list[str]


class InterfaceAddress(Model):
    """An address the guest's network configuration gives one of its interfaces (ifupdown, netplan,
    systemd-networkd, NetworkManager keyfile, RHEL ifcfg). ``method`` "dhcp" has no address: the guest
    asks for one at boot. ``evidence.detail`` is the line ("line 12") the address was read from."""

    interface: str | None = None  # as the file names it: eth0, "eth0 ens3" (a networkd Name= list), nm:office
    method: Literal["static", "dhcp"] = "static"
    address: str | None = None  # normalised IP (10.0.0.5, fd00::5)
    prefixlen: int | None = None
    evidence: Evidence


class NetworkIdentity(Model):
    hostname: str | None = None
    hosts: list[HostEntry] = Field(default_factory=list)
    interfaces: list[str] = Field(default_factory=list)
    addresses: list[InterfaceAddress] = Field(default_factory=list)
    nameservers: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)


class PersistentPath(Model):
    path: str
    service: str | None = None
    kind: str = "data"  # database, data, logs, uploads, spool, home
    reason: str
    size_bytes: int | None = None
    file_count: int | None = None
    uid: int | None = None
    gid: int | None = None
    mode: int | None = None
    evidence: Evidence


class Connection(Model):
    """A client-to-server link found in configuration: a graph edge waiting to happen."""

    from_service: str | None
    scheme: str  # postgresql, redis, http, mysql, jdbc:postgresql, memcached, amqp ...
    host: str
    port: int | None = None
    database: str | None = None
    username: str | None = None
    url_redacted: str
    via: str | None = None  # DATABASE_URL, proxy_pass, upstream shop, jdbc resource
    secret_id: str | None = None
    # the client reaches the server through this Unix socket (MySQL/MariaDB clients given the host
    # "localhost" use the socket, not TCP); the stack must share it or the client cannot connect
    unix_socket: str | None = None
    evidence: Evidence


class WindowsInfo(Model):
    """Where a Windows guest keeps its system and which registry control set is live. The facts come
    from the SYSTEM and SOFTWARE hives under ``systemroot``; the path of each is in ``evidence``."""

    systemroot: str  # guest path of %SystemRoot% on the system volume, e.g. /Windows
    current_control_set: str | None = None  # SYSTEM\Select\Current -> ControlSet001
    product_name: str | None = None  # SOFTWARE\Microsoft\Windows NT\CurrentVersion ProductName
    edition: str | None = None  # EditionID
    installation_type: str | None = None  # Client, Server, Server Core
    build: str | None = None  # CurrentBuild
    domain: str | None = None  # Tcpip\\Parameters Domain: the DNS domain the host name belongs to
    drivers: int = 0  # kernel and file-system driver keys under Services (not listed as services)
    evidence: list[Evidence] = Field(default_factory=list)


class WindowsProgram(Model):
    """An installed program as Programs and Features lists it: one subkey of SOFTWARE's Uninstall key."""

    name: str  # the Uninstall subkey (a product code or a name)
    display_name: str | None = None
    version: str | None = None
    publisher: str | None = None
    install_location: str | None = None  # as written (a Windows path)
    url: str | None = None  # URLInfoAbout
    description: str | None = None  # Comments
    wow64: bool = False  # listed under Wow6432Node: a 32-bit program on 64-bit Windows
    evidence: Evidence


class IISBinding(Model):
    """One <binding> of an IIS site: bindingInformation is address:port:host."""

    protocol: str  # http, https, net.tcp ...
    address: str | None = None  # None: all addresses (*)
    port: int | None = None
    host: str | None = None  # the host header; None: any
    information: str  # bindingInformation as written


class IISSite(Model):
    """A site of IIS's applicationHost.config with its bindings and the folder its root application serves."""

    name: str
    id: int | None = None
    bindings: list[IISBinding] = Field(default_factory=list)
    physical_path: str | None = None  # the root virtual directory's physicalPath, as written
    guest_path: str | None = None  # the same folder as a guest path, when it lies on the system volume
    applications: list[str] = Field(default_factory=list)  # application paths: /, /api ...
    evidence: Evidence


class SQLServerInstance(Model):
    r"""A SQL Server instance registered under SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names\SQL."""

    name: str  # MSSQLSERVER (the default instance), SQLEXPRESS ...
    instance_id: str  # MSSQL15.SQLEXPRESS: the key that holds its settings
    version: str | None = None
    edition: str | None = None
    tcp_ports: list[int] = Field(default_factory=list)  # SuperSocketNetLib\Tcp\IPAll TcpPort
    service: str | None = None  # its Windows service: MSSQLSERVER, MSSQL$NAME
    data_root: str | None = None  # Setup SQLDataRoot, as written
    evidence: Evidence


class Unknown(Model):
    """Something an analyzer could not make sense of: kept, never silently dropped."""

    analyzer: str
    path: str | None = None
    message: str


class AnalyzerRun(Model):
    name: str
    status: Literal["ok", "not-applicable", "failed", "skipped"]
    seconds: float = 0.0
    findings: int = 0


class Findings(Model):
    """What one analyzer returns; the runner merges these into the Inventory."""

    os: OSInfo | None = None
    packages: list[Package] = Field(default_factory=list)
    users: list[User] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    ports: list[Port] = Field(default_factory=list)
    configs: list[ConfigFile] = Field(default_factory=list)
    secrets: list[Secret] = Field(default_factory=list)
    jobs: list[ScheduledJob] = Field(default_factory=list)
    mounts: list[Mount] = Field(default_factory=list)
    network: NetworkIdentity | None = None
    persistent_paths: list[PersistentPath] = Field(default_factory=list)
    connections: list[Connection] = Field(default_factory=list)
    unknowns: list[Unknown] = Field(default_factory=list)
    windows: WindowsInfo | None = None
    windows_programs: list[WindowsProgram] = Field(default_factory=list)
    iis_sites: list[IISSite] = Field(default_factory=list)
    sqlserver_instances: list[SQLServerInstance] = Field(default_factory=list)

    def count(self) -> int:
        return (
            (1 if self.os else 0)
            + (1 if self.network else 0)
            + (1 if self.windows else 0)
            + sum(len(getattr(self, f)) for f in LIST_FIELDS)
        )


LIST_FIELDS = ("packages", "users", "groups", "services", "ports", "configs", "secrets", "jobs", "mounts",
               "persistent_paths", "connections", "unknowns", "windows_programs", "iis_sites",
               "sqlserver_instances")


class Inventory(Document):
    KIND = "inventory"
    # 2: Service.exec_start_raw/exec_prefixes/executable/exec_start_pre/exec_start_post/directories/modules/
    #    uses_files, Port.tls, Connection.unix_socket (all additive: version-1 documents still load)
    #    later, also additive: Service.windows_start, windows, windows_programs, iis_sites, sqlserver_instances
    SCHEMA_VERSION = 2

    name: str  # the VM's name (OVF name, else the first image's stem)
    backend: str
    images: list[ImageSource] = Field(default_factory=list)
    sizing: VMSizing | None = None
    filesystems: list[Filesystem] = Field(default_factory=list)
    os: OSInfo = Field(default_factory=OSInfo)
    network: NetworkIdentity = Field(default_factory=NetworkIdentity)
    packages: list[Package] = Field(default_factory=list)
    users: list[User] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    ports: list[Port] = Field(default_factory=list)
    configs: list[ConfigFile] = Field(default_factory=list)
    secrets: list[Secret] = Field(default_factory=list)
    jobs: list[ScheduledJob] = Field(default_factory=list)
    mounts: list[Mount] = Field(default_factory=list)
    persistent_paths: list[PersistentPath] = Field(default_factory=list)
    connections: list[Connection] = Field(default_factory=list)
    unknowns: list[Unknown] = Field(default_factory=list)
    analyzers: list[AnalyzerRun] = Field(default_factory=list)
    # Windows guests (additive, empty for every other family)
    windows: WindowsInfo | None = None
    windows_programs: list[WindowsProgram] = Field(default_factory=list)
    iis_sites: list[IISSite] = Field(default_factory=list)
    sqlserver_instances: list[SQLServerInstance] = Field(default_factory=list)

    def canonical(self) -> Inventory:
        data = self.model_copy(deep=True)
        data.packages.sort(key=lambda p: (p.manager, p.name, p.arch or "", p.version))
        data.users.sort(key=lambda u: (u.uid, u.name))
        data.groups.sort(key=lambda g: (g.gid, g.name))
        data.services.sort(key=lambda s: (s.name, s.manager))
        for svc in data.services:
            svc.uses_files = sorted(set(svc.uses_files))
            svc.modules.sort(key=lambda m: (m.kind, m.name, m.path or ""))
            svc.directories.sort(key=lambda d: (d.kind, d.path))
        data.ports.sort(key=lambda p: (p.service or "", p.proto, p.port or 0, p.address or "", p.path or ""))
        data.configs.sort(key=lambda c: (c.path, c.service or ""))
        data.secrets.sort(key=lambda s: (s.id, s.evidence.path))
        data.jobs.sort(key=lambda j: (j.evidence.path, j.schedule, j.command))
        data.mounts.sort(key=lambda m: (m.mountpoint, m.spec))
        data.persistent_paths.sort(key=lambda p: (p.path, p.service or ""))
        data.connections.sort(key=lambda c: (c.from_service or "", c.scheme, c.host, c.port or 0, c.via or ""))
        data.unknowns.sort(key=lambda u: (u.analyzer, u.path or "", u.message))
        data.filesystems.sort(key=lambda f: (f.mountpoint or "~", f.device))
        data.analyzers.sort(key=lambda a: a.name)
        data.windows_programs.sort(key=lambda p: (p.wow64, p.name.lower(), p.name))
        data.iis_sites.sort(key=lambda s: (s.id or 0, s.name))
        data.sqlserver_instances.sort(key=lambda i: i.name)
        return data

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)
