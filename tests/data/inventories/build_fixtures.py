# ruff: noqa: E501  (fixture data reads better one record per line)
"""Writes the fixture inventories next to this file: ``python tests/data/inventories/build_fixtures.py``.

Hand-made, modelled on real guests: ``flagship-debian12.json`` mirrors the VM that
``migrate.samples.flagship`` builds (same units, users, ports, paths and connection strings; the
versions are Debian 12's); the Rocky 9, openSUSE Leap 15.5 and Alpine 3.19 ones use the package
names, versions, paths and users those distributions ship. Secret values never appear: inventories
only hold redactions, exactly like `migrate inspect` writes them.
"""

from __future__ import annotations

from pathlib import Path

from migrate.model.base import Evidence
from migrate.model.inventory import (
    ConfigFile,
    Connection,
    Filesystem,
    Group,
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


def flagship() -> Inventory:
    unit = "/lib/systemd/system"
    return Inventory(
        name="shop-vm01", backend="fixture",
        sizing=VMSizing(name="shop-vm01", vcpus=4, memory_mib=8192, source="ovf:shop-vm01.ovf",
                        evidence=ev("ovf", "shop-vm01.ovf")),
        os=OSInfo(family="debian", distro="debian", version="12", codename="bookworm",
                  pretty_name="Debian GNU/Linux 12 (bookworm)", arch="x86_64",
                  evidence=[ev("os-release", "/etc/os-release")]),
        network=NetworkIdentity(hostname="shop-vm01", hosts=[
            HostEntry(address="127.0.0.1", names=["localhost"]),
            HostEntry(address="127.0.1.1", names=["shop-vm01.example.internal", "shop-vm01"])],
            evidence=[ev("network", "/etc/hostname"), ev("network", "/etc/hosts")]),
        packages=pkgs("dpkg", "/var/lib/dpkg/status", {
            "nginx": "1.22.1-9+deb12u11", "nginx-common": "1.22.1-9+deb12u11", "postgresql": "15+248+deb12u2",
            "postgresql-15": "15.20-0+deb12u1", "postgresql-client-15": "15.20-0+deb12u1",
            "postgresql-common": "248+deb12u2", "redis-server": "5:7.0.15-1~deb12u10",
            "redis-tools": "5:7.0.15-1~deb12u10", "python3": "3.11.2-1+b1", "python3-minimal": "3.11.2-1+b1",
            "python3-psycopg2": "2.9.5-1+b1", "python3-redis": "4.3.4-3", "cron": "3.0pl1-162",
            "openssh-server": "1:9.2p1-2+deb12u3", "sysbench": "1.0.20+ds-3", "ca-certificates": "20230311",
            "systemd": "252.31-1~deb12u1", "ssl-cert": "1.1.2"}),
        groups=[Group(name="ssl-cert", gid=106, members=["postgres"], evidence=ev("users", "/etc/group"))],
        users=users([("root", 0, 0, "/root", "/bin/bash"), ("www-data", 33, 33, "/var/www", "/usr/sbin/nologin"),
                     ("postgres", 104, 110, "/var/lib/postgresql", "/bin/bash"),
                     ("redis", 105, 111, "/var/lib/redis", "/usr/sbin/nologin"),
                     ("sshd", 106, 65534, "/run/sshd", "/usr/sbin/nologin"),
                     ("shop", 990, 990, "/var/lib/shop", "/usr/sbin/nologin")]),
        services=[
            Service(name="nginx", manager="systemd", unit_path=f"{unit}/nginx.service", state="enabled",
                    role="nginx", description="A high performance web server and a reverse proxy server",
                    exec_start=["/usr/sbin/nginx", "-g", "daemon on; master_process on;"], unit_type="forking",
                    after=["network-online.target", "remote-fs.target", "nss-lookup.target"],
                    evidence=[ev("systemd", f"{unit}/nginx.service")]),
            Service(name="postgresql", manager="systemd", unit_path=f"{unit}/postgresql.service", state="enabled",
                    description="PostgreSQL RDBMS", exec_start=["/bin/true"], unit_type="oneshot",
                    evidence=[ev("systemd", f"{unit}/postgresql.service")]),
            Service(name="postgresql@15-main", manager="systemd", unit_path=f"{unit}/postgresql@.service",
                    state="enabled", role="postgresql", template="postgresql@.service",
                    description="PostgreSQL Cluster 15-main",
                    exec_start=["/usr/bin/pg_ctlcluster", "--skip-systemctl-redirect", "15-main", "start"],
                    unit_type="forking", user="postgres", group="postgres", uid=104, gid=110,
                    evidence=[ev("systemd", f"{unit}/postgresql@.service"),
                              ev("postgresql", "/etc/postgresql/15/main/postgresql.conf")]),
            Service(name="redis-server", manager="systemd", unit_path=f"{unit}/redis-server.service",
                    state="enabled", role="redis", description="Advanced key-value store",
                    exec_start=["/usr/bin/redis-server", "/etc/redis/redis.conf", "--supervised", "systemd",
                                "--daemonize", "no"], unit_type="notify", user="redis", group="redis",
                    uid=105, gid=111, after=["network.target"],
                    evidence=[ev("systemd", f"{unit}/redis-server.service"), ev("redis", "/etc/redis/redis.conf")]),
            Service(name="shop", manager="systemd", unit_path="/etc/systemd/system/shop.service", state="enabled",
                    role="app", description="Shop inventory API", exec_start=["/usr/bin/python3", "/opt/shop/app.py"],
                    user="shop", group="shop", uid=990, gid=990, working_directory="/opt/shop",
                    environment={"DATABASE_URL": "postgresql://shop:****@localhost:5432/shop",
                                 "REDIS_URL": "redis://:****@127.0.0.1:6379/0", "SHOP_DATA_DIR": "/var/lib/shop"},
                    environment_files=["/etc/shop/shop.env"],
                    after=["network.target", "postgresql.service", "redis-server.service"],
                    requires=["postgresql.service"], wants=["redis-server.service"],
                    interpreter="python3", script="/opt/shop/app.py", unit_type="simple",
                    evidence=[ev("systemd", "/etc/systemd/system/shop.service"), ev("app", "/etc/shop/shop.env")]),
            Service(name="ssh", manager="systemd", unit_path=f"{unit}/ssh.service", state="enabled", role="sshd",
                    exec_start=["/usr/sbin/sshd", "-D"], vm_only=True,
                    vm_only_reason="remote login to the VM; containers are entered with docker exec",
                    evidence=[ev("systemd", f"{unit}/ssh.service")]),
            Service(name="cron", manager="systemd", unit_path=f"{unit}/cron.service", state="enabled", role="cron",
                    exec_start=["/usr/sbin/cron", "-f"], vm_only=True,
                    vm_only_reason="the cron daemon itself; its jobs are planned one by one",
                    evidence=[ev("systemd", f"{unit}/cron.service")]),
            Service(name="getty@tty1", manager="systemd", unit_path=f"{unit}/getty@.service", state="enabled",
                    exec_start=["/sbin/agetty", "-o", "-p -- \\u", "--noclear", "-", "linux"], vm_only=True,
                    vm_only_reason="console login on a virtual terminal",
                    evidence=[ev("systemd", f"{unit}/getty@.service")]),
        ],
        ports=[
            Port(service="nginx", port=80, address="0.0.0.0", evidence=ev("nginx", "/etc/nginx/sites-available/shop")),
            Port(service="nginx", port=80, address="::", evidence=ev("nginx", "/etc/nginx/sites-available/shop")),
            Port(service="postgresql@15-main", port=5432, address="127.0.0.1",
                 evidence=ev("postgresql", "/etc/postgresql/15/main/postgresql.conf", "listen_addresses = 'localhost'")),
            Port(service="postgresql@15-main", port=5432, address="::1",
                 evidence=ev("postgresql", "/etc/postgresql/15/main/postgresql.conf", "listen_addresses = 'localhost'")),
            Port(service="postgresql@15-main", proto="unix", path="/var/run/postgresql/.s.PGSQL.5432",
                 evidence=ev("postgresql", "/etc/postgresql/15/main/postgresql.conf")),
            Port(service="redis-server", port=6379, address="127.0.0.1",
                 evidence=ev("redis", "/etc/redis/redis.conf", "bind 127.0.0.1 -::1")),
            Port(service="shop", port=8080, address="0.0.0.0", evidence=ev("app", "/opt/shop/app.py")),
            Port(service="ssh", port=22, evidence=ev("sshd", "/etc/ssh/sshd_config")),
        ],
        configs=[
            ConfigFile(path="/etc/nginx/nginx.conf", service="nginx", kind="nginx.conf", from_package="nginx-common",
                       modified_from_package=False, mode=0o644, uid=0, gid=0,
                       evidence=ev("nginx", "/etc/nginx/nginx.conf")),
            ConfigFile(path="/etc/nginx/sites-available/shop", service="nginx", kind="nginx-site", mode=0o644,
                       uid=0, gid=0, evidence=ev("nginx", "/etc/nginx/sites-available/shop")),
            ConfigFile(path="/etc/nginx/sites-enabled/shop", service="nginx", kind="nginx-site-link",
                       evidence=ev("nginx", "/etc/nginx/sites-enabled/shop", "-> /etc/nginx/sites-available/shop")),
            ConfigFile(path="/etc/postgresql/15/main/postgresql.conf", service="postgresql@15-main",
                       kind="postgresql.conf", mode=0o644, uid=104, gid=110,
                       evidence=ev("postgresql", "/etc/postgresql/15/main/postgresql.conf")),
            ConfigFile(path="/etc/postgresql/15/main/pg_hba.conf", service="postgresql@15-main", kind="pg_hba.conf",
                       mode=0o640, uid=104, gid=110, evidence=ev("postgresql", "/etc/postgresql/15/main/pg_hba.conf")),
            ConfigFile(path="/etc/redis/redis.conf", service="redis-server", kind="redis.conf",
                       from_package="redis-server", modified_from_package=True, contains_secrets=True,
                       mode=0o640, uid=105, gid=111, evidence=ev("redis", "/etc/redis/redis.conf")),
            ConfigFile(path="/etc/shop/shop.env", service="shop", kind="env-file", contains_secrets=True,
                       mode=0o640, uid=0, gid=990, evidence=ev("app", "/etc/shop/shop.env")),
            ConfigFile(path="/etc/systemd/system/shop.service", service="shop", kind="unit", mode=0o644,
                       evidence=ev("systemd", "/etc/systemd/system/shop.service")),
        ],
        secrets=[
            Secret(id="shop-DATABASE_URL", kind="connection-string", service="shop", key="DATABASE_URL",
                   redacted="postgresql://shop:****@localhost:5432/shop", value_ref="secret-1", length=18,
                   evidence=ev("app", "/etc/shop/shop.env")),
            Secret(id="shop-REDIS_URL", kind="connection-string", service="shop", key="REDIS_URL",
                   redacted="redis://:****@127.0.0.1:6379/0", value_ref="secret-2", length=18,
                   evidence=ev("app", "/etc/shop/shop.env")),
            Secret(id="redis-server-requirepass", kind="requirepass", service="redis-server", key="requirepass",
                   redacted="requirepass ****", value_ref="secret-2", length=18,
                   evidence=ev("redis", "/etc/redis/redis.conf")),
            Secret(id="postgresql-role-shop", kind="password-hash", service="postgresql@15-main", key="shop",
                   redacted="SCRAM-SHA-256$4096:****", value_ref="secret-3",
                   evidence=ev("postgresql", "/var/lib/postgresql/15/main/global/1260")),
        ],
        jobs=[
            ScheduledJob(source="cron.d", schedule="15 3 * * *", user="shop",
                         command="find /var/lib/shop/uploads -name '*.tmp' -mtime +7 -delete",
                         evidence=ev("cron", "/etc/cron.d/shop")),
            ScheduledJob(source="user-crontab", schedule="30 2 * * *", user="root",
                         command="/usr/bin/pg_dumpall_wrapper >/dev/null 2>&1 || true",
                         evidence=ev("cron", "/var/spool/cron/crontabs/root")),
            ScheduledJob(source="user-crontab", schedule="0 4 * * 0", user="root",
                         command="tar -czf /srv/backups/shop-uploads.tgz -C /var/lib/shop uploads",
                         evidence=ev("cron", "/var/spool/cron/crontabs/root")),
        ],
        mounts=[
            Mount(spec="/dev/mapper/vg0-root", mountpoint="/", fstype="ext4", options=["errors=remount-ro"],
                  passno=1, mounted=True, evidence=ev("fstab", "/etc/fstab")),
            Mount(spec="UUID=3b6f0c1e-6a51-4c3e-9f0a-5d1c2b7e4a01", mountpoint="/boot", fstype="ext4",
                  options=["defaults", "nodev"], passno=2, mounted=True, evidence=ev("fstab", "/etc/fstab")),
            Mount(spec="/dev/mapper/vg0-var", mountpoint="/var", fstype="xfs", options=["defaults"], passno=2,
                  mounted=True, evidence=ev("fstab", "/etc/fstab")),
            Mount(spec="UUID=c4a9e2d7-2b8f-4e15-a6d3-9f1e0b5c7d03", mountpoint="/srv", fstype="ext4",
                  options=["defaults"], passno=2, mounted=True, evidence=ev("fstab", "/etc/fstab")),
        ],
        persistent_paths=[
            PersistentPath(path="/var/lib/postgresql/15/main", service="postgresql@15-main", kind="database",
                           reason="PostgreSQL data_directory", uid=104, gid=110, mode=0o700,
                           evidence=ev("postgresql", "/etc/postgresql/15/main/postgresql.conf")),
            PersistentPath(path="/var/lib/redis", service="redis-server", kind="database",
                           reason="Redis dir (RDB/AOF files)", uid=105, gid=111, mode=0o750,
                           evidence=ev("redis", "/etc/redis/redis.conf")),
            PersistentPath(path="/var/lib/shop", service="shop", kind="uploads", reason="SHOP_DATA_DIR",
                           uid=990, gid=990, mode=0o755, evidence=ev("app", "/etc/shop/shop.env")),
            PersistentPath(path="/srv/backups", service=None, kind="data", reason="archives written by root's crontab",
                           uid=0, gid=0, mode=0o755, evidence=ev("cron", "/var/spool/cron/crontabs/root")),
        ],
        connections=[
            Connection(from_service="shop", scheme="postgresql", host="localhost", port=5432, database="shop",
                       username="shop", url_redacted="postgresql://shop:****@localhost:5432/shop",
                       via="DATABASE_URL", secret_id="shop-DATABASE_URL", evidence=ev("app", "/etc/shop/shop.env")),
            Connection(from_service="shop", scheme="redis", host="127.0.0.1", port=6379, database="0",
                       url_redacted="redis://:****@127.0.0.1:6379/0", via="REDIS_URL", secret_id="shop-REDIS_URL",
                       evidence=ev("app", "/etc/shop/shop.env")),
            Connection(from_service="nginx", scheme="http", host="127.0.0.1", port=8080,
                       url_redacted="http://127.0.0.1:8080", via="proxy_pass",
                       evidence=ev("nginx", "/etc/nginx/sites-available/shop")),
            Connection(from_service="nginx", scheme="http", host="127.0.0.1", port=8080,
                       url_redacted="http://127.0.0.1:8080", via="upstream shop_app",
                       evidence=ev("nginx", "/etc/nginx/sites-available/shop")),
        ],
    )


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


FIXTURES = {"flagship-debian12": flagship, "rocky9": rocky9, "leap15": leap15, "alpine319": alpine319}


def main() -> None:
    for name, make in FIXTURES.items():
        (HERE / f"{name}.json").write_text(make().canonical().to_json())


if __name__ == "__main__":
    main()
