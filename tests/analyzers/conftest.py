"""Synthetic guest trees for the analyzer unit tests, built in tmp_path.

Trees are built here rather than checked in because they need symlinks (systemd enablement and
masking, /dev/null links, sites-enabled) and numeric owners (data directories owned by the service
user), which git does not keep. The flagship tree mirrors the flagship test image of issue 2:
nginx → a Python app on 127.0.0.1:8080 (shop.service, own user, EnvironmentFile with DATABASE_URL
and REDIS_URL carrying passwords, a data directory it writes), PostgreSQL 15, Redis, sshd.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from migrate.analysis import run_analyzers
from migrate.analyzers.base import Analyzer, Context
from migrate.model.inventory import Findings
from migrate.rootfs import RootFS

PG_PASSWORD = "Pg-fl4gship-S3cret"
REDIS_URL_PASSWORD = "Rd-fl4gship-S3cret"
REDIS_REQUIREPASS = "Rd-fl4gship-S3cret"


class Tree:
    """A guest tree under construction: guest paths in, host files out."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def host(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def write(self, path: str, text: str | bytes = "", *, mode: int | None = None, owner: int | None = None) -> str:
        p = self.host(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text)
        if mode is not None:
            p.chmod(mode)
        if owner is not None:
            os.chown(p, owner, owner)
        return path

    def mkdir(self, path: str, *, owner: int | None = None, mode: int = 0o755) -> str:
        p = self.host(path)
        p.mkdir(parents=True, exist_ok=True)
        p.chmod(mode)
        if owner is not None:
            os.chown(p, owner, owner)
        return path

    def link(self, path: str, target: str) -> str:
        p = self.host(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_symlink() or p.exists():
            p.unlink()
        p.symlink_to(target)
        return path

    def enable(self, unit: str, target: str = "multi-user.target", unit_dir: str = "/lib/systemd/system",
               template: str | None = None) -> None:
        self.link(f"/etc/systemd/system/{target}.wants/{unit}", f"{unit_dir}/{template or unit}")

    def rootfs(self) -> RootFS:
        return RootFS.from_directory(self.root)


def run_one(tree: Tree, analyzer: Analyzer, *requirements: Analyzer) -> tuple[Findings, Context]:
    """Run ``analyzer`` after the analyzers it needs; returns its own findings."""
    ctx = Context(rootfs=tree.rootfs())
    for req in requirements:
        try:
            ctx.results[req.name] = req.run(ctx)
        except Exception as exc:  # NotApplicable: leave the requirement empty
            if type(exc).__name__ != "NotApplicable":
                raise
    return analyzer.run(ctx), ctx


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path / "guest")


@pytest.fixture
def flagship(tmp_path: Path) -> Tree:
    t = Tree(tmp_path / "flagship")
    build_flagship(t)
    return t


@pytest.fixture
def analyze() -> Callable[[Tree], tuple]:
    def _run(t: Tree):
        return run_analyzers(t.rootfs())
    return _run


NGINX_CONF = """\
user www-data;
worker_processes auto;
pid /run/nginx.pid;
include /etc/nginx/modules-enabled/*.conf;

events {
    worker_connections 768; # a comment { with braces }
}

http {
    sendfile on;
    include /etc/nginx/mime.types;
    log_format main '$remote_addr - "$request" {quoted braces}';
    include /etc/nginx/conf.d/*.conf;
    include /etc/nginx/sites-enabled/*;
}
"""

SHOP_SITE = """\
upstream shop_app {
    server 127.0.0.1:8080 max_fails=3;
}

server {
    listen 80 default_server;
    listen [::]:80 default_server;
    server_name shop.example.com www.shop.example.com;
    root /var/www/shop;

    location /static/ {
        alias /opt/shop/static/;
    }
    location / {
        proxy_pass http://127.0.0.1:8080;
    }
    location /api/ {
        proxy_pass http://shop_app;
        proxy_set_header Host $host;
    }
}
"""

SHOP_UNIT = """\
[Unit]
Description=Shop web application
After=network.target postgresql.service redis-server.service
Requires=postgresql.service
Wants=redis-server.service

[Service]
Type=simple
User=shop
Group=shop
WorkingDirectory=/opt/shop
Environment=PYTHONUNBUFFERED=1 "SHOP_GREETING=hello world"
EnvironmentFile=/etc/shop/shop.env
EnvironmentFile=-/etc/default/shop
ExecStart=/usr/bin/python3 /opt/shop/app.py
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""

SHOP_ENV = f"""\
# shop settings
DATABASE_URL=postgresql://shop:{PG_PASSWORD}@localhost:5432/shop
REDIS_URL="redis://:{REDIS_URL_PASSWORD}@127.0.0.1:6379/0"
SHOP_DATA_DIR=/var/lib/shop
SECRET_KEY='flask-s3cret-key-value'
LOG_LEVEL=info
"""

APP_PY = """\
import os
from http.server import ThreadingHTTPServer

