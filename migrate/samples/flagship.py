"""The flagship sample: a Debian 12 "shop" VM (nginx -> python app -> PostgreSQL + Redis) on GPT+LVM.

Everything in it is real: packages come from the Debian mirror through debootstrap, the PostgreSQL
cluster is created by Debian's own postinst and then filled by running the real server in
single-user mode inside the chroot, and the disk (GPT, LVM with ext4 and xfs logical volumes) is
made by libguestfs because the host kernel has no device-mapper.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from migrate.samples import debootstrap, export
from migrate.samples._common import Progress, Recipe, SampleBuildError, _noop, dir_used_bytes, run
from migrate.samples.debootstrap import chroot, chroot_mounts

PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "nginx", "postgresql", "redis-server", "python3",
    "python3-psycopg2", "python3-redis", "cron", "openssh-server", "sysbench", "ca-certificates",
    "procps", "iproute2", "sudo",
]  # fmt: skip

HOSTNAME = "shop-vm01"
PG_PASSWORD = "Pg-fl4gship-S3cret"
REDIS_PASSWORD = "Rd-fl4gship-S3cret"
SHOP_UID = SHOP_GID = 990
ITEM_ROWS = 25
DISK_BYTES = 3 * 1024**3
BOOT_UUID = "3b6f0c1e-6a51-4c3e-9f0a-5d1c2b7e4a01"
ROOT_UUID = "7d2e5c10-1f4b-4a77-8c39-0e6b1a2f9c02"
SRV_UUID = "c4a9e2d7-2b8f-4e15-a6d3-9f1e0b5c7d03"
# chosen at mkfs time (-m uuid=): set afterwards with xfs_admin it would add the meta_uuid feature,
# which the native xfs reader refuses; fixed so every build of the sample inspects the same
VAR_UUID = "5e8d1f3a-9c27-4b64-8a1e-2f7c0d9b6e04"
LV_MB = {"root": 1400, "var": 1000, "srv": 120}  # sized a little above use; see facts["sizes"]

APP_PY = r'''#!/usr/bin/env python3
"""shop: a tiny inventory API. Reads DATABASE_URL, REDIS_URL and SHOP_DATA_DIR from the environment."""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import redis

DATABASE_URL = os.environ["DATABASE_URL"]
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
DATA_DIR = os.environ.get("SHOP_DATA_DIR", "/var/lib/shop")
UPLOADS = os.path.join(DATA_DIR, "uploads")
LISTEN = ("0.0.0.0", int(os.environ.get("SHOP_PORT", "8080")))


def list_items():
    with psycopg2.connect(DATABASE_URL) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, name, price_cents, stock FROM items ORDER BY id")
        rows = [dict(id=r[0], name=r[1], price_cents=r[2], stock=r[3]) for r in cur.fetchall()]
    hits = redis.Redis.from_url(REDIS_URL).incr("shop:items:hits")
    return {"items": rows, "hits": hits}


def list_files():
    out = []
    for base, _dirs, files in os.walk(UPLOADS):
        for name in sorted(files):
            path = os.path.join(base, name)
            out.append({"path": os.path.relpath(path, UPLOADS), "size": os.path.getsize(path)})
    return sorted(out, key=lambda f: f["path"])


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        try:
            if self.path == "/healthz":
                self._send(200, "ok", "text/plain")
            elif self.path == "/api/items":
                self._send(200, json.dumps(list_items()))
            elif self.path == "/api/files":
                self._send(200, json.dumps(list_files()))
            else:
                self._send(404, json.dumps({"error": "not found"}))
        except Exception as exc:  # report, keep serving
            self._send(500, json.dumps({"error": type(exc).__name__}))


if __name__ == "__main__":
    ThreadingHTTPServer(LISTEN, Handler).serve_forever()
'''

SHOP_UNIT = """[Unit]
Description=Shop inventory API
After=network.target postgresql.service redis-server.service
Requires=postgresql.service
Wants=redis-server.service

