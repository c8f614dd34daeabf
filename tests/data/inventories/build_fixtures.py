# ruff: noqa: E501  (fixture data reads better one record per line)
"""Writes the hand-made fixture inventories next to this file: ``python tests/data/inventories/build_fixtures.py``.

Only for the families no real image can be built for here: the Rocky 9, openSUSE Leap 15.5 and Alpine
3.19 inventories use the package names, versions, paths and users those distributions ship, but no
mirror for RPM or apk packages is reachable from this machine, so generation for those families is
checked only against these hand-made inventories (docs/testing.md). The Debian flagship fixture is the
real VM's inventory, written by ``capture.py``. Secret values never appear: inventories only hold
redactions, exactly like `migrate inspect` writes them.
"""

from __future__ import annotations

from pathlib import Path

from migrate.model.base import Evidence
from migrate.model.inventory import (
    ConfigFile,
    Connection,
    Filesystem,
    HostEntry,
    Inventory,
    Mount,
    NetworkIdentity,
    OSInfo,
    Package,
    PersistentPath,
    Port,
    ScheduledJob,
    Secret,
    Service,
    User,
    VMSizing,
)

HERE = Path(__file__).parent


def ev(analyzer: str, path: str, detail: str | None = None) -> Evidence:
    return Evidence(analyzer=analyzer, path=path, detail=detail)


def pkgs(manager: str, db: str, items: dict[str, str]) -> list[Package]:
    return [Package(name=n, version=v, manager=manager, arch="amd64" if manager == "dpkg" else "x86_64",
                    evidence=ev("packages", db)) for n, v in items.items()]


def users(items: list[tuple[str, int, int, str, str]]) -> list[User]:
    return [User(name=n, uid=u, gid=g, home=h, shell=s, system=u < 1000 and u != 0,
                 evidence=ev("users", "/etc/passwd")) for n, u, g, h, s in items]


