"""corpus-nginx-tls: nginx-light with a dynamic module + TLS → Flask under gunicorn → PostgreSQL + Redis.

The stack of issue 13 that failed: ``modules-enabled/`` loads ``ngx_http_echo_module.so`` (package
libnginx-mod-http-echo, not nginx-light), TLS with a private key made at build time (a multi-line
secret that must round-trip through ``--secrets-out``/``--secrets-file``), an app that reads its
database and cache URLs from an EnvironmentFile. GPT with ext4 root and an xfs /srv; compressed qcow2.
"""

from __future__ import annotations

import json
import subprocess
import time
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
    mkfs_ext4,
    mkfs_xfs,
    partitioned_raw,
    pg_single,
    place,
    prune_packages,
    split_out,
    write,
)
from migrate.samples.debootstrap import CHROOT_ENV, chroot, chroot_mounts

HOSTNAME = "notes-vm03"
PACKAGES = ["nginx-light", "libnginx-mod-http-echo", "python3-flask", "gunicorn", "python3-psycopg2",
            "python3-redis", "redis-server", "postgresql", "openssl", "ssl-cert", "cron", "systemd",
            "systemd-sysv", "dbus", "procps", "iproute2", "ca-certificates"]  # fmt: skip
UNITS = ["nginx.service", "postgresql.service", "redis-server.service", "cron.service", "notes.service"]
PG_PASSWORD = "Nx-c0rpus-Pg-S3cret"
REDIS_PASSWORD = "Nx-c0rpus-Rd-S3cret"
APP_UID = 991
NOTES = ["buy more coffee", "renew the TLS certificate", "migrate the VM", "water the plants"]
MOTD = "notes served through nginx, gunicorn and flask"
ECHO_BODY = "notes-vm03 echo module says hello"
ROOT_UUID = "7d2a6c3e-3f40-4b82-ac93-2e4f5a6b7c81"
DISK_MB, ROOT_MB, SRV_MB = 1800, 1460, 300

APP_PY = '''"""notes: a small Flask app served by gunicorn; DATABASE_URL and REDIS_URL come from the environment."""
import json
import os

import psycopg2
import redis
from flask import Flask, Response

app = Flask(__name__)


@app.route("/notes")
def notes():
    with psycopg2.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, body FROM notes ORDER BY id")
        rows = [{"id": i, "body": b} for i, b in cur.fetchall()]
    motd = redis.Redis.from_url(os.environ["REDIS_URL"]).get("notes:motd")
    body = json.dumps({"notes": rows, "motd": motd.decode() if motd else None}, sort_keys=True)
    return Response(body + "\\n", mimetype="application/json")


@app.route("/healthz")
def healthz():
    return "ok\\n"
'''

UNIT = """[Unit]
Description=notes (Flask under gunicorn)
After=network.target postgresql.service redis-server.service
Wants=postgresql.service redis-server.service

[Service]
Type=simple
User=notes
Group=notes
WorkingDirectory=/srv/notes
EnvironmentFile=/etc/notes/notes.env
ExecStart=/usr/bin/gunicorn --bind 127.0.0.1:8000 --workers 2 --chdir /srv/notes app:app
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""

SITE = f"""server {{
    listen 80 default_server;
    server_name notes.example.internal;
    return 301 https://$host$request_uri;
}}