[Service]
Type=simple
User=shop
Group=shop
WorkingDirectory=/opt/shop
EnvironmentFile=/etc/shop/shop.env
ExecStart=/usr/bin/python3 /opt/shop/app.py
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target
"""

NGINX_SITE = """upstream shop_app {
    server 127.0.0.1:8080;
}

server {
    listen 80 default_server;
    listen [::]:80 default_server;
    server_name shop.example.internal shop-vm01;

    root /var/www/shop;
    index index.html;

    access_log /var/log/nginx/shop.access.log;
    error_log /var/log/nginx/shop.error.log;

    location = /index.html {
        try_files $uri =404;
    }

    location /static/ {
        alias /var/www/shop/static/;
        expires 1h;
    }

    location / {
        proxy_pass http://127.0.0.1:8080;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }

    location /api/ {
        proxy_pass http://shop_app;
        proxy_set_header Host $host;
    }
}
"""

INDEX_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Shop</h1><p>Inventory lives at <a href="/api/items">/api/items</a>.</p></body></html>
"""

ITEM_NAMES = [
    "anvil", "bolt", "clamp", "drill", "easel", "file", "gauge", "hammer", "inkpad", "jigsaw",
    "knife", "ladder", "mallet", "nail", "oiler", "pliers", "quill", "rasp", "saw", "tape",
    "umbrella", "vise", "wrench", "xacto", "yardstick",
]  # fmt: skip


def _items() -> list[tuple[int, str, int, int]]:
    return [(i + 1, name, 199 + 137 * i, (i * 7) % 40) for i, name in enumerate(ITEM_NAMES[:ITEM_ROWS])]


def _det_bytes(seed: str, n: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])


