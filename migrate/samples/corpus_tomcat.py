"""corpus-tomcat: Tomcat 10 + a WAR using a JDBC DataSource + PostgreSQL 15 on a second whole-disk xfs.

The stack of issue 13 that failed: the context XML carries the database password (it must never be
baked into an image), Tomcat runs from Debian's ``tomcat-start.sh`` wrapper, the JSP compiles at
runtime inside Tomcat and reaches PostgreSQL through the DataSource. The guest has two disks (GPT
root; the PostgreSQL data on a filesystem without a partition table), shipped as two VHDX files.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from migrate.samples import export
from migrate.samples._common import Progress, SampleBuildError, _noop
from migrate.samples._corpus import (
    MiB,
    base_identity,
    corpus_recipe,
    finish_tree,
    ids,
    keep_units,
    mkfs_ext4,
    mkfs_xfs,
    partitioned_raw,
    pg_single,
    prune_packages,
    split_out,
    write,
)
from migrate.samples.debootstrap import chroot_mounts

HOSTNAME = "orders-vm04"
PACKAGES = ["tomcat10", "libpostgresql-jdbc-java", "postgresql", "cron", "systemd", "systemd-sysv", "dbus",
            "procps", "iproute2", "ca-certificates"]  # fmt: skip
UNITS = ["tomcat10.service", "postgresql.service", "cron.service"]
DB_NAME, DB_USER, DB_PASSWORD = "orders", "orders_app", "Tc-c0rpus-Jdbc-S3cret"
ROOT_UUID = "6c1f5b2d-2e3f-4a71-9b82-1d3e4f5a6b71"
DISK1_MB, DISK2_MB = 2048, 320
ORDERS = [("ACME Corp", 125000), ("Globex", 9950), ("Initech", 45000), ("Umbrella", 300), ("Hooli", 78125)]

CONTEXT_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- the orders web application and its database -->
<Context>
  <Resource name="jdbc/orders" auth="Container" type="javax.sql.DataSource"
            driverClassName="org.postgresql.Driver"
            url="jdbc:postgresql://localhost:5432/{DB_NAME}"
            username="{DB_USER}" password="{DB_PASSWORD}"
            maxTotal="10" maxIdle="2" maxWaitMillis="10000"/>
</Context>
"""

WEB_XML = """<?xml version="1.0" encoding="UTF-8"?>
<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0">
  <display-name>orders</display-name>
  <welcome-file-list><welcome-file>index.jsp</welcome-file></welcome-file-list>
  <resource-ref>
    <res-ref-name>jdbc/orders</res-ref-name>
    <res-type>javax.sql.DataSource</res-type>
    <res-auth>Container</res-auth>
  </resource-ref>
</web-app>
"""

# One line of directives then code only, so the body is exactly what out.print writes.
INDEX_JSP = (
    '<%@ page contentType="text/plain; charset=UTF-8" import="javax.naming.InitialContext,javax.sql.DataSource,'
    'java.sql.*" %><% DataSource ds = (DataSource) new InitialContext().lookup("java:comp/env/jdbc/orders"); '
    "try (Connection c = ds.getConnection(); Statement s = c.createStatement(); "
    'ResultSet r = s.executeQuery("SELECT id, customer, total_cents FROM orders ORDER BY id")) { '
    'out.print("orders\\n"); while (r.next()) { out.print(r.getInt(1) + " " + r.getString(2) + " " '
    '+ r.getInt(3) + "\\n"); } } %>'
)


def expected_page() -> str:
    """What GET /orders/ answers in the VM: the seeded rows as the JSP prints them."""
    return "orders\n" + "".join(f"{i} {c} {t}\n" for i, (c, t) in enumerate(ORDERS, 1))


