"""Generators for the output-side security cases of issue 8 (writes, data export, analyzers).

Every case is a small guest *directory tree* (a valid RootFS: `migrate inspect DIR`), made by code in
well under a second, no network, no root. Each function returns what the test needs to check
(random names, marker strings). The image-side cases live in image_cases.py.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
PASSWD = ("root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
          "app:x:1000:1000::/home/app:/bin/sh\n")
GROUP = "root:x:0:\nwww-data:x:33:\napp:x:1000:\n"


def write(root: Path, guest: str, text: str | bytes, mode: int = 0o644) -> Path:
    p = root / guest.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode()
    p.write_bytes(text)
    os.chmod(p, mode)
    return p


def enable(root: Path, unit: str, text: str, target: str = "multi-user.target") -> None:
    write(root, f"/etc/systemd/system/{unit}", text)
    wants = root / f"etc/systemd/system/{target}.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / unit
    if not link.is_symlink():
        link.symlink_to(f"/etc/systemd/system/{unit}")


def base_guest(root: Path, hostname: str = "sec-guest") -> Path:
    write(root, "/etc/os-release", OS_RELEASE)
    write(root, "/etc/hostname", hostname + "\n")
    write(root, "/etc/passwd", PASSWD)
    write(root, "/etc/group", GROUP)
    return root


def unit(exec_start: str, *, user: str | None = None, workdir: str | None = None, forking: bool = False) -> str:
    lines = ["[Unit]", "Description=test service", "", "[Service]"]
    if forking:
        lines.append("Type=forking")
    lines.append(f"ExecStart={exec_start}")
    if user:
        lines.append(f"User={user}")
    if workdir:
        lines.append(f"WorkingDirectory={workdir}")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def nginx_service(root: Path) -> None:
    enable(root, "nginx.service", unit("/usr/sbin/nginx -g 'daemon on; master_process on;'", forking=True))


# --- D1: guest-chosen paths that climb out ------------------------------------------------------


def escaping_paths_guest(root: Path) -> str:
    """A unit whose WorkingDirectory climbs with ``..`` far above "/", an nginx ``include`` of a
    relative path climbing out of /etc/nginx, a setuid world-writable file and a file whose name is
    shell syntax. Returns the random name planted in the climbing paths (``pwned-<hex>``)."""
    name = f"pwned-{secrets.token_hex(6)}"
    base_guest(root)
    climb = "/opt/app" + "/.." * 12 + f"/tmp/{name}"
    enable(root, "app.service", unit("/usr/bin/python3 /opt/app/app.py", user="app", workdir=climb))
    write(root, "/opt/app/app.py", "print('app')\n")
    write(root, f"/tmp/{name}/planted.txt", "from the guest\n")
    write(root, f"/tmp/{name}/suid-ww", "#!/bin/sh\n", mode=0o4777)
    write(root, f"/tmp/{name}/$(touch {name}-shell)", "shell syntax in a name\n")
    nginx_service(root)
    write(root, "/etc/nginx/nginx.conf",
          "events {}\nhttp {\n    include mime.types;\n    include ../../../../../../tmp/" + name + "/*.conf;\n"
          "    server { listen 80; root /var/www/html; }\n}\n")
    write(root, "/etc/nginx/mime.types", "types { text/html html; }\n")
    write(root, f"/tmp/{name}/site.conf", "server { listen 8081; root /var/www/html; }\n")
    write(root, "/var/www/html/index.html", "<h1>hi</h1>\n")
    return name


# --- D7: every config file full of unique markers, malformed ----------------------------------


class Markers:
    """Unique strings, one per use, so a grep of any output finds exactly which file leaked."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(4).upper()
        self.all: list[str] = []
        self.secret: list[str] = []  # markers in secret positions: not even the copied configs may hold them

    def s(self) -> str:
        m = self()
        self.secret.append(m)
        return m

    def __call__(self) -> str:
        m = f"MK{self.tag}{len(self.all):04d}Q"
        self.all.append(m)
        return m


def malformed(mk: Markers) -> str:
    """Lines in the shapes config parsers choke on (ini, nginx/apache blocks, XML, YAML, quotes), each
    carrying markers. None of them is a valid fact in any format the analyzers read (no valid
    ``KEY=value``, no absolute mount point, no IP address first): a marker in an output is a quote."""
    return (f"{mk()} {mk()} = {mk()}\n[{mk()}\n<{mk()} a=\"{mk()}\">\n{mk()} {{ {mk()};\n"
            f"include {mk()};\n}}}} {mk()}\n\"{mk()}\n{mk()}: [{mk()}\n={mk()}=\n"
            f"<{mk()}></{mk()}\n${{{mk()}\n\t\t{mk()} '\n")