server {{
    listen 443 ssl default_server;
    server_name notes.example.internal;
    ssl_certificate     /etc/ssl/certs/notes.example.internal.crt;
    ssl_certificate_key /etc/ssl/private/notes.example.internal.key;
    ssl_protocols TLSv1.2 TLSv1.3;

    location = /echo {{
        default_type text/plain;
        echo "{ECHO_BODY}";
    }}

    location / {{
        proxy_pass http://127.0.0.1:8000;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-Proto https;
    }}
}}
"""


def expected_notes() -> str:
    """What GET /notes answers in the VM: the seeded rows and the seeded Redis key, as the app prints them."""
    rows = [{"id": i, "body": b} for i, b in enumerate(NOTES, 1)]
    return json.dumps({"notes": rows, "motd": MOTD}, sort_keys=True) + "\n"


def _seed_redis(tree: Path) -> None:
    """The real redis-server (on a Unix socket only, port 0) stores the key and writes dump.rdb."""
    sock = "/tmp/redis-seed.sock"  # /run is root's; /tmp is writable by the redis user
    argv = ["chroot", str(tree), "runuser", "-u", "redis", "--", "/usr/bin/redis-server", "--port", "0",
            "--unixsocket", sock, "--unixsocketperm", "777", "--dir", "/var/lib/redis", "--save", ""]  # fmt: skip
    server = subprocess.Popen(argv, env=CHROOT_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            if (tree / sock.lstrip("/")).exists() or server.poll() is not None:
                break
            time.sleep(0.1)
        if not (tree / sock.lstrip("/")).exists():
            server.kill()
            out = server.communicate()[0].decode(errors="replace")[-1500:]
            raise SampleBuildError(f"redis-server did not open its seed socket: {out}")
        chroot(tree, ["redis-cli", "-s", sock, "SET", "notes:motd", MOTD])
        chroot(tree, ["redis-cli", "-s", sock, "SAVE"])
        got = chroot(tree, ["redis-cli", "-s", sock, "GET", "notes:motd"]).decode().strip()
        chroot(tree, ["redis-cli", "-s", sock, "SHUTDOWN", "NOSAVE"])
    finally:
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    if got != MOTD or not (tree / "var/lib/redis/dump.rdb").exists():
        raise SampleBuildError(f"redis seed failed: GET answered {got!r}")


def customise(tree: Path, progress: Progress = _noop) -> dict[str, Any]:
    removed = prune_packages(tree, PACKAGES, progress)
    base_identity(tree, HOSTNAME, "3c5d7e9f1a2b3c5d7e9f1a2b3c5d7e03",
                  f"UUID={ROOT_UUID} /    ext4 errors=remount-ro 0 1\n"
                  "LABEL=srv /srv xfs  defaults 0 2\n")  # fmt: skip
    if not (tree / "etc/nginx/modules-enabled/50-mod-http-echo.conf").is_symlink():  # absolute link
        raise SampleBuildError("libnginx-mod-http-echo did not enable itself in /etc/nginx/modules-enabled")
    chroot(tree, ["groupadd", "--system", "-g", str(APP_UID), "notes"])
    chroot(tree, ["useradd", "--system", "-u", str(APP_UID), "-g", str(APP_UID), "-d", "/srv/notes",
                  "-s", "/usr/sbin/nologin", "notes"])  # fmt: skip
    write(tree, "/srv/notes/app.py", APP_PY)
    write(tree, "/etc/systemd/system/notes.service", UNIT)
    database_url = f"postgresql://notes:{PG_PASSWORD}@localhost:5432/notes"
    redis_url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0"
    write(tree, "/etc/notes/notes.env", f"DATABASE_URL={database_url}\nREDIS_URL={redis_url}\n", 0o640, 0, APP_UID)
    chroot(tree, ["systemctl", "enable", "notes.service"])
    keep_units(tree, UNITS)

    progress("openssl: a self-signed certificate for notes.example.internal")
    chroot(tree, ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                  "-subj", "/CN=notes.example.internal", "-keyout", "/etc/ssl/private/notes.example.internal.key",
                  "-out", "/etc/ssl/certs/notes.example.internal.crt"])  # fmt: skip
    key_path = tree / "etc/ssl/private/notes.example.internal.key"
    key_path.chmod(0o640)
    cert_pem = (tree / "etc/ssl/certs/notes.example.internal.crt").read_text()
    write(tree, "/etc/nginx/sites-available/notes", SITE)
    for p in (tree / "etc/nginx/sites-enabled").iterdir():
        p.unlink()
    (tree / "etc/nginx/sites-enabled/notes").symlink_to("/etc/nginx/sites-available/notes")

    conf = tree / "etc/redis/redis.conf"
    drop = ("requirepass ", "# requirepass ")
    lines = [ln for ln in conf.read_text().splitlines() if not ln.strip().startswith(drop)]
    conf.write_text("\n".join(lines) + f"\nrequirepass {REDIS_PASSWORD}\n")

    progress("postgresql + redis: seeding notes")
    values = ", ".join(f"({i}, '{b}')" for i, b in enumerate(NOTES, 1))
    with chroot_mounts(tree):
        pg_single(tree, "postgres", f"CREATE ROLE notes LOGIN PASSWORD '{PG_PASSWORD}';\n"
                                    "CREATE DATABASE notes OWNER notes;\n")  # fmt: skip
        pg_single(tree, "notes", "CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL);\n"
                                 f"INSERT INTO notes VALUES {values};\nALTER TABLE notes OWNER TO notes;\n"
                                 "CHECKPOINT;\n")  # fmt: skip
        count = pg_single(tree, "notes", "SELECT count(*) AS n FROM notes;\n")
        _seed_redis(tree)
    if f'n = "{len(NOTES)}"' not in count:
        raise SampleBuildError(f"postgres row count check failed: {count[-500:]}")
    finish_tree(tree)
    return {
        "hostname": HOSTNAME,
        "packages": sorted(PACKAGES),
        "purged_packages": removed,
        "services": {
            "nginx": {"unit": "nginx.service", "ports": [80, 443],
                      "modules": ["/usr/lib/nginx/modules/ngx_http_echo_module.so"]},
            "notes": {"unit": "notes.service", "ports": [8000], "user": "notes",
                      "exec_start": "/usr/bin/gunicorn --bind 127.0.0.1:8000 --workers 2 --chdir /srv/notes app:app",
                      "environment_file": "/etc/notes/notes.env"},
            "postgresql": {"unit": "postgresql.service", "ports": [5432], "version": "15",
                           "data_directory": "/var/lib/postgresql/15/main"},
            "redis": {"unit": "redis-server.service", "ports": [6379], "dir": "/var/lib/redis"},
            "cron": {"unit": "cron.service", "ports": []},
        },  # fmt: skip
        "kinds": ["nginx (dynamic module)", "tls", "gunicorn", "flask", "postgresql", "redis"],
        "passwords": {"postgresql": PG_PASSWORD, "redis": REDIS_PASSWORD},
        "secrets": [PG_PASSWORD, REDIS_PASSWORD],
        "tls": {"key": "/etc/ssl/private/notes.example.internal.key",
                "cert": "/etc/ssl/certs/notes.example.internal.crt", "cert_pem": cert_pem},
        "database": {"engine": "postgresql", "name": "notes", "role": "notes", "table": "notes", "rows": len(NOTES)},
        "redis_keys": {"notes:motd": MOTD},
        "probe": {"service": "nginx", "port": 443, "path": "/notes", "body": expected_notes(),
                  "echo": {"path": "/echo", "body": ECHO_BODY + "\n"}},
        "partition_table": "gpt",
        "filesystems": {"/": "ext4", "/srv": "xfs"},
        "fstab": {"/": f"UUID={ROOT_UUID}", "/srv": "LABEL=srv"},
    }


def make_disks(tree: Path, out: Path, progress: Progress = _noop) -> dict[str, Any]:
    """GPT: root ext4 (partition 1) and /srv xfs (partition 2)."""
    work = out / "work"
    srv = split_out(tree, "/srv", work / "fs-srv")
    raw = out / "notes.raw"
    partitioned_raw(raw, DISK_MB * MiB, "gpt", [(1, ROOT_MB, "linux"), (1 + ROOT_MB, SRV_MB, "linux")])
    progress("mkfs.ext4 -d root; mkfs.xfs /srv (loop)")
    mkfs_ext4(tree, raw, ROOT_MB * MiB, label="root", uuid=ROOT_UUID, offset=1 * MiB)
    img = work / "srv.img"
    mkfs_xfs(srv, img, SRV_MB * MiB, label="srv")
    place(img, raw, (1 + ROOT_MB) * MiB, SRV_MB * MiB)
    return {"raw": raw}


def export_disks(out: Path, disks: dict[str, Any], progress: Progress = _noop) -> dict[str, Path]:
    progress("exporting compressed qcow2")
    files = export.convert_many(disks["raw"], {"qcow2": (out / "notes-vm03.qcow2", ["-c", "-O", "qcow2"])})
    disks["raw"].unlink()
    return files


RECIPE = corpus_recipe(
    "corpus-nginx-tls",
    "Debian 12 nginx-light + echo module + TLS -> Flask/gunicorn -> PostgreSQL 15 + Redis; GPT; qcow2",
    PACKAGES, customise=customise, make_disks=make_disks, export=export_disks, disk=DISK_MB,
)