def war_bytes() -> bytes:
    """The WAR (a zip: META-INF/MANIFEST.MF, index.jsp, WEB-INF/web.xml), with fixed timestamps."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in (("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nCreated-By: migrate.samples\r\n\r\n"),
                           ("index.jsp", INDEX_JSP), ("WEB-INF/web.xml", WEB_XML)):  # fmt: skip
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), text)
    return buf.getvalue()


def customise(tree: Path, progress: Progress = _noop) -> dict[str, Any]:
    removed = prune_packages(tree, PACKAGES, progress)
    base_identity(tree, HOSTNAME, "2b4c6d8e0f1a2b4c6d8e0f1a2b4c6d04",
                  f"UUID={ROOT_UUID} / ext4 errors=remount-ro 0 1\n"
                  "LABEL=pgdata /var/lib/postgresql xfs defaults,noatime 0 2\n")  # fmt: skip
    keep_units(tree, UNITS)
    uid, gid = ids(tree, "tomcat")
    write(tree, "/etc/tomcat10/Catalina/localhost/orders.xml", CONTEXT_XML, 0o640, 0, gid)
    write(tree, "/var/lib/tomcat10/webapps/orders.war", war_bytes(), 0o644, uid, gid)
    lib = tree / "var/lib/tomcat10/lib"
    lib.mkdir(parents=True, exist_ok=True)
    link = lib / "postgresql.jar"
    link.unlink(missing_ok=True)
    link.symlink_to("/usr/share/java/postgresql.jar")
    if not (tree / "usr/share/java/postgresql.jar").exists():
        raise SampleBuildError("libpostgresql-jdbc-java did not install /usr/share/java/postgresql.jar")

    progress("postgresql: role, database and rows (single-user mode)")
    values = ", ".join(f"({i}, '{c}', {t})" for i, (c, t) in enumerate(ORDERS, 1))
    with chroot_mounts(tree):
        pg_single(tree, "postgres", f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_PASSWORD}';\n"
                                    f"CREATE DATABASE {DB_NAME} OWNER {DB_USER};\n")  # fmt: skip
        pg_single(tree, DB_NAME, "CREATE TABLE orders (id integer PRIMARY KEY, customer text NOT NULL, "
                                 f"total_cents integer NOT NULL);\nINSERT INTO orders VALUES {values};\n"
                                 f"ALTER TABLE orders OWNER TO {DB_USER};\nCHECKPOINT;\n")  # fmt: skip
        count = pg_single(tree, DB_NAME, "SELECT count(*) AS n FROM orders;\n")
    if f'n = "{len(ORDERS)}"' not in count:
        raise SampleBuildError(f"postgres row count check failed: {count[-500:]}")
    finish_tree(tree)
    pg_uid, _ = ids(tree, "postgres")
    return {
        "hostname": HOSTNAME,
        "packages": sorted(PACKAGES),
        "purged_packages": removed,
        "services": {
            "tomcat": {"unit": "tomcat10.service", "ports": [8080], "user": "tomcat",
                       "context": "/etc/tomcat10/Catalina/localhost/orders.xml",
                       "war": "/var/lib/tomcat10/webapps/orders.war"},
            "postgresql": {"unit": "postgresql.service", "ports": [5432], "version": "15",
                           "data_directory": "/var/lib/postgresql/15/main", "bind_address": "localhost"},
            "cron": {"unit": "cron.service", "ports": []},
        },  # fmt: skip
        "kinds": ["tomcat", "postgresql"],
        "passwords": {"postgresql": DB_PASSWORD},
        "secrets": [DB_PASSWORD],
        "secret_files": ["/etc/tomcat10/Catalina/localhost/orders.xml"],
        "database": {"engine": "postgresql", "name": DB_NAME, "role": DB_USER, "table": "orders",
                     "rows": len(ORDERS)},
        "probe": {"service": "tomcat", "port": 8080, "path": "/orders/", "body": expected_page()},
        "partition_table": "gpt",
        "disks": 2,
        "filesystems": {"/": "ext4", "/var/lib/postgresql": "xfs"},
        "fstab": {"/": f"UUID={ROOT_UUID}", "/var/lib/postgresql": "LABEL=pgdata"},
        "users": {"postgres": {"uid": pg_uid}, "tomcat": {"uid": uid, "gid": gid}},
    }


def make_disks(tree: Path, out: Path, progress: Progress = _noop) -> dict[str, Any]:
    """Disk 1: GPT with one ext4 root partition. Disk 2: xfs on the whole disk (no partition table)."""
    work = out / "work"
    pgdata = split_out(tree, "/var/lib/postgresql", work / "fs-pg")
    root_raw, pg_raw = out / "orders-disk1.raw", out / "orders-disk2.raw"
    partitioned_raw(root_raw, DISK1_MB * MiB, "gpt", [(1, DISK1_MB - 2, "linux")])
    progress("mkfs.ext4 -d root; mkfs.xfs (loop) for the PostgreSQL disk")
    mkfs_ext4(tree, root_raw, (DISK1_MB - 2) * MiB, label="root", uuid=ROOT_UUID, offset=1 * MiB)
    mkfs_xfs(pgdata, pg_raw, DISK2_MB * MiB, label="pgdata")
    return {"raw": root_raw, "raw2": pg_raw}


def export_disks(out: Path, disks: dict[str, Any], progress: Progress = _noop) -> dict[str, Path]:
    progress("exporting two vhdx disks")
    files = export.convert_many(disks["raw"], {"vhdx": (out / "orders-vm04-disk1.vhdx", ["-O", "vhdx"])})
    files |= export.convert_many(disks["raw2"], {"vhdx-2": (out / "orders-vm04-disk2.vhdx", ["-O", "vhdx"])})
    disks["raw"].unlink()
    disks["raw2"].unlink()
    return files


RECIPE = corpus_recipe(
    "corpus-tomcat",
    "Debian 12 Tomcat 10 + WAR (JDBC DataSource) + PostgreSQL 15 on a second whole-disk xfs; 2 vhdx",
    PACKAGES, customise=customise, make_disks=make_disks, export=export_disks, disks=[DISK1_MB, DISK2_MB],
)