CONFIG_FILES = (
    "/etc/nginx/nginx.conf", "/etc/nginx/conf.d/site.conf", "/etc/nginx/sites-enabled/default",
    "/etc/apache2/apache2.conf", "/etc/apache2/sites-enabled/000-default.conf", "/etc/apache2/ports.conf",
    "/etc/httpd/conf/httpd.conf", "/etc/postgresql/15/main/postgresql.conf", "/etc/postgresql/15/main/pg_hba.conf",
    "/etc/mysql/my.cnf", "/etc/mysql/mariadb.cnf", "/etc/mysql/debian.cnf", "/etc/my.cnf",
    "/etc/redis/redis.conf", "/etc/memcached.conf", "/etc/php/8.2/fpm/pool.d/www.conf",
    "/etc/tomcat10/server.xml", "/etc/tomcat10/context.xml", "/opt/tomcat/conf/server.xml",
    "/etc/crontab", "/etc/cron.d/job", "/etc/fstab", "/etc/hosts", "/etc/network/interfaces",
    "/etc/netplan/01.yaml", "/etc/systemd/network/10.network", "/etc/ssh/sshd_config", "/etc/rc.local",
    "/etc/resolv.conf", "/etc/login.defs", "/var/lib/dpkg/status", "/lib/apk/db/installed",
    "/etc/default/app", "/etc/app/app.env", "/etc/sysconfig/memcached", "/etc/sysconfig/network",
)


def marker_guest(root: Path) -> Markers:
    """Every config file the built-in analyzers read, full of markers and malformed; units that
    point at them (EnvironmentFile, a script, a jar); an nginx include of an htpasswd file."""
    mk = Markers()
    base_guest(root)
    for path in CONFIG_FILES:
        write(root, path, malformed(mk))
    write(root, "/etc/nginx/nginx.conf",
          malformed(mk) + "include /etc/nginx/htpasswd;\nhttp { include /etc/nginx/conf.d/*.conf; }\n")
    write(root, "/etc/nginx/htpasswd", f"admin:$apr1${mk.s()}${mk.s()}\n{mk.s()}:{{SHA}}{mk.s()}=\n")
    write(root, "/etc/crontab", "* * * * * root /usr/local/bin/job\n" + malformed(mk))
    write(root, "/etc/redis/redis.conf", f"requirepass {mk.s()}\nport {mk()}\n" + malformed(mk))
    write(root, "/etc/app/app.env", f"DATABASE_URL=postgresql://u:{mk.s()}@db/x\nAPI_TOKEN={mk.s()}\n" + malformed(mk))
    write(root, "/etc/init.d/legacy", f"#!/bin/sh\n# {mk()}\n" + malformed(mk), mode=0o755)
    write(root, "/etc/rc.local", f"#!/bin/sh -e\n# {mk()} {mk()}\nexit 0\n", mode=0o755)
    enable(root, "nginx.service", unit("/usr/sbin/nginx -g 'daemon on; master_process on;'", forking=True))
    enable(root, "app.service", unit("/usr/bin/python3 /opt/app/app.py", user="app", workdir="/opt/app")
           .replace("[Service]", "[Service]\nEnvironmentFile=/etc/app/app.env\nEnvironmentFile=/etc/default/app"))
    write(root, "/opt/app/app.py", f"# {mk()}\n")
    for name in ("redis-server", "postgresql@15-main", "mariadb", "apache2", "php8.2-fpm", "tomcat10", "memcached"):
        enable(root, f"{name}.service", unit(f"/usr/bin/{name} --config /etc/{name}.conf"))
    enable(root, "broken.service", malformed(mk))
    return mk


# --- D8/D9: names that cannot travel, a huge unit file -----------------------------------------

LATIN1_UNIT = b"caf\xe9.service"
LONG_UNIT = b"u" * 247 + b".service"  # 255 bytes: legal in the guest, too long for "<name>.d" on a host
LATIN1_WEB = b"\xe9t\xe9.html"
LONG_WEB = b"w" * 255


def bad_names_guest(root: Path) -> None:
    """Two good services (app, nginx with a web root) among entries whose names are not UTF-8, 255
    bytes long or hold an escape character, in systemd's dirs, nginx's conf.d and the web root; and
    a unit file of 5 MiB."""
    base_guest(root)
    enable(root, "app.service", unit("/usr/bin/python3 /opt/app/app.py", user="app", workdir="/opt/app"))
    write(root, "/opt/app/app.py", "print('app')\n")
    nginx_service(root)
    write(root, "/etc/nginx/nginx.conf", "events {}\nhttp {\n  include /etc/nginx/conf.d/*.conf;\n"
                                         "  server { listen 80; root /var/www/html; }\n}\n")
    write(root, "/etc/nginx/conf.d/good.conf", "server { listen 8081; root /var/www/html; }\n")
    write(root, "/var/www/html/index.html", "<h1>hi</h1>\n")
    sysdir = os.fsencode(root / "etc/systemd/system")
    wants = os.path.join(sysdir, b"multi-user.target.wants")
    for name in (LATIN1_UNIT, LONG_UNIT, b"esc\x1b[31m.service"):
        with open(os.path.join(sysdir, name), "w") as fh:
            fh.write(unit("/bin/true"))
        if len(name) < 250:
            os.symlink(b"/etc/systemd/system/" + name, os.path.join(wants, name))
    with open(os.path.join(os.fsencode(root / "etc/nginx/conf.d"), b"\xff\xfe.conf"), "w") as fh:
        fh.write("server { listen 8082; }\n")
    web = os.fsencode(root / "var/www/html")
    for name in (LATIN1_WEB, LONG_WEB):
        with open(os.path.join(web, name), "w") as fh:
            fh.write("page\n")
    big = unit("/usr/bin/python3 /opt/app/app.py") + ("# " + "x" * 1022 + "\n") * (5 * 1024)
    write(root, "/etc/systemd/system/huge.service", big)
    enable(root, "huge.service", big)