def rocky9() -> Inventory:
    unit = "/usr/lib/systemd/system"
    return Inventory(
        name="billing-vm", backend="fixture",
        sizing=VMSizing(name="billing-vm", vcpus=2, memory_mib=4096, source="image"),
        os=OSInfo(family="rhel", distro="rocky", version="9.3", pretty_name="Rocky Linux 9.3 (Blue Onyx)",
                  evidence=[ev("os-release", "/etc/os-release")]),
        network=NetworkIdentity(hostname="billing-vm.corp.example", hosts=[
            HostEntry(address="127.0.0.1", names=["localhost", "localhost.localdomain"]),
            HostEntry(address="10.20.0.15", names=["billing-vm.corp.example", "billing-vm"])]),
        packages=pkgs("rpm", "/var/lib/rpm/rpmdb.sqlite", {
            "nginx": "1:1.20.1-14.el9_2.1", "nginx-core": "1:1.20.1-14.el9_2.1",
            "postgresql-server": "13.11-1.el9", "postgresql": "13.11-1.el9", "python3": "3.9.18-1.el9_3",
            "python3-psycopg2": "2.8.6-6.el9", "curl": "7.76.1-26.el9", "openssh-server": "8.7p1-34.el9",
            "chrony": "4.3-1.el9", "kmod-wireguard": "1.0.20210606-3.el9"}),
        users=users([("root", 0, 0, "/root", "/bin/bash"), ("postgres", 26, 26, "/var/lib/pgsql", "/bin/bash"),
                     ("nginx", 991, 991, "/var/lib/nginx", "/sbin/nologin"),
                     ("billing", 1001, 1001, "/srv/billing", "/sbin/nologin")]),
        services=[
            Service(name="nginx", manager="systemd", state="enabled", role="nginx",
                    exec_start=["/usr/sbin/nginx"], unit_type="forking", evidence=[ev("systemd", f"{unit}/nginx.service")]),
            Service(name="postgresql", manager="systemd", state="enabled", role="postgresql",
                    exec_start=["/usr/bin/postmaster", "-D", "/var/lib/pgsql/data"], user="postgres", group="postgres",
                    uid=26, gid=26, unit_type="notify", after=["network.target"],
                    evidence=[ev("systemd", f"{unit}/postgresql.service")]),
            Service(name="billing", manager="systemd", state="enabled", role="app",
                    exec_start=["/usr/bin/python3", "/srv/billing/server.py", "--port", "8000"], user="billing",
                    group="billing", uid=1001, gid=1001, working_directory="/srv/billing", interpreter="python3",
                    script="/srv/billing/server.py",
                    environment={"PGHOST": "localhost", "PGDATABASE": "billing", "PGUSER": "billing",
                                 "PGPASSWORD": "****", "SMTP_RELAY": "relay.corp.example:25"},
                    after=["postgresql.service"], requires=["postgresql.service"],
                    evidence=[ev("systemd", "/etc/systemd/system/billing.service")]),
            Service(name="sshd", manager="systemd", state="enabled", role="sshd", exec_start=["/usr/sbin/sshd", "-D"],
                    vm_only=True, vm_only_reason="remote login to the VM", evidence=[ev("systemd", f"{unit}/sshd.service")]),
            Service(name="chronyd", manager="systemd", state="enabled", exec_start=["/usr/sbin/chronyd"],
                    vm_only=True, vm_only_reason="time synchronisation belongs to the host",
                    evidence=[ev("systemd", f"{unit}/chronyd.service")]),
        ],
        ports=[
            Port(service="nginx", port=80, evidence=ev("nginx", "/etc/nginx/conf.d/billing.conf")),
            Port(service="postgresql", port=5432, address="127.0.0.1",
                 evidence=ev("postgresql", "/var/lib/pgsql/data/postgresql.conf")),
            Port(service="billing", port=8000, address="10.20.0.15", evidence=ev("app", "/srv/billing/server.py")),
        ],
        configs=[
            ConfigFile(path="/etc/nginx/conf.d/billing.conf", service="nginx", kind="nginx-site",
                       evidence=ev("nginx", "/etc/nginx/conf.d/billing.conf")),
            ConfigFile(path="/var/lib/pgsql/data/postgresql.conf", service="postgresql", kind="postgresql.conf",
                       uid=26, gid=26, mode=0o600, evidence=ev("postgresql", "/var/lib/pgsql/data/postgresql.conf")),
            ConfigFile(path="/etc/modules-load.d/wireguard.conf", kind="modules-load",
                       evidence=ev("kernel", "/etc/modules-load.d/wireguard.conf")),
        ],
        secrets=[Secret(id="billing-PGPASSWORD", kind="password", service="billing", key="PGPASSWORD",
                        redacted="****", value_ref="secret-1", evidence=ev("systemd", "/etc/systemd/system/billing.service"))],
        jobs=[ScheduledJob(source="systemd-timer", schedule="OnCalendar=daily", command="/srv/billing/invoice-run.sh",
                           user="billing", unit="billing-invoices.timer",
                           evidence=ev("systemd", "/etc/systemd/system/billing-invoices.timer"))],
        mounts=[Mount(spec="/dev/mapper/rl-root", mountpoint="/", fstype="xfs", mounted=True,
                      evidence=ev("fstab", "/etc/fstab"))],
        persistent_paths=[
            PersistentPath(path="/var/lib/pgsql/data", service="postgresql", kind="database",
                           reason="PostgreSQL PGDATA", uid=26, gid=26, mode=0o700,
                           evidence=ev("postgresql", "/usr/lib/systemd/system/postgresql.service"))],
        connections=[
            Connection(from_service="billing", scheme="postgresql", host="localhost", port=5432, database="billing",
                       username="billing", url_redacted="host=localhost dbname=billing user=billing password=****",
                       via="PGHOST", secret_id="billing-PGPASSWORD",
                       evidence=ev("systemd", "/etc/systemd/system/billing.service")),
            Connection(from_service="billing", scheme="smtp", host="relay.corp.example", port=25,
                       url_redacted="relay.corp.example:25", via="SMTP_RELAY",
                       evidence=ev("systemd", "/etc/systemd/system/billing.service")),
            Connection(from_service="nginx", scheme="http", host="billing-vm", port=8000,
                       url_redacted="http://billing-vm:8000", via="proxy_pass",
                       evidence=ev("nginx", "/etc/nginx/conf.d/billing.conf")),
        ],
    )


