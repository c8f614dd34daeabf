"""The classic sample: a LAMP-era Debian 12 VM (Apache + mod_php, MariaDB, memcached) on one MBR partition.

Built entirely on the host (``mkfs.ext4 -d`` writes the filesystem straight into the partition's
offset of a raw file, sfdisk writes the MBR), then exported to every disk format qemu-img knows, so
readers can be checked format by format against the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from migrate.samples import debootstrap, export
from migrate.samples._common import Progress, Recipe, SampleBuildError, _noop, dir_used_bytes, run
from migrate.samples.debootstrap import chroot, chroot_mounts
from migrate.samples.flagship import _enable, _write

PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "apache2", "libapache2-mod-php", "php-mysql", "mariadb-server",
    "memcached", "openssh-server", "cron", "ca-certificates", "procps", "iproute2",
]  # fmt: skip

HOSTNAME = "classic-web01"
DB_PASSWORD = "My-cl4ssic-S3cret"
DISK_BYTES = 2560 * 1024**2  # > 2 GiB so twoGbMaxExtentSparse really has two extents
PART_START = 2048  # sectors
ROOT_UUID = "0f6a3c2e-91b4-4d0c-8e27-3a5b6c7d8e04"
GUESTBOOK_ROWS = 12

APACHE_SITE = """<VirtualHost *:80>
    ServerName classic.example.internal
    ServerAdmin webmaster@example.internal
    DocumentRoot /var/www/classic

    <Directory /var/www/classic>
        Options -Indexes +FollowSymLinks
        AllowOverride All
        Require all granted
    </Directory>

    ErrorLog ${APACHE_LOG_DIR}/classic-error.log
    CustomLog ${APACHE_LOG_DIR}/classic-access.log combined
