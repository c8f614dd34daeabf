"""corpus-lemp: nginx + PHP-FPM 8.2 + MariaDB, and lighttpd serving a static site on another port.

A PHP page reads MariaDB over TCP (PDO, ``mysql:host=127.0.0.1;port=3306``) with its credentials in a
PHP config array; nginx hands ``.php`` to PHP-FPM over a Unix socket. The rows are loaded by the real
MariaDB server (bootstrap mode) in the build chroot. Two disks, as a VM that grew a data disk: disk 1
MBR with ext4 root and an ext4 /srv, disk 2 a whole-disk xfs for /var/lib/mysql; exported as VHDX.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from migrate.samples import _corpus, _corpus_b, _corpus_disk, export
from migrate.samples._common import Progress, SampleBuildError, _noop
from migrate.samples._corpus import base_identity, corpus_recipe, ids, write
from migrate.samples._corpus_b import CORPUS_B_PACKAGES, keep_only
from migrate.samples._corpus_disk import Volume
from migrate.samples.debootstrap import chroot, chroot_mounts

HOSTNAME = "lemp-web01"
DB_PASSWORD = "Lm-n0tes-DB-S3cret"
DISK_BYTES = 3 * 1024**3
ROOT_UUID = "1e5a7c20-4d1b-4f0e-9a31-6c2d8e0f7a11"
SRV_UUID = "2f6b8d31-5e2c-4a1f-8b42-7d3e9f1a8b12"
VOLUMES = [
    Volume("/", "ext4", 2300, "lemp-root", ROOT_UUID),
    Volume("/srv", "ext4", 128, "lemp-srv", SRV_UUID),
]
DATA_VOLUME = Volume("/var/lib/mysql", "xfs", 320, "mysqldata")
PACKAGES = ["nginx", "php-fpm", "php-mysql", "mariadb-server", "lighttpd"]
KEEP = {"nginx.service", "php8.2-fpm.service", "mariadb.service", "lighttpd.service", "ssh.service",
        "cron.service"}  # fmt: skip
STATIC_PORT = 8081

NOTES = [
    "buy milk", "call the plumber", "renew the TLS certificate", "water the plants", "back up the laptop",
    "pay the electricity bill", "book the dentist", "read the PHP 8.2 changelog", "fix the garden gate",
]  # fmt: skip

NGINX_SITE = """server {
    listen 80 default_server;
    listen [::]:80 default_server;
    server_name lemp.example.internal lemp-web01;

    root /var/www/lemp;
    index index.php index.html;

    access_log /var/log/nginx/lemp.access.log;
    error_log /var/log/nginx/lemp.error.log;

    location / {
        try_files $uri $uri/ =404;
    }

    location ~ \\.php$ {
        include snippets/fastcgi-php.conf;
        fastcgi_pass unix:/run/php/php8.2-fpm.sock;
    }
}
"""

INDEX_PHP = """<?php
header('Content-Type: text/plain; charset=utf-8');
$cfg = require __DIR__ . '/config.php';
$db = new PDO($cfg['dsn'], $cfg['user'], $cfg['password']);
$n = $db->query('SELECT COUNT(*) FROM notes')->fetchColumn();
echo "notes: $n\\n";
foreach ($db->query('SELECT id, title FROM notes ORDER BY id') as $row) {
    echo $row['id'] . ' ' . $row['title'] . "\\n";
}
"""

CONFIG_PHP = f"""<?php
return [
    'dsn' => 'mysql:host=127.0.0.1;port=3306;dbname=notes;charset=utf8mb4',
    'user' => 'notes',
    'password' => '{DB_PASSWORD}',
];
"""

STATIC = {
    "index.html": "<!doctype html>\n<html><head><title>Docs</title><link rel=\"stylesheet\" href=\"style.css\">"
                  "</head>\n<body><h1>Team docs</h1><p>Served by lighttpd.</p><a href=\"about.html\">about</a>"
                  "</body></html>\n",
    "about.html": "<!doctype html>\n<html><body><p>Static pages of lemp-web01.</p></body></html>\n",
    "style.css": "body { font-family: sans-serif; margin: 2em; }\n",
}  # fmt: skip


def page_body() -> str:
    """What index.php prints for the seeded rows (the probe compares the migrated page with this)."""
    return f"notes: {len(NOTES)}\n" + "".join(f"{i} {t}\n" for i, t in enumerate(NOTES, 1))


def _lighttpd(tree: Path) -> None:
    conf = tree / "etc/lighttpd/lighttpd.conf"
    text = conf.read_text()
    text, n1 = re.subn(r'(?m)^server\.document-root\s*=.*$', 'server.document-root        = "/srv/static"', text)
    text, n2 = re.subn(r"(?m)^server\.port\s*=.*$", f"server.port                 = {STATIC_PORT}", text)
    if not (n1 and n2):
        raise SampleBuildError("lighttpd.conf: document-root or port line not found",
                               path="/etc/lighttpd/lighttpd.conf")
    conf.write_text(text)
    for name, body in STATIC.items():
        write(tree, f"/srv/static/{name}", body)


def _mariadb(tree: Path, progress: Progress) -> None:
    progress("mariadb: loading the notes database (bootstrap mode)")
    write(tree, "/etc/mysql/mariadb.conf.d/60-lemp.cnf",
          "[mysqld]\nbind-address = 127.0.0.1\nport = 3306\ndatadir = /var/lib/mysql\nmax_connections = 60\n")
    rows = ", ".join(f"({i}, '{t}')" for i, t in enumerate(NOTES, 1))
    sql = (
        "CREATE DATABASE notes CHARACTER SET utf8mb4;\n"
        "CREATE TABLE notes.notes (id INT PRIMARY KEY, title VARCHAR(200) NOT NULL);\n"
        f"INSERT INTO notes.notes VALUES {rows};\n"
        "FLUSH PRIVILEGES;\n"
        f"CREATE USER 'notes'@'localhost' IDENTIFIED BY '{DB_PASSWORD}';\n"
        f"CREATE USER 'notes'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}';\n"
        f"CREATE USER 'notes'@'%' IDENTIFIED BY '{DB_PASSWORD}';\n"
        "GRANT SELECT, INSERT, UPDATE, DELETE ON notes.* TO 'notes'@'localhost';\n"
        "GRANT SELECT, INSERT, UPDATE, DELETE ON notes.* TO 'notes'@'127.0.0.1';\n"
        "GRANT SELECT, INSERT, UPDATE, DELETE ON notes.* TO 'notes'@'%';\n"
    )
    with chroot_mounts(tree):
        chroot(tree, ["/usr/sbin/mariadbd", "--bootstrap", "--user=mysql", "--datadir=/var/lib/mysql",
                      "--log-error=/tmp/mariadb-bootstrap.log", "--skip-networking"], input=sql.encode())  # fmt: skip
    if not (tree / "var/lib/mysql/notes/notes.frm").exists():
        raise SampleBuildError("mariadb bootstrap did not create notes.notes")
    (tree / "tmp/mariadb-bootstrap.log").unlink(missing_ok=True)


def customise(tree: Path, progress: Progress = _noop) -> dict[str, Any]:
    base_identity(tree, HOSTNAME, "1e3b0000c0ffee00000000000000a001",
                  f"UUID={ROOT_UUID} /    ext4 errors=remount-ro 0 1\n"
                  f"UUID={SRV_UUID} /srv ext4 defaults,noatime 0 2\n"
                  "LABEL=mysqldata /var/lib/mysql xfs defaults 0 2\n")  # fmt: skip
    pruned = keep_only(tree, PACKAGES, KEEP, progress)
    _, www_gid = ids(tree, "www-data")
    write(tree, "/etc/nginx/sites-available/lemp", NGINX_SITE)
    enabled = tree / "etc/nginx/sites-enabled"
    for p in enabled.iterdir():
        p.unlink()
    (enabled / "lemp").symlink_to("/etc/nginx/sites-available/lemp")
    write(tree, "/var/www/lemp/index.php", INDEX_PHP)
    write(tree, "/var/www/lemp/config.php", CONFIG_PHP, 0o640, 0, www_gid)
    write(tree, "/var/www/lemp/robots.txt", "User-agent: *\nDisallow:\n")
    _lighttpd(tree)
    _mariadb(tree, progress)
    _corpus.finish_tree(tree)
    return {
        "hostname": HOSTNAME,
        "services": {
            "nginx": {"unit": "nginx.service", "ports": [80], "enabled": True, "root": "/var/www/lemp"},
            "php8.2-fpm": {"unit": "php8.2-fpm.service", "ports": [], "enabled": True,
                           "socket": "/run/php/php8.2-fpm.sock"},
            "mariadb": {"unit": "mariadb.service", "ports": [3306], "enabled": True, "datadir": "/var/lib/mysql",
                        "bind_address": "127.0.0.1"},
            "lighttpd": {"unit": "lighttpd.service", "ports": [STATIC_PORT], "enabled": True,
                         "document_root": "/srv/static"},
        },  # fmt: skip
        "kinds": ["nginx", "php-fpm", "mariadb", "lighttpd"],
        "ports": {"nginx": 80, "mariadb": 3306, "lighttpd": STATIC_PORT},
        **pruned,
        "packages": sorted(PACKAGES),
        "passwords": {"mariadb": DB_PASSWORD},
        "secrets": [DB_PASSWORD],
        "database": {"engine": "mariadb", "name": "notes", "table": "notes", "rows": len(NOTES)},
        "probes": {
            "http_php": {"service": "nginx", "port": 80, "path": "/index.php", "body": page_body()},
            "http_static": {"service": "lighttpd", "port": STATIC_PORT, "path": "/about.html",
                            "body": STATIC["about.html"]},
        },  # fmt: skip
        "partition_table": "dos",
        "fstab": {"/": f"UUID={ROOT_UUID}", "/srv": f"UUID={SRV_UUID}", "/var/lib/mysql": "LABEL=mysqldata"},
        "filesystems": {"/": "ext4", "/srv": "ext4", "/var/lib/mysql": "xfs"},
        "disks": 2,
    }


def make_disks(tree: Path, out: Path, progress: Progress = _noop) -> dict[str, Any]:
    parts = _corpus_disk.fill_trees(tree, [*VOLUMES, DATA_VOLUME], out / "work" / "parts")
    progress("disk 2: whole-disk xfs for /var/lib/mysql")
    data = _corpus_disk.whole_disk(parts[DATA_VOLUME.mountpoint], out / "disk2.raw", DATA_VOLUME)
    disk1 = _corpus_disk.partitioned_disk(parts, out / "disk1.raw", DISK_BYTES, VOLUMES, table="dos", vg="",
                                          progress=progress)  # fmt: skip
    return {"raw": out / "disk1.raw", "raw-data": out / "disk2.raw", "layout": disk1, "data": data}


def export_disks(out: Path, disks: dict[str, Any], progress: Progress = _noop) -> dict[str, Path]:
    progress("exporting both disks as VHDX")
    files = export.convert_many(disks["raw"], {"vhdx": (out / "lemp-web01.vhdx", ["-O", "vhdx"])})
    files.update(export.convert_many(disks["raw-data"], {"vhdx-data": (out / "lemp-web01-data.vhdx", ["-O", "vhdx"])}))
    files["raw"], files["raw-data"] = disks["raw"], disks["raw-data"]
    return files


RECIPE = corpus_recipe(
    "corpus-lemp",
    "Debian 12: nginx + PHP-FPM 8.2 (PDO page) + MariaDB, lighttpd static site; MBR ext4 + xfs data "
                "disk; VHDX",
    PACKAGES, union=CORPUS_B_PACKAGES, plumbing=(_corpus_b, _corpus_disk), customise=customise,
    make_disks=make_disks, export=export_disks, disk=DISK_BYTES,
)  # fmt: skip