def leap15() -> Inventory:
    unit = "/usr/lib/systemd/system"
    return Inventory(
        name="wiki-vm", backend="fixture",
        sizing=VMSizing(vcpus=2, memory_mib=2048, source="image"),
        os=OSInfo(family="suse", distro="opensuse-leap", version="15.5", pretty_name="openSUSE Leap 15.5"),
        network=NetworkIdentity(hostname="wiki-vm", hosts=[HostEntry(address="127.0.0.1", names=["localhost"])]),
        packages=pkgs("rpm", "/usr/lib/sysimage/rpm/Packages.db", {
            "nginx": "1.21.5-150400.3.3.1", "redis7": "7.0.8-150500.1.3", "nodejs18": "18.18.2-150400.9.15.1",
            "curl": "8.0.1-150400.5.32.1", "openssh-server": "9.1p2-150500.1.1"}),
        users=users([("root", 0, 0, "/root", "/bin/bash"), ("redis", 474, 474, "/var/lib/redis", "/sbin/nologin"),
                     ("wiki", 480, 480, "/srv/wiki", "/sbin/nologin")]),
        services=[
            Service(name="nginx", manager="systemd", state="enabled", role="nginx", exec_start=["/usr/sbin/nginx"],
                    evidence=[ev("systemd", f"{unit}/nginx.service")]),
            Service(name="redis@wiki", manager="systemd", state="enabled", role="redis", template="redis@.service",
                    exec_start=["/usr/sbin/redis-server", "/etc/redis/wiki.conf"], user="redis", group="redis",
                    uid=474, gid=474, evidence=[ev("systemd", f"{unit}/redis@.service")]),
            Service(name="wiki", manager="systemd", state="enabled", role="app", interpreter="node",
                    exec_start=["/usr/bin/node", "/srv/wiki/server.js"], user="wiki", group="wiki", uid=480, gid=480,
                    working_directory="/srv/wiki", script="/srv/wiki/server.js",
                    environment={"REDIS_URL": "redis://localhost:6379", "PORT": "3000"},
                    after=["redis@wiki.service"], wants=["redis@wiki.service"],
                    evidence=[ev("systemd", "/etc/systemd/system/wiki.service")]),
            Service(name="sshd", manager="systemd", state="enabled", role="sshd", exec_start=["/usr/sbin/sshd", "-D"],
                    vm_only=True, vm_only_reason="remote login to the VM", evidence=[ev("systemd", f"{unit}/sshd.service")]),
        ],
        ports=[
            Port(service="nginx", port=80, evidence=ev("nginx", "/etc/nginx/vhosts.d/wiki.conf")),
            Port(service="redis@wiki", port=6379, address="127.0.0.1", evidence=ev("redis", "/etc/redis/wiki.conf")),
            Port(service="wiki", port=3000, address="127.0.0.1", evidence=ev("app", "/srv/wiki/server.js")),
        ],
        configs=[
            ConfigFile(path="/etc/nginx/vhosts.d/wiki.conf", service="nginx", kind="nginx-site",
                       evidence=ev("nginx", "/etc/nginx/vhosts.d/wiki.conf")),
            ConfigFile(path="/etc/redis/wiki.conf", service="redis@wiki", kind="redis.conf", uid=474, gid=474,
                       mode=0o640, evidence=ev("redis", "/etc/redis/wiki.conf")),
        ],
        persistent_paths=[
            PersistentPath(path="/var/lib/redis/wiki", service="redis@wiki", kind="database", reason="Redis dir",
                           uid=474, gid=474, mode=0o750, evidence=ev("redis", "/etc/redis/wiki.conf")),
            PersistentPath(path="/srv/wiki/pages", service="wiki", kind="data", reason="wiki pages written by the app",
                           uid=480, gid=480, evidence=ev("app", "/srv/wiki/server.js"))],
        connections=[
            Connection(from_service="wiki", scheme="redis", host="localhost", port=6379,
                       url_redacted="redis://localhost:6379", via="REDIS_URL",
                       evidence=ev("systemd", "/etc/systemd/system/wiki.service")),
            Connection(from_service="nginx", scheme="http", host="localhost", port=3000,
                       url_redacted="http://localhost:3000", via="proxy_pass",
                       evidence=ev("nginx", "/etc/nginx/vhosts.d/wiki.conf")),
        ],
    )