DATABASE_URL = os.environ["DATABASE_URL"]
DB_PORT = int(os.environ.get("DB_PORT", "5432"))
DATA_DIR = os.environ.get("SHOP_DATA_DIR", "/var/lib/shop")
LISTEN = ("0.0.0.0", int(os.environ.get("SHOP_PORT", "8080")))
"""

POSTGRESQL_CONF = """\
# PostgreSQL configuration file
data_directory = '/var/lib/postgresql/15/main'		# use data in another directory
hba_file = '/etc/postgresql/15/main/pg_hba.conf'
ident_file = '/etc/postgresql/15/main/pg_ident.conf'
external_pid_file = '/var/run/postgresql/15-main.pid'
listen_addresses = 'localhost'		# what IP address(es) to listen on;
port = 5432				# (change requires restart)
max_connections = 100
unix_socket_directories = '/var/run/postgresql'	# comma-separated list of directories
include_dir = 'conf.d'
"""

REDIS_CONF = f"""\
bind 127.0.0.1 -::1
protected-mode yes
port 6379
unixsocket /run/redis/redis-server.sock
daemonize yes
dir /var/lib/redis
requirepass "{REDIS_REQUIREPASS}"
"""

UNITS = {
    "nginx.service": "[Unit]\nDescription=A high performance web server\nAfter=network-online.target\n\n"
                     "[Service]\nType=forking\nPIDFile=/run/nginx.pid\n"
                     "ExecStartPre=/usr/sbin/nginx -t -q -g 'daemon on; master_process on;'\n"
                     "ExecStart=/usr/sbin/nginx -g 'daemon on; master_process on;'\n\n"
                     "[Install]\nWantedBy=multi-user.target\n",
    "postgresql.service": "[Unit]\nDescription=PostgreSQL RDBMS\n\n[Service]\nType=oneshot\nExecStart=/bin/true\n"
                          "RemainAfterExit=yes\n\n[Install]\nWantedBy=multi-user.target\n",
    "postgresql@.service": "[Unit]\nDescription=PostgreSQL Cluster %i\nPartOf=postgresql.service\n\n[Service]\n"
                           "Type=forking\nUser=postgres\nGroup=postgres\n"
                           "ExecStart=-/usr/bin/pg_ctlcluster --skip-systemctl-redirect %i start\n\n"
                           "[Install]\nWantedBy=multi-user.target\n",
    "redis-server.service": "[Unit]\nDescription=Advanced key-value store\n\n[Service]\nType=notify\n"
                            "ExecStart=/usr/bin/redis-server /etc/redis/redis.conf --supervised systemd\n"
                            "User=redis\nGroup=redis\n\n[Install]\nWantedBy=multi-user.target\nAlias=redis.service\n",
    "ssh.service": "[Unit]\nDescription=OpenBSD Secure Shell server\n\n[Service]\n"
                   "ExecStart=/usr/sbin/sshd -D $SSHD_OPTS\n"
                   "EnvironmentFile=-/etc/default/ssh\n\n[Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n",
    "cron.service": "[Unit]\nDescription=Regular background program processing daemon\n\n[Service]\n"
                    "ExecStart=/usr/sbin/cron -f $EXTRA_OPTS\n\n[Install]\nWantedBy=multi-user.target\n",
    "getty@.service": "[Unit]\nDescription=Getty on %I\n\n[Service]\nExecStart=-/sbin/agetty -o '-p -- \\\\u' "
                      "--noclear - $TERM\n\n[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n",
    "systemd-journald.service": "[Unit]\nDescription=Journal Service\n\n[Service]\n"
                                "ExecStart=/lib/systemd/systemd-journald\n",
}


def dpkg_stanza(name: str, version: str, status: str = "install ok installed", conffiles: dict[str, str] | None = None,
                source: str | None = None) -> str:
    out = [f"Package: {name}", f"Status: {status}", "Priority: optional", "Architecture: amd64",
           f"Version: {version}"]
    if source:
        out.append(f"Source: {source}")
    if conffiles:
        out.append("Conffiles:")
        out.extend(f" {path} {md5}" for path, md5 in conffiles.items())
    out.append("Description: test package\n multi-line description")
    return "\n".join(out) + "\n"


def build_flagship(t: Tree) -> None:
    t.write("/etc/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
                               'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n')
    t.write("/etc/debian_version", "12.5\n")
    t.write("/boot/vmlinuz-6.1.0-18-amd64", "kernel")
    t.mkdir("/lib/modules/6.1.0-18-amd64")
    t.write("/etc/hostname", "shop-vm\n")
    t.write("/etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\tshop-vm.example.com shop-vm\n# ipv6\n::1 localhost\n")
    t.write("/etc/resolv.conf", "nameserver 10.0.2.3\nsearch example.com\n")
    t.write("/etc/network/interfaces", "auto lo\niface lo inet loopback\nallow-hotplug ens3\niface ens3 inet dhcp\n")
    t.write("/etc/fstab", "# <file system> <mount point> <type> <options> <dump> <pass>\n"
                          "/dev/mapper/vg0-root / ext4 errors=remount-ro 0 1\n"
                          "/dev/mapper/vg0-var /var xfs defaults 0 2\n"
                          "UUID=1234-ABCD /boot/efi vfat umask=0077 0 1\n")
    t.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"
                           "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
                           "sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n"
                           "postgres:x:104:107:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n"
                           "redis:x:105:108::/var/lib/redis:/usr/sbin/nologin\n"
                           "shop:x:1001:1001:Shop application:/opt/shop:/usr/sbin/nologin\n")
    t.write("/etc/group", "root:x:0:\nwww-data:x:33:\npostgres:x:107:\nssl-cert:x:106:postgres\nredis:x:108:\n"
                          "shop:x:1001:\n")
    t.write("/etc/shadow", "root:$6$salt$abcdefghijklmnop:19700:0:99999:7:::\nwww-data:*:19700::::::\n"
                           "postgres:*:19700::::::\nredis:!:19700::::::\nshop:!:19700::::::\n", mode=0o640)
    nginx_conf = t.write("/etc/nginx/nginx.conf", NGINX_CONF)
    t.write("/etc/nginx/mime.types", "types {\n    text/html html htm;\n    text/css css;\n}\n")
    t.mkdir("/etc/nginx/modules-enabled")
    t.mkdir("/etc/nginx/conf.d")
    t.write("/etc/nginx/sites-available/default",
            "server {\n    listen 80 default_server;\n    root /var/www/html;\n}\n")
    t.write("/etc/nginx/sites-available/shop", SHOP_SITE)
    t.link("/etc/nginx/sites-enabled/shop", "/etc/nginx/sites-available/shop")
    t.mkdir("/var/www/shop")
    t.write("/var/www/shop/index.html", "<h1>shop</h1>")
    redis_conf = t.write("/etc/redis/redis.conf", REDIS_CONF, mode=0o640)
    t.write("/var/lib/dpkg/status", "\n".join([
        dpkg_stanza("nginx", "1.22.1-9", conffiles={
            nginx_conf: hashlib.md5(NGINX_CONF.encode()).hexdigest()}),
        dpkg_stanza("postgresql-15", "15.6-0+deb12u1", source="postgresql-15"),
        dpkg_stanza("redis-server", "5:7.0.15-1~deb12u1", source="redis", conffiles={
            redis_conf: hashlib.md5(b"shipped redis.conf").hexdigest()}),
        dpkg_stanza("openssh-server", "1:9.2p1-2+deb12u2", source="openssh"),
        dpkg_stanza("python3.11", "3.11.2-6"),
        dpkg_stanza("apache2", "2.4.57-2", status="deinstall ok config-files"),
        dpkg_stanza("vim-tiny", "2:9.0.1378-2", status="deinstall ok installed"),
    ]))
    for name, text in UNITS.items():
        t.write(f"/lib/systemd/system/{name}", text)
    t.write("/etc/systemd/system/shop.service", SHOP_UNIT)
    for unit in ("nginx.service", "postgresql.service", "redis-server.service", "ssh.service", "cron.service"):
        t.enable(unit)
    t.enable("shop.service", unit_dir="/etc/systemd/system")
    t.link("/etc/systemd/system/sshd.service", "/lib/systemd/system/ssh.service")
    t.link("/etc/systemd/system/redis.service", "/lib/systemd/system/redis-server.service")
    t.enable("getty@tty1.service", target="getty.target", template="getty@.service")
    t.link("/etc/systemd/system/default.target", "/lib/systemd/system/multi-user.target")
    t.write("/etc/shop/shop.env", SHOP_ENV, mode=0o640)
    t.link("/usr/bin/python3", "python3.11")
    t.write("/usr/bin/python3.11", b"\x7fELF" + b"\0" * 60, mode=0o755)
    t.write("/opt/shop/app.py", APP_PY, mode=0o755)
    t.mkdir("/var/lib/shop", owner=1001, mode=0o750)
    t.write("/var/lib/shop/orders.db", "x" * 100, owner=1001)
    t.mkdir("/etc/postgresql/15/main/conf.d")
    t.write("/etc/postgresql/15/main/postgresql.conf", POSTGRESQL_CONF)
    t.write("/etc/postgresql/15/main/pg_hba.conf", "local all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n")
    t.write("/etc/postgresql/15/main/start.conf", "# Automatic startup configuration\nauto\n")
    t.mkdir("/var/lib/postgresql/15/main", owner=104, mode=0o700)
    os.chown(t.host("/var/lib/postgresql/15/main"), 104, 107)
    t.write("/var/lib/postgresql/15/main/PG_VERSION", "15\n")
    t.mkdir("/var/lib/redis", owner=105, mode=0o750)
    t.write("/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\n#Port 22\nPermitRootLogin no\n"
                                    "Subsystem sftp /usr/lib/openssh/sftp-server\n")
    t.mkdir("/etc/ssh/sshd_config.d")
    t.write("/etc/crontab", "SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n")
    t.write("/etc/cron.d/shop", f"MAILTO=\"\"\n*/15 * * * * shop /opt/shop/venv/bin/python /opt/shop/cleanup.py "
                                f"--db postgresql://shop:{PG_PASSWORD}@localhost/shop\n")


@pytest.fixture
def run():
    """run(tree, analyzer, *requirements) → (findings, ctx)."""
    return run_one
