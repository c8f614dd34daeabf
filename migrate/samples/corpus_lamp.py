"""corpus-lamp: Apache 2.4 + mod_php 8.2 + MariaDB + memcached, on MBR + LVM (ext4), shipped as VMDK.

The stack of issue 13 that failed: the page reaches MariaDB as ``mysqli("localhost", ...)`` (the
Unix socket, which no plan can rewrite), MariaDB is bound to 127.0.0.1, mod_ssl is not enabled so
Debian's ``Listen 443`` inside ``<IfModule ssl_module>`` does not listen, and mariadb.service's
ExecStart carries ``$MYSQLD_OPTS`` and the ``$_WSREP_*`` variables. The page also reads memcached.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migrate.samples import export
from migrate.samples._common import Progress, SampleBuildError, _noop
from migrate.samples._corpus import (
    MiB,
    base_identity,
    corpus_recipe,
    finish_tree,
    keep_units,
    lvm_on_partition,
    mkfs_ext4,
    partitioned_raw,
    place,
    prune_packages,
    split_out,
    write,
)
from migrate.samples.debootstrap import chroot, chroot_mounts

HOSTNAME = "lamp-vm02"
PACKAGES = ["apache2", "libapache2-mod-php8.2", "php8.2-mysql", "php-memcached", "mariadb-server", "memcached",
            "cron", "systemd", "systemd-sysv", "dbus", "procps", "iproute2", "ca-certificates"]  # fmt: skip
UNITS = ["apache2.service", "mariadb.service", "memcached.service", "cron.service"]
DB_NAME, DB_USER, DB_PASSWORD = "inventory", "invapp", "Lp-c0rpus-Maria-S3cret"
MOTD = "stock figures cached by memcached"
BOOT_UUID = "5b0e4a1c-1d2e-4f60-8a71-0c2d3e4f5a61"
ROOT_UUID = "5b0e4a1c-1d2e-4f60-8a71-0c2d3e4f5a62"
VAR_UUID = "5b0e4a1c-1d2e-4f60-8a71-0c2d3e4f5a63"
DISK_MB = 2048
BOOT_MB = 128
LV_MB = {"root": 1100, "var": 560}

PARTS = [  # (item, quantity)
    ("bolts M6", 1200), ("nuts M6", 950), ("washers 6mm", 3000), ("hinges", 48), ("brackets L", 310),
    ("screws 4x30", 5400), ("anchors 8mm", 720),
]  # fmt: skip

SITE = """<VirtualHost *:80>
    ServerName lamp.example.internal
    DocumentRoot /var/www/inventory
    <Directory /var/www/inventory>
        Options -Indexes
        AllowOverride None
        Require all granted
    </Directory>
    ErrorLog ${APACHE_LOG_DIR}/inventory-error.log
    CustomLog ${APACHE_LOG_DIR}/inventory-access.log combined
</VirtualHost>
"""

CONFIG_PHP = f"""<?php
// database and cache settings of the inventory page
define('DB_NAME', '{DB_NAME}');
define('DB_USER', '{DB_USER}');
define('DB_PASSWORD', '{DB_PASSWORD}');
define('CACHE_HOST', '127.0.0.1');
define('CACHE_PORT', 11211);
"""

# The page is deterministic: the rows in id order, then a value written to and read back from memcached.
INDEX_PHP = """<?php
require __DIR__ . '/config.php';
$db = new mysqli('localhost', DB_USER, DB_PASSWORD, DB_NAME);
$mc = new Memcached();
$mc->addServer(CACHE_HOST, CACHE_PORT);
$mc->set('inventory:motd', 'MOTD');
echo "inventory\\n";
foreach ($db->query('SELECT id, item, quantity FROM parts ORDER BY id') as $r) {
    echo $r['id'] . ' ' . $r['item'] . ' ' . $r['quantity'] . "\\n";
}
echo 'cache: ' . $mc->get('inventory:motd') . "\\n";
""".replace("'MOTD'", repr(MOTD))


def expected_page() -> str:
    """What GET / answers in the VM: derived from the rows the recipe seeds and the page's code."""
    rows = "".join(f"{i} {item} {qty}\n" for i, (item, qty) in enumerate(PARTS, 1))
    return f"inventory\n{rows}cache: {MOTD}\n"