def alpine319() -> Inventory:
    return Inventory(
        name="edge-cache", backend="fixture",
        os=OSInfo(family="alpine", distro="alpine", version="3.19.1", pretty_name="Alpine Linux v3.19"),
        network=NetworkIdentity(hostname="edge-cache"),
        packages=pkgs("apk", "/lib/apk/db/installed", {
            "nginx": "1.24.0-r15", "redis": "7.2.4-r0", "openssh-server": "9.6_p1-r0", "busybox": "1.36.1-r15"}),
        users=users([("root", 0, 0, "/root", "/bin/ash"), ("redis", 100, 101, "/var/lib/redis", "/sbin/nologin"),
                     ("nginx", 101, 102, "/var/lib/nginx", "/sbin/nologin")]),
        services=[
            Service(name="nginx", manager="openrc", state="enabled", role="nginx", exec_start=["/usr/sbin/nginx"],
                    evidence=[ev("openrc", "/etc/init.d/nginx")]),
            Service(name="redis", manager="openrc", state="enabled", role="redis", user="redis", group="redis",
                    uid=100, gid=101, exec_start=["/usr/bin/redis-server", "/etc/redis.conf"],
                    evidence=[ev("openrc", "/etc/init.d/redis")]),
            Service(name="sshd", manager="openrc", state="enabled", role="sshd", exec_start=["/usr/sbin/sshd"],
                    vm_only=True, vm_only_reason="remote login to the VM", evidence=[ev("openrc", "/etc/init.d/sshd")]),
        ],
        ports=[Port(service="nginx", port=80, evidence=ev("nginx", "/etc/nginx/http.d/default.conf")),
               Port(service="redis", port=6379, address="127.0.0.1", evidence=ev("redis", "/etc/redis.conf"))],
        configs=[ConfigFile(path="/etc/redis.conf", service="redis", kind="redis.conf", from_package="redis",
                            modified_from_package=True, uid=100, gid=101, mode=0o640,
                            evidence=ev("redis", "/etc/redis.conf"))],
        filesystems=[Filesystem(device="/dev/vda1", fstype="ext4", mountpoint="/"),
                     Filesystem(device="/dev/vdb1", fstype="ext4", label="data")],
        mounts=[Mount(spec="LABEL=data", mountpoint="/data", fstype="ext4", mounted=False,
                      evidence=ev("fstab", "/etc/fstab"))],
        persistent_paths=[PersistentPath(path="/data/redis", service="redis", kind="database", reason="Redis dir",
                                         uid=100, gid=101, mode=0o750, evidence=ev("redis", "/etc/redis.conf"))],
    )


FIXTURES = {"rocky9": rocky9, "leap15": leap15, "alpine319": alpine319}


def main() -> None:
    for name, make in FIXTURES.items():
        (HERE / f"{name}.json").write_text(make().canonical().to_json())


if __name__ == "__main__":
    main()
