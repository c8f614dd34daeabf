"""A small extracted guest tree matching tests/data/inventories/flagship-debian12.json, with real
passwords planted where the flagship VM keeps them (made here, by code, at test time)."""

from __future__ import annotations

import os
from pathlib import Path

PG_PASSWORD = "Pg-pl4nted-S3cret"
REDIS_PASSWORD = "Rd-pl4nted-S3cret"
PASSWORDS = (PG_PASSWORD, REDIS_PASSWORD)

FILES: dict[str, tuple[str, int]] = {
    "/etc/nginx/nginx.conf": ("user www-data;\nworker_processes auto;\ninclude /etc/nginx/sites-enabled/*;\n", 0o644),
    "/etc/nginx/sites-available/shop": (
        "upstream shop_app {\n    server 127.0.0.1:8080;\n}\n\nserver {\n    listen 80 default_server;\n"
        "    access_log /var/log/nginx/shop.access.log;\n    error_log /var/log/nginx/shop.error.log;\n"
        "    root /var/www/shop;\n    location /static/ {\n        alias /var/www/shop/static/;\n    }\n"
        "    location / {\n        proxy_pass http://127.0.0.1:8080;\n    }\n"
        "    location /api/ {\n        proxy_pass http://shop_app;\n    }\n}\n", 0o644),
    "/var/www/shop/index.html": ("<h1>Shop</h1>\n", 0o644),
    "/var/www/shop/static/robots.txt": ("User-agent: *\n", 0o644),
    "/etc/postgresql/15/main/postgresql.conf": (
        "data_directory = '/var/lib/postgresql/15/main'\nport = 5432\nlisten_addresses = 'localhost'\n", 0o644),
    "/etc/postgresql/15/main/pg_hba.conf": (
        "local all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n", 0o640),
    "/etc/redis/redis.conf": (
        f"bind 127.0.0.1 -::1\nport 6379\ndaemonize yes\ndir /var/lib/redis\nrequirepass {REDIS_PASSWORD}\n", 0o640),
    "/etc/shop/shop.env": (
        f"DATABASE_URL=postgresql://shop:{PG_PASSWORD}@localhost:5432/shop\n"
        f"REDIS_URL=redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0\nSHOP_DATA_DIR=/var/lib/shop\n", 0o640),
    "/opt/shop/app.py": ("import os\n\nprint(os.environ['DATABASE_URL'].split('@')[1])\n", 0o755),
    "/opt/shop/requirements.txt": ("psycopg2==2.9.5\nredis==4.3.4\n", 0o644),
}


def make_guest(root: Path) -> Path:
    for guest, (text, mode) in FILES.items():
        p = root / guest.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        os.chmod(p, mode)
    link = root / "etc/nginx/sites-enabled/shop"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to("/etc/nginx/sites-available/shop")
    return root