</VirtualHost>
"""

INDEX_PHP = """<?php
require __DIR__ . '/config.php';
$mc = new Memcached();
$mc->addServer(MEMCACHED_HOST, MEMCACHED_PORT);
$db = new mysqli(DB_HOST, DB_USER, DB_PASSWORD, DB_NAME, DB_PORT);
$rows = $db->query('SELECT id, author, message FROM guestbook ORDER BY id');
echo "<h1>Guestbook</h1><ul>";
while ($r = $rows->fetch_assoc()) {
    echo '<li>' . htmlspecialchars($r['author']) . ': ' . htmlspecialchars($r['message']) . '</li>';
}
echo "</ul>";
"""


def _config_php() -> str:
    return (
        "<?php\n"
        "define('DB_HOST', '127.0.0.1');\ndefine('DB_PORT', 3306);\n"
        "define('DB_NAME', 'classic');\ndefine('DB_USER', 'classic');\n"
        f"define('DB_PASSWORD', '{DB_PASSWORD}');\n"
        "define('MEMCACHED_HOST', '127.0.0.1');\ndefine('MEMCACHED_PORT', 11211);\n"
    )


def customise(tree: Path, progress: Progress = _noop) -> None:
    _write(tree, "/etc/hostname", f"{HOSTNAME}\n")
    _write(
        tree,
        "/etc/hosts",
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}.example.internal {HOSTNAME}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n",
    )
    _write(
        tree,
        "/etc/fstab",
        "# /etc/fstab: static file system information.\n"
        f"UUID={ROOT_UUID} /     ext4 errors=remount-ro 0 1\n"
        "proc                                      /proc proc defaults          0 0\n",
    )
    _write(tree, "/etc/machine-id", "c1a551cc1a551cc1a551cc1a551cc100\n", 0o444)
    _write(tree, "/etc/systemd/network/10-eth0.network", "[Match]\nName=eth0 ens3\n\n[Network]\nDHCP=yes\n")
    _enable(tree, "systemd-networkd.service", src="/lib/systemd/system/systemd-networkd.service")

    # Apache: the classic site replaces the default one
    _write(tree, "/etc/apache2/sites-available/classic.conf", APACHE_SITE)
    enabled = tree / "etc/apache2/sites-enabled"
    for p in enabled.iterdir():
        p.unlink()
    (enabled / "classic.conf").symlink_to("../sites-available/classic.conf")
    www_data = 33
    _write(tree, "/var/www/classic/index.php", INDEX_PHP)
    _write(tree, "/var/www/classic/config.php", _config_php(), 0o640, 0, www_data)
    _write(tree, "/var/www/classic/.htaccess", "Options -Indexes\n")
    _write(tree, "/var/www/classic/static/style.css", "body { font-family: serif; }\n")

    # MariaDB: explicit settings where an analyzer looks for them
    _write(
        tree,
        "/etc/mysql/mariadb.conf.d/60-classic.cnf",
        "[mysqld]\nport = 3306\nbind-address = 127.0.0.1\ndatadir = /var/lib/mysql\nmax_connections = 80\n",
    )
    # memcached
    conf = tree / "etc/memcached.conf"
    text = conf.read_text()
    text = text.replace("-m 64", "-m 128")
    conf.write_text(text)

    progress("mariadb: creating the classic database (bootstrap mode)")
    rows = ", ".join(f"({i}, 'visitor{i}', 'hello number {i}')" for i in range(1, GUESTBOOK_ROWS + 1))
    sql = (
        "CREATE DATABASE IF NOT EXISTS classic;\n"
        "CREATE TABLE classic.guestbook (id INT PRIMARY KEY, author VARCHAR(64), message TEXT);\n"
        f"INSERT INTO classic.guestbook VALUES {rows};\n"
        "FLUSH PRIVILEGES;\n"
        f"CREATE USER 'classic'@'localhost' IDENTIFIED BY '{DB_PASSWORD}';\n"
        f"CREATE USER 'classic'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}';\n"
        "GRANT ALL PRIVILEGES ON classic.* TO 'classic'@'localhost';\n"
        "GRANT ALL PRIVILEGES ON classic.* TO 'classic'@'127.0.0.1';\n"
    )
    with chroot_mounts(tree):
        chroot(
            tree,
            ["/usr/sbin/mariadbd", "--bootstrap", "--user=mysql", "--datadir=/var/lib/mysql",
             "--log-error=/tmp/mariadb-bootstrap.log", "--skip-networking"],
            input=sql.encode(),
        )  # fmt: skip
    if not (tree / "var/lib/mysql/classic/guestbook.frm").exists():
        raise SampleBuildError("mariadb bootstrap did not create classic.guestbook")
    (tree / "tmp/mariadb-bootstrap.log").unlink(missing_ok=True)

    crontab_gid = int(next(ln.split(":")[2] for ln in (tree / "etc/group").read_text().splitlines()
                           if ln.startswith("crontab:")))  # fmt: skip
    spool = tree / "var/spool/cron/crontabs"
    spool.mkdir(parents=True, exist_ok=True)
    os.chown(spool, 0, crontab_gid)
    os.chmod(spool, 0o1730)
    _write(
        tree,
        "/var/spool/cron/crontabs/www-data",
        "*/10 * * * * /usr/bin/php /var/www/classic/index.php >/dev/null 2>&1\n",
        0o600,
        www_data,
        crontab_gid,
    )
    (tree / "usr/sbin/policy-rc.d").unlink(missing_ok=True)


def make_disk(tree: Path, raw: Path) -> None:
    """MBR + one ext4 partition written by ``mkfs.ext4 -d`` at the partition's offset."""
    with open(raw, "wb") as fh:
        fh.truncate(DISK_BYTES)
    table = f"label: dos\nlabel-id: 0x4c414d50\nstart={PART_START}, type=83, bootable\n"
    run(["sfdisk", "--quiet", raw], input=table.encode())
    fs_bytes = DISK_BYTES - PART_START * 512
    run(
        ["mkfs.ext4", "-q", "-F", "-L", "classic-root", "-U", ROOT_UUID, "-E",
         f"offset={PART_START * 512},root_owner=0:0", "-d", tree, raw, f"{fs_bytes // 1024}k"],
        env={"E2FSPROGS_FAKE_TIME": "1700000000"},
    )  # fmt: skip