def customise(tree: Path, progress: Progress = _noop) -> dict[str, Any]:
    removed = prune_packages(tree, PACKAGES, progress)
    base_identity(tree, HOSTNAME, "1a3b5c7d9e0f1a3b5c7d9e0f1a3b5c02",
                  f"/dev/mapper/vg_lamp-root /     ext4 errors=remount-ro 0 1\n"
                  f"UUID={BOOT_UUID} /boot ext4 defaults 0 2\n"
                  f"UUID={VAR_UUID} /var  ext4 defaults,noatime 0 2\n")  # fmt: skip
    keep_units(tree, UNITS)
    mods = tree / "etc/apache2/mods-enabled"
    if not (mods / "php8.2.load").exists():  # the postinst enables it unless the MPM is threaded
        chroot(tree, ["a2dismod", "-q", "mpm_event"])
        chroot(tree, ["a2enmod", "-q", "mpm_prefork", "php8.2"])
    if (mods / "ssl.load").exists():
        raise SampleBuildError("mod_ssl must stay disabled in corpus-lamp")
    write(tree, "/etc/apache2/sites-available/inventory.conf", SITE)
    chroot(tree, ["a2dissite", "-q", "000-default"])
    chroot(tree, ["a2ensite", "-q", "inventory"])
    write(tree, "/var/www/inventory/index.php", INDEX_PHP)
    write(tree, "/var/www/inventory/config.php", CONFIG_PHP, 0o640, 0, 33)
    write(tree, "/etc/mysql/mariadb.conf.d/60-inventory.cnf",
          "[mysqld]\nbind-address = 127.0.0.1\nport = 3306\nmax_connections = 60\n")  # fmt: skip

    progress("mariadb: seeding the inventory database (bootstrap mode, no network)")
    values = ", ".join(f"({i}, '{item}', {qty})" for i, (item, qty) in enumerate(PARTS, 1))
    sql = (
        f"CREATE DATABASE {DB_NAME};\n"
        f"CREATE TABLE {DB_NAME}.parts (id INT PRIMARY KEY, item VARCHAR(64) NOT NULL, quantity INT NOT NULL);\n"
        f"INSERT INTO {DB_NAME}.parts VALUES {values};\n"
        "FLUSH PRIVILEGES;\n"
        f"CREATE USER '{DB_USER}'@'localhost' IDENTIFIED BY '{DB_PASSWORD}';\n"
        f"GRANT SELECT ON {DB_NAME}.* TO '{DB_USER}'@'localhost';\n"
    )
    with chroot_mounts(tree):
        chroot(tree, ["/usr/sbin/mariadbd", "--bootstrap", "--user=mysql", "--datadir=/var/lib/mysql",
                      "--log-error=/tmp/bootstrap.log", "--skip-networking"], input=sql.encode())  # fmt: skip
        count = chroot(tree, ["/usr/sbin/mariadbd", "--bootstrap", "--user=mysql", "--datadir=/var/lib/mysql",
                              "--log-error=/tmp/bootstrap.log", "--skip-networking"],
                       input=f"SELECT COUNT(*) INTO OUTFILE '/tmp/count' FROM {DB_NAME}.parts;\n".encode())  # fmt: skip
    del count
    got = (tree / "tmp/count").read_text().strip()
    if got != str(len(PARTS)):
        raise SampleBuildError(f"mariadb bootstrap: parts has {got} rows, expected {len(PARTS)}")
    for junk in ("tmp/count", "tmp/bootstrap.log"):
        (tree / junk).unlink(missing_ok=True)
    finish_tree(tree)
    return {
        "hostname": HOSTNAME,
        "packages": sorted(PACKAGES),
        "purged_packages": removed,
        "services": {
            "apache2": {"unit": "apache2.service", "ports": [80], "enabled": True,
                        "document_root": "/var/www/inventory", "not_listening": [443]},
            "mariadb": {"unit": "mariadb.service", "ports": [3306], "bind_address": "127.0.0.1",
                        "socket": "/run/mysqld/mysqld.sock", "datadir": "/var/lib/mysql"},
            "memcached": {"unit": "memcached.service", "ports": [11211], "bind_address": "127.0.0.1"},
            "cron": {"unit": "cron.service", "ports": []},
        },  # fmt: skip
        "kinds": ["apache", "php", "mariadb", "memcached"],
        "passwords": {"mariadb": DB_PASSWORD},
        "secrets": [DB_PASSWORD],
        "secret_files": ["/var/www/inventory/config.php"],
        "database": {"engine": "mariadb", "name": DB_NAME, "table": "parts", "rows": len(PARTS)},
        "probe": {"service": "apache2", "port": 80, "path": "/", "body": expected_page()},
        "partition_table": "dos",
        "lvm": {"vg": "vg_lamp", "lvs": LV_MB},
        "filesystems": {"/": "ext4", "/boot": "ext4", "/var": "ext4"},
    }


def make_disks(tree: Path, out: Path, progress: Progress = _noop) -> dict[str, Any]:
    """MBR: /boot (ext4) + an LVM partition holding vg_lamp/root and vg_lamp/var (both ext4)."""
    work = out / "work"
    boot = split_out(tree, "/boot", work / "fs-boot")
    var = split_out(tree, "/var", work / "fs-var")
    raw = out / "lamp.raw"
    pv_start = 1 + BOOT_MB
    partitioned_raw(raw, DISK_MB * MiB, "dos", [(1, BOOT_MB, "83"), (pv_start, DISK_MB - pv_start - 1, "8e")])
    offsets = lvm_on_partition(raw, 2, pv_start, "vg_lamp", LV_MB, progress)
    progress("mkfs.ext4 -d: boot, root, var")
    mkfs_ext4(boot, raw, BOOT_MB * MiB, label="boot", uuid=BOOT_UUID, offset=1 * MiB)
    for lv, src, uuid in (("root", tree, ROOT_UUID), ("var", var, VAR_UUID)):
        img = work / f"{lv}.img"
        mkfs_ext4(src, img, LV_MB[lv] * MiB, label=lv, uuid=uuid)
        place(img, raw, *offsets[lv])
        img.unlink()
    return {"raw": raw}


def export_disks(out: Path, disks: dict[str, Any], progress: Progress = _noop) -> dict[str, Path]:
    progress("exporting vmdk (monolithicSparse) and vdi")
    files = export.convert_many(disks["raw"], {
        "vmdk": (out / "lamp-vm02.vmdk", ["-O", "vmdk", "-o", "subformat=monolithicSparse"]),
        "vdi": (out / "lamp-vm02.vdi", ["-O", "vdi"]),
    })  # fmt: skip
    disks["raw"].unlink()
    return files


RECIPE = corpus_recipe(
    "corpus-lamp",
    "Debian 12 Apache + mod_php 8.2 (mysqli over the socket) + MariaDB + memcached; MBR + LVM; vmdk, vdi",
    PACKAGES, customise=customise, make_disks=make_disks, export=export_disks, disk=DISK_MB, lv=LV_MB,
)