# --- D5/D12: data export -----------------------------------------------------------------------


def webroot_guest(root: Path) -> Path:
    """nginx with a web root (/var/www/html, a persistent path of the inventory); returns the web
    root's host directory for the caller to fill."""
    base_guest(root)
    nginx_service(root)
    write(root, "/etc/nginx/nginx.conf", "events {}\nhttp { server { listen 80; root /var/www/html; } }\n")
    write(root, "/var/www/html/index.html", "<h1>hi</h1>\n")
    return root / "var/www/html"


def sparse_file(path: Path, size: int, data: list[tuple[int, bytes]]) -> None:
    """A sparse host file of ``size`` bytes holding ``data`` at the given offsets, holes elsewhere."""
    with open(path, "wb") as fh:
        for offset, chunk in data:
            fh.seek(offset)
            fh.write(chunk)
        fh.truncate(size)


def dense_file(path: Path, size: int) -> None:
    """``size`` bytes of real (non-zero) data, written in 1 MiB blocks."""
    block = (b"dense-data-" * 100_000)[: 1 << 20]
    with open(path, "wb") as fh:
        left = size
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)


# --- the output canary: a guest pointing at a host file in every way it can --------------------


def canary_guest(root: Path, canary: Path) -> str:
    """escaping_paths_guest, plus links and references to ``canary`` (a host file outside the guest)
    by absolute host path and by ``..`` climbing: a config, an EnvironmentFile, an nginx include and
    auth file, a web root entry and a whole web root. Returns the planted random name."""
    name = escaping_paths_guest(root)
    host = str(canary)
    climb = "../" * 24 + host.lstrip("/")
    (root / "etc/nginx/conf.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/nginx/conf.d/abs.conf").symlink_to(host)
    (root / "etc/nginx/conf.d/climb.conf").symlink_to(climb)
    write(root, "/etc/nginx/nginx.conf",
          "events {}\nhttp {\n  include /etc/nginx/conf.d/*.conf;\n  include " + host + ";\n"
          "  server { listen 80; root /var/www/html; auth_basic_user_file " + climb + "; }\n"
          "  server { listen 81; root /srv/linked; }\n}\n")
    write(root, "/var/www/html/index.html", "<h1>hi</h1>\n")
    (root / "var/www/html/abs-link").symlink_to(host)
    (root / "var/www/html/climb-link").symlink_to(climb)
    (root / "srv").mkdir(exist_ok=True)
    (root / "srv/linked").symlink_to(canary.parent)
    enable(root, "worker.service", unit("/usr/bin/python3 /opt/app/worker.py", user="app", workdir="/opt/app")
           .replace("[Service]", f"[Service]\nEnvironmentFile={host}\nEnvironmentFile=-{climb}"))
    write(root, "/opt/app/worker.py", "print('worker')\n")
    return name


def xfs_image(tree: Path, image: Path, size: int = 400 << 20) -> Path:
    """A real XFS filesystem image holding ``tree`` (mkfs.xfs -p protofile, no mount, no root).
    mkfs copies file contents as they read, so zero runs are written as data: the case of a reader
    that cannot tell holes."""
    lines = ["migrate-test", "0 0", "d--755 0 0"]

    def walk(d: Path, depth: int) -> None:
        for p in sorted(d.iterdir()):
            mode = p.lstat().st_mode & 0o777
            if p.is_symlink():
                lines.append(f"{p.name} l--777 0 0 {os.readlink(p)}")
            elif p.is_dir():
                lines.append(f"{p.name} d--{mode:03o} 0 0")
                walk(p, depth + 1)
                lines.append("$")
            else:
                lines.append(f"{p.name} ---{mode:03o} 0 0 {p}")

    walk(tree, 0)
    lines.append("$")
    proto = image.with_suffix(".proto")
    proto.write_text("\n".join(lines) + "\n")
    with open(image, "wb") as fh:
        fh.truncate(size)
    import subprocess

    subprocess.run(["mkfs.xfs", "-q", "-f", "-p", str(proto), str(image)], check=True, capture_output=True)
    return image