def build(out: Path, cache_dir: Path, progress: Progress = _noop) -> dict[str, Any]:
    t0 = time.monotonic()
    tarball = debootstrap.rootfs_tarball(PACKAGES, cache_dir, progress=progress)
    t_boot = time.monotonic() - t0
    tree = out / "work" / "tree"
    debootstrap.extract(tarball, tree)
    try:
        customise(tree, progress)
        tree_bytes = dir_used_bytes(tree)
        raw = out / "classic.raw"
        progress("mkfs.ext4 -d into the MBR partition")
        t1 = time.monotonic()
        make_disk(tree, raw)
        t_disk = time.monotonic() - t1
    finally:
        debootstrap.unmount_all(tree)
        shutil.rmtree(out / "work", ignore_errors=True)
    progress("exporting vmdk (3 subformats), vhd, vhdx, vdi, qcow2")
    t2 = time.monotonic()
    for sub in ("2gb", "flat"):
        (out / sub).mkdir()
    files = export.convert_many(
        raw,
        {
            "vmdk": (out / "classic.vmdk", ["-O", "vmdk", "-o", "subformat=monolithicSparse"]),
            "vmdk-2gb": (out / "2gb/classic.vmdk", ["-O", "vmdk", "-o", "subformat=twoGbMaxExtentSparse"]),
            "vmdk-flat": (out / "flat/classic.vmdk", ["-O", "vmdk", "-o", "subformat=monolithicFlat"]),
            "vhd": (out / "classic.vhd", ["-O", "vpc", "-o", "subformat=dynamic,force_size=on"]),
            "vhdx": (out / "classic.vhdx", ["-O", "vhdx"]),
            "vdi": (out / "classic.vdi", ["-O", "vdi"]),
            "qcow2": (out / "classic.qcow2", ["-O", "qcow2"]),
        },
    )
    files["raw"] = raw
    t_export = time.monotonic() - t2
    facts: dict[str, Any] = {
        "hostname": HOSTNAME,
        "os": {"id": "debian", "version_id": "12", "codename": "bookworm"},
        "packages": sorted(PACKAGES),
        "services": {
            "apache2": {"unit": "apache2.service", "ports": [80], "enabled": True,
                        "document_root": "/var/www/classic"},
            "mariadb": {"unit": "mariadb.service", "ports": [3306], "enabled": True,
                        "datadir": "/var/lib/mysql", "bind_address": "127.0.0.1"},
            "memcached": {"unit": "memcached.service", "ports": [11211], "enabled": True},
            "ssh": {"unit": "ssh.service", "ports": [22], "enabled": True},
            "cron": {"unit": "cron.service", "ports": [], "enabled": True},
        },  # fmt: skip
        "ports": {"apache2": 80, "mariadb": 3306, "memcached": 11211, "ssh": 22},
        "passwords": {"mariadb": DB_PASSWORD},
        "secrets": [DB_PASSWORD],
        "database": {"engine": "mariadb", "name": "classic", "table": "guestbook", "rows": GUESTBOOK_ROWS},
        "partition_table": "dos",
        "fstab": {"/": f"UUID={ROOT_UUID}"},
        "filesystems": {"/": "ext4"},
        "sizes": {"virtual_bytes": DISK_BYTES, "tree_bytes": tree_bytes},
        "build_seconds": {"debootstrap_or_cache": round(t_boot, 1), "disk": round(t_disk, 1),
                          "export": round(t_export, 1), "total": round(time.monotonic() - t0, 1)},
    }  # fmt: skip
    (out / "facts.json").write_text(json.dumps(facts, indent=2, sort_keys=True))
    return {k: str(v.relative_to(out)) for k, v in files.items()}


RECIPE = Recipe(
    name="classic",
    description="Debian 12 LAMP VM: Apache + mod_php, MariaDB, memcached; MBR + ext4; every disk format",
    build=build,
    params={"packages": sorted(PACKAGES), "disk": DISK_BYTES},
)