def _png(width: int = 16, height: int = 16) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(
        b"\x00" + b"".join(bytes((x * 16 % 256, y * 16 % 256, 160)) for x in range(width)) for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


UPLOADS: dict[str, bytes] = {
    "logo.png": _png(),
    "catalogue.bin": _det_bytes("catalogue", 48 * 1024),
    "readme.txt": b"Uploads of the shop application. Do not delete.\n",
    "2024/invoice-0001.bin": _det_bytes("invoice-0001", 9000),
    "2024/invoice-0002.bin": _det_bytes("invoice-0002", 123),
}


def _write(tree: Path, guest: str, text: str | bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
    p = tree / guest.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode()
    p.write_bytes(text)
    os.chown(p, uid, gid)
    os.chmod(p, mode)


def _group_id(tree: Path, name: str) -> int:
    for line in (tree / "etc/group").read_text().splitlines():
        parts = line.split(":")
        if parts[0] == name:
            return int(parts[2])
    raise SampleBuildError(f"group {name} missing from guest", path="/etc/group")


def _enable(tree: Path, unit: str, target: str = "multi-user.target", *, src: str | None = None) -> None:
    wants = tree / "etc/systemd/system" / f"{target}.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / unit
    if link.is_symlink():
        link.unlink()
    link.symlink_to(src or f"/etc/systemd/system/{unit}")


def customise(tree: Path, progress: Progress = _noop) -> dict[str, Any]:
    """Turn the debootstrapped tree into the shop VM; returns the facts that are known afterwards."""
    chroot(tree, ["groupadd", "--system", "-g", str(SHOP_GID), "shop"])
    chroot(
        tree,
        ["useradd", "--system", "-u", str(SHOP_UID), "-g", str(SHOP_GID), "-d", "/var/lib/shop",
         "-s", "/usr/sbin/nologin", "-c", "Shop application", "shop"],
    )  # fmt: skip
    chroot(tree, ["useradd", "-m", "-u", "1000", "-s", "/bin/bash", "-G", "sudo", "-c", "Ops", "ops"])

    _write(tree, "/etc/hostname", f"{HOSTNAME}\n")
    _write(
        tree,
        "/etc/hosts",
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}.example.internal {HOSTNAME}\n"
        "10.20.0.15\tdb-backup.example.internal db-backup\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    )
    _write(tree, "/etc/machine-id", "5f1c0ffee0ddba11ad5eed0000f1a651\n", 0o444)
    _write(tree, "/etc/systemd/network/10-eth0.network", "[Match]\nName=eth0 ens3\n\n[Network]\nDHCP=yes\n")
    _enable(tree, "systemd-networkd.service", src="/lib/systemd/system/systemd-networkd.service")
    _write(
        tree,
        "/etc/fstab",
        "# /etc/fstab: static file system information.\n"
        "# <file system>        <mount point>  <type>  <options>          <dump> <pass>\n"
        "/dev/mapper/vg0-root   /              ext4    errors=remount-ro  0      1\n"
        f"UUID={BOOT_UUID} /boot  ext4    defaults,nodev     0      2\n"
        "/dev/vg0/var           /var           xfs     defaults           0      2\n"
        "LABEL=srvdata          /srv           ext4    defaults,noatime   0      2\n"
        "tmpfs                  /tmp           tmpfs   nosuid,nodev       0      0\n",
    )

    # the application
    _write(tree, "/opt/shop/app.py", APP_PY, 0o755)
    _write(tree, "/opt/shop/requirements.txt", "psycopg2==2.9.5\nredis==4.3.4\n")
    _write(tree, "/etc/systemd/system/shop.service", SHOP_UNIT)
    _enable(tree, "shop.service")
    database_url = f"postgresql://shop:{PG_PASSWORD}@localhost:5432/shop"
    redis_url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0"
    _write(
        tree,
        "/etc/shop/shop.env",
        f"DATABASE_URL={database_url}\nREDIS_URL={redis_url}\nSHOP_DATA_DIR=/var/lib/shop\n",
        0o640,
        0,
        SHOP_GID,
    )
    os.chmod(tree / "etc/shop", 0o750)
    os.chown(tree / "etc/shop", 0, SHOP_GID)
    upload_sums = {}
    for rel, data in UPLOADS.items():
        guest = f"/var/lib/shop/uploads/{rel}"
        _write(tree, guest, data, 0o640, SHOP_UID, SHOP_GID)
        upload_sums[guest] = hashlib.sha256(data).hexdigest()
    for d in ("var/lib/shop", "var/lib/shop/uploads", "var/lib/shop/uploads/2024"):
        os.chown(tree / d, SHOP_UID, SHOP_GID)
        os.chmod(tree / d, 0o750)
    log_dir = tree / "var/log/shop"
    log_dir.mkdir(parents=True, exist_ok=True)
    os.chown(log_dir, SHOP_UID, SHOP_GID)

    # nginx
    _write(tree, "/etc/nginx/sites-available/shop", NGINX_SITE)
    enabled = tree / "etc/nginx/sites-enabled"
    for p in enabled.iterdir():
        p.unlink()
    (enabled / "shop").symlink_to("/etc/nginx/sites-available/shop")
    _write(tree, "/var/www/shop/index.html", INDEX_HTML)
    _write(tree, "/var/www/shop/static/robots.txt", "User-agent: *\nDisallow: /api/\n")

    # redis
    conf = tree / "etc/redis/redis.conf"
    lines = conf.read_text().splitlines()
    out = []
    for line in lines:
        s = line.strip()
        if s.startswith(("requirepass ", "# requirepass ")):
            continue
        if s.startswith("port "):
            line = "port 6379"
        elif s.startswith("dir "):
            line = "dir /var/lib/redis"
        elif s.startswith("bind "):
            line = "bind 127.0.0.1 -::1"
        out.append(line)
    out.append(f"requirepass {REDIS_PASSWORD}")
    conf.write_text("\n".join(out) + "\n")  # keeps owner redis:redis and mode 0640 from the package

    # cron
    _write(
        tree,
        "/etc/cron.d/shop",
        "SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n"
        "# nightly cleanup of stale uploads\n"
        "15 3 * * * shop find /var/lib/shop/uploads -name '*.tmp' -mtime +7 -delete\n",
    )
    crontab_gid = _group_id(tree, "crontab")
    spool = tree / "var/spool/cron/crontabs"
    spool.mkdir(parents=True, exist_ok=True)
    os.chown(spool, 0, crontab_gid)
    os.chmod(spool, 0o1730)
    _write(
        tree,
        "/var/spool/cron/crontabs/root",
        "# DO NOT EDIT THIS FILE - edit the master and reinstall.\n"
        "MAILTO=ops@example.internal\n"
        "30 2 * * * /usr/bin/pg_dumpall_wrapper >/dev/null 2>&1 || true\n"
        "0 4 * * 0 tar -czf /srv/backups/shop-uploads.tgz -C /var/lib/shop uploads\n",
        0o600,
        0,
        crontab_gid,
    )

    # /srv: a separate LV with real content
    _write(tree, "/srv/backups/README", "Weekly archives of /var/lib/shop/uploads (root crontab).\n")
    csv = "id,name,price_cents,stock\n" + "".join(f"{i},{n},{p},{s}\n" for i, n, p, s in _items())
    _write(tree, "/srv/exports/items.csv", csv)

    # PostgreSQL: the real server in single-user mode creates the role, the database and the rows
    progress("postgresql: creating role, database and rows (single-user mode)")
    pg_bin = "/usr/lib/postgresql/15/bin/postgres"
    pg_args = ["-D", "/var/lib/postgresql/15/main", "-c", "config_file=/etc/postgresql/15/main/postgresql.conf"]
    values = ", ".join(f"({i}, '{n}', {p}, {s})" for i, n, p, s in _items())
    with chroot_mounts(tree):
        chroot(
            tree,
            ["runuser", "-u", "postgres", "--", pg_bin, "--single", *pg_args, "postgres"],
            input=(f"CREATE ROLE shop LOGIN PASSWORD '{PG_PASSWORD}';\nCREATE DATABASE shop OWNER shop;\n").encode(),
        )
        chroot(
            tree,
            ["runuser", "-u", "postgres", "--", pg_bin, "--single", *pg_args, "shop"],
            input=(
                "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, "
                "price_cents integer NOT NULL, stock integer NOT NULL);\n"
                f"INSERT INTO items VALUES {values};\n"
                "ALTER TABLE items OWNER TO shop;\n"
                "CHECKPOINT;\n"
            ).encode(),
        )
        count = chroot(
            tree,
            ["runuser", "-u", "postgres", "--", pg_bin, "--single", *pg_args, "shop"],
            input=b"SELECT count(*) AS n FROM items;\n",
        ).decode()
    if f'n = "{ITEM_ROWS}"' not in count:
        raise SampleBuildError(f"postgres row count check failed: {count[-500:]}")
    pg_conf = tree / "etc/postgresql/15/main/postgresql.conf"
    text = pg_conf.read_text()
    if "\nlisten_addresses" not in text:
        text += "\nlisten_addresses = 'localhost'\n"
    pg_conf.write_text(text)

    (tree / "usr/sbin/policy-rc.d").unlink(missing_ok=True)
    for p in (tree / "var/log").rglob("*"):
        if p.is_file() and p.suffix in (".log",) and p.parent.name in ("apt",):
            p.write_bytes(b"")
    return {"uploads_sha256": upload_sums, "database_url": database_url, "redis_url": redis_url}


MiB = 1024 * 1024
BOOT_MB = 200


def _split_tree(tree: Path, work: Path) -> dict[str, Path]:
    """Move /boot, /var and /srv out of ``tree`` (leaving empty mountpoints with the same modes)."""
    parts = {"/": tree}
    for mp in ("boot", "var", "srv"):
        src = tree / mp
        dst = work / f"fs-{mp}"
        st = src.stat()
        os.rename(src, dst)
        src.mkdir()
        os.chmod(src, st.st_mode & 0o7777)
        os.chown(src, st.st_uid, st.st_gid)
        parts[f"/{mp}"] = dst
    return parts


def _ext4(tree: Path, image: Path, size: int, label: str, uuid: str) -> None:
    with open(image, "wb") as fh:
        fh.truncate(size)
    run(["mkfs.ext4", "-q", "-F", "-L", label, "-U", uuid, "-E", "root_owner=0:0", "-d", tree, image],
        env={"E2FSPROGS_FAKE_TIME": "1700000000"})  # fmt: skip


def _xfs(tree: Path, image: Path, size: int, label: str, uuid: str | None = None) -> None:
    """mkfs.xfs has no ``-d``: populate through a loop mount (the host has loop, not device-mapper). ``uuid``
    is given to mkfs (set afterwards it would add the meta_uuid feature the native reader refuses); none:
    mkfs chooses one."""
    with open(image, "wb") as fh:
        fh.truncate(size)
    run(["mkfs.xfs", "-q", "-f", "-L", label, *(["-m", f"uuid={uuid}"] if uuid else []), image])
    mnt = image.with_suffix(".mnt")
    mnt.mkdir()
    run(["mount", "-o", "loop", image, mnt])
    try:
        src = subprocess.Popen(["tar", *debootstrap.TAR_OPTS, "-C", tree, "-cf", "-", "."], stdout=subprocess.PIPE)
        dst = subprocess.Popen(["tar", *debootstrap.TAR_OPTS, "-C", mnt, "-xf", "-"], stdin=src.stdout)
        assert src.stdout is not None
        src.stdout.close()
        if dst.wait() != 0 or src.wait() != 0:
            raise SampleBuildError(f"copying {tree} into the xfs image failed")
    finally:
        subprocess.run(["umount", mnt], check=False)
        mnt.rmdir()


def _lv_offsets(vgmeta: str) -> dict[str, tuple[int, int]]:
    """``{lv: (byte offset in the PV, byte length)}`` from LVM text metadata (single-segment, linear LVs)."""
    extent = int(re.search(r"\bextent_size = (\d+)", vgmeta).group(1)) * 512  # type: ignore[union-attr]
    pe_start = int(re.search(r"\bpe_start = (\d+)", vgmeta).group(1)) * 512  # type: ignore[union-attr]
    lvs = vgmeta[vgmeta.index("logical_volumes {") :]
    out = {}
    for m in re.finditer(r"\n\s*(\w+) \{\s*\n\s*id = .*?segment_count = (\d+).*?start_extent = 0\s*\n"
                         r"\s*extent_count = (\d+).*?stripes = \[\s*\"pv0\", (\d+)\s*\]", lvs, re.S):  # fmt: skip
        name, segments, count, first = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
        if segments != 1:
            raise SampleBuildError(f"LV {name} has {segments} segments; expected one linear segment")
        out[name] = (pe_start + first * extent, count * extent)
    return out


def make_disk(tree: Path, raw: Path, progress: Progress = _noop) -> dict[str, Any]:
    """GPT + /boot + LVM (vg0: root ext4, var xfs, srv ext4).

    Filesystems are made and filled on the host (``mkfs.ext4 -d``; xfs through a loop mount). Only
    the partition table and the LVM metadata, which need device-mapper, are written by libguestfs
    (its appliance has its own kernel); the filesystem images are then written on the host at the
    offsets the LVM metadata gives, which is far faster than copying through the appliance under TCG.
    """
    import guestfs

    from migrate.image.guestfs_backend import guestfs_environment

    work = raw.parent / "fs"
    work.mkdir()
    parts = _split_tree(tree, work)
    progress("mkfs: boot/root/srv ext4 (mkfs.ext4 -d), var xfs (loop mount)")
    images = {
        "/boot": work / "boot.img",
        "/": work / "root.img",
        "/var": work / "var.img",
        "/srv": work / "srv.img",
    }
    _ext4(parts["/boot"], images["/boot"], BOOT_MB * MiB, "boot", BOOT_UUID)
    _ext4(parts["/"], images["/"], LV_MB["root"] * MiB, "root", ROOT_UUID)
    _xfs(parts["/var"], images["/var"], LV_MB["var"] * MiB, "var", VAR_UUID)
    _ext4(parts["/srv"], images["/srv"], LV_MB["srv"] * MiB, "srvdata", SRV_UUID)
    used = {mp: dir_used_bytes(p) for mp, p in parts.items()}
    with open(raw, "wb") as fh:
        fh.truncate(DISK_BYTES)
    guestfs_environment()  # direct backend; emulation where /dev/kvm cannot run guests
    boot_start = 2048 * 512
    pv_start = boot_start + BOOT_MB * MiB
    g = guestfs.GuestFS(python_return_dict=True)
    try:
        g.add_drive_opts(str(raw), format="raw", readonly=False)
        progress("libguestfs: GPT and LVM metadata")
        g.launch()
        dev = "/dev/sda"
        sectors = DISK_BYTES // 512
        g.part_init(dev, "gpt")
        g.part_add(dev, "p", boot_start // 512, pv_start // 512 - 1)
        g.part_add(dev, "p", pv_start // 512, sectors - 34)
        g.part_set_name(dev, 1, "boot")
        g.part_set_name(dev, 2, "lvm")
        g.part_set_gpt_type(dev, 2, "E6D6D379-F507-44C2-A23C-238F2A3DF928")
        g.pvcreate(f"{dev}2")
        g.vgcreate("vg0", [f"{dev}2"])
        for lv, mb in LV_MB.items():
            g.lvcreate(lv, "vg0", mb)
        meta = g.vgmeta("vg0")
        g.sync()
        g.shutdown()
    finally:
        g.close()
    meta_text = meta.decode() if isinstance(meta, bytes) else meta
    offsets = _lv_offsets(meta_text)
    if set(offsets) != set(LV_MB):
        raise SampleBuildError(f"could not locate LVs in the metadata: {sorted(offsets)}")
    progress("writing the filesystems at their partition/LV offsets")
    placements = [(images["/boot"], boot_start, BOOT_MB * MiB)]
    placements += [(images[mp], pv_start + offsets[lv][0], offsets[lv][1])
                   for mp, lv in (("/", "root"), ("/var", "var"), ("/srv", "srv"))]  # fmt: skip
    for image, offset, length in placements:
        if image.stat().st_size != length or offset % MiB:
            raise SampleBuildError(f"{image.name}: size {image.stat().st_size} != slot {length} at {offset}")
        run(["dd", f"if={image}", f"of={raw}", "bs=1M", f"seek={offset // MiB}", "conv=notrunc,sparse",
             "status=none"])  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)
    usage = {mp: {"tree_bytes": n, "size_bytes": {"/": LV_MB["root"] * MiB, "/boot": BOOT_MB * MiB,
                                                  "/var": LV_MB["var"] * MiB, "/srv": LV_MB["srv"] * MiB}[mp]}
             for mp, n in used.items()}  # fmt: skip
    return {"filesystems": usage, "lv_offsets": {lv: pv_start + o for lv, (o, _n) in offsets.items()}}


def build(out: Path, cache_dir: Path, progress: Progress = _noop) -> dict[str, Any]:
    t0 = time.monotonic()
    tarball = debootstrap.rootfs_tarball(PACKAGES, cache_dir, progress=progress)
    t_boot = time.monotonic() - t0
    work = out / "work"
    tree = work / "tree"
    progress("extracting the Debian tree")
    debootstrap.extract(tarball, tree)
    try:
        extra = customise(tree, progress)
        tree_bytes = dir_used_bytes(tree)
        raw = out / "disk.raw"
        t1 = time.monotonic()
        disk = make_disk(tree, raw, progress)
        t_disk = time.monotonic() - t1
    finally:
        debootstrap.unmount_all(tree)
        shutil.rmtree(work, ignore_errors=True)
    progress("exporting qcow2 (compressed), streamOptimized vmdk, ova")
    t2 = time.monotonic()
    files = export.convert_many(
        raw,
        {
            "qcow2": (out / "shop-vm01.qcow2", ["-c", "-O", "qcow2"]),
            "vmdk-stream": (out / "shop-vm01-disk1.vmdk", ["-O", "vmdk", "-o", "subformat=streamOptimized"]),
        },
    )
    files["ova"] = export.make_ova(
        out / "shop-vm01.ova",
        vm_name=HOSTNAME,
        vmdk=files["vmdk-stream"],
        capacity=DISK_BYTES,
        cpus=2,
        memory_mb=2048,
        os_description="Debian GNU/Linux 12 (bookworm) 64-bit",
    )
    files["raw"] = raw
    t_export = time.monotonic() - t2
    facts: dict[str, Any] = {
        "hostname": HOSTNAME,
        "os": {"id": "debian", "version_id": "12", "codename": "bookworm"},
        "packages": sorted(PACKAGES),
        "services": {
            "nginx": {"unit": "nginx.service", "ports": [80], "enabled": True},
            "postgresql": {"unit": "postgresql.service", "ports": [5432], "enabled": True, "version": "15",
                           "data_directory": "/var/lib/postgresql/15/main"},
            "redis": {"unit": "redis-server.service", "ports": [6379], "enabled": True, "dir": "/var/lib/redis"},
            "shop": {"unit": "shop.service", "ports": [8080], "enabled": True, "user": "shop",
                     "exec_start": "/usr/bin/python3 /opt/shop/app.py",
                     "environment_file": "/etc/shop/shop.env"},
            "ssh": {"unit": "ssh.service", "ports": [22], "enabled": True},
            "cron": {"unit": "cron.service", "ports": [], "enabled": True},
        },  # fmt: skip
        "ports": {"nginx": 80, "shop": 8080, "postgresql": 5432, "redis": 6379, "ssh": 22},
        "users": {"shop": {"uid": SHOP_UID, "gid": SHOP_GID}, "ops": {"uid": 1000, "gid": 1000}},
        "passwords": {"postgresql": PG_PASSWORD, "redis": REDIS_PASSWORD},
        "secrets": [PG_PASSWORD, REDIS_PASSWORD],
        "connection_strings": {"DATABASE_URL": extra["database_url"], "REDIS_URL": extra["redis_url"]},
        "database": {"engine": "postgresql", "name": "shop", "role": "shop", "table": "items", "rows": ITEM_ROWS},
        "data_files": extra["uploads_sha256"],
        "cron": {
            "/etc/cron.d/shop": "15 3 * * * shop",
            "/var/spool/cron/crontabs/root": ["30 2 * * *", "0 4 * * 0"],
        },
        "fstab": {"/": "/dev/mapper/vg0-root", "/boot": f"UUID={BOOT_UUID}", "/var": "/dev/vg0/var",
                  "/srv": "LABEL=srvdata"},
        "filesystems": {"/": "ext4", "/boot": "ext4", "/var": "xfs", "/srv": "ext4"},
        "partition_table": "gpt",
        "lvm": {"vg": "vg0", "lvs": {k: v * 1024 * 1024 for k, v in LV_MB.items()}},
        "nginx": {"site": "/etc/nginx/sites-available/shop", "proxy_pass": "http://127.0.0.1:8080",
                  "upstream": {"shop_app": ["127.0.0.1:8080"]}, "root": "/var/www/shop"},
        "vm": {"name": HOSTNAME, "cpus": 2, "memory_mb": 2048},
        "sizes": {"virtual_bytes": DISK_BYTES, "tree_bytes": tree_bytes, **disk},
        "build_seconds": {"debootstrap_or_cache": round(t_boot, 1), "disk": round(t_disk, 1),
                          "export": round(t_export, 1), "total": round(time.monotonic() - t0, 1)},
    }  # fmt: skip
    (out / "facts.json").write_text(json.dumps(facts, indent=2, sort_keys=True))
    return {k: str(v.relative_to(out)) for k, v in files.items()}


RECIPE = Recipe(
    name="flagship",
    description="Debian 12 shop VM: nginx -> python app -> PostgreSQL 15 + Redis; GPT + LVM (ext4, xfs)",
    build=build,
    params={"packages": sorted(PACKAGES), "disk": DISK_BYTES, "lv": LV_MB, "xfs_uuid": VAR_UUID},
    modules=(),
)
