"""Bad-input fixtures: small images that must produce clean, specific errors (or careful reads).

All are made in a second or two from host tools, without debootstrap, so tests create them on demand.
Each needs only a minimal plausible OS tree (os-release, passwd, a usr/bin) where an OS is expected.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from migrate.samples._common import run

MiB = 1024 * 1024
LUKS_PASSPHRASE = "luks-fixture-passphrase"

OS_RELEASE = (
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
    'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
)


def _det(seed: str, n: int) -> bytes:
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}/{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


def _put(root: Path, rel: str, data: str | bytes, mode: int = 0o644) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    p.chmod(mode)
    return p


def minimal_os_tree(root: Path, hostname: str) -> Path:
    """Enough of a Debian tree for OS detection: os-release, passwd/group/shadow, hostname, usr/bin."""
    _put(root, "usr/lib/os-release", OS_RELEASE)
    _put(root, "etc/debian_version", "12.5\n")
    _put(root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n")
    _put(root, "etc/group", "root:x:0:\nwww-data:x:33:\n")
    _put(root, "etc/shadow", "root:GUEST-SHADOW-MARKER:19700:0:99999:7:::\n", 0o640)
    _put(root, "etc/hostname", f"{hostname}\n")
    _put(root, "usr/bin/true", b"\x7fELF-not-really\n", 0o755)
    for name in ("bin", "sbin", "lib"):
        if not (root / name).exists():
            (root / name).symlink_to(f"usr/{name}")
    for d in ("root", "tmp", "var/log", "usr/sbin", "usr/lib"):
        (root / d).mkdir(parents=True, exist_ok=True)
    return root


def _ext4_image(tree: Path, image: Path, size: int, label: str) -> Path:
    with open(image, "wb") as fh:
        fh.truncate(size)
    run(["mkfs.ext4", "-q", "-F", "-L", label, "-E", "root_owner=0:0", "-d", tree, image])
    return image


def hostile_tree(root: Path) -> Path:
    minimal_os_tree(root, "hostile")
    etc = root / "etc"
    (etc / "os-release").symlink_to("/etc/shadow")  # absolute: must resolve to the guest's shadow
    (etc / "issue").symlink_to("/root/.ssh/id_rsa")  # a host path that must never be read
    (etc / "climb").symlink_to("../../../../../../etc/passwd")  # must stop at the guest's /
    (etc / "motd").symlink_to("climb")  # a chain ending in the climb
    (etc / "loop-a").symlink_to("loop-b")
    (etc / "loop-b").symlink_to("loop-a")
    (etc / "self-loop").symlink_to("self-loop")
    (root / "var/log/nested").mkdir(parents=True, exist_ok=True)
    (root / "var/log/nested/escape").symlink_to("../../../../../../../../../../proc/self/environ")
    with open(root / "var/log/huge.log", "wb") as fh:  # 100 MiB, sparse
        fh.truncate(100 * MiB)
        fh.seek(100 * MiB - 16)
        fh.write(b"end of huge.log\n")
    return root


NGINX_BROKEN = """user www-data;
worker_processes auto;
events { worker_connections 768; }
http {
    include /etc/nginx/mime.types;
    include /etc/nginx/conf.d/*.conf;
    include /etc/nginx/sites-enabled/*;
    server {
        listen 80
        server_name broken.example.internal;
        location / {
            proxy_pass http://127.0.0.1:8080;
        # missing closing braces from here on
"""


def broken_nginx_tree(root: Path) -> Path:
    minimal_os_tree(root, "broken-nginx")
    _put(root, "etc/nginx/nginx.conf", NGINX_BROKEN)
    _put(root, "etc/nginx/sites-available/app", "server { listen notaport; root ; location { }\n")
    (root / "etc/nginx/sites-enabled").mkdir(parents=True, exist_ok=True)
    (root / "etc/nginx/sites-enabled/app").symlink_to("/etc/nginx/sites-available/app")
    (root / "etc/nginx/sites-enabled/gone").symlink_to("/etc/nginx/sites-available/gone")
    _put(root, "usr/sbin/nginx", b"\x7fELF-not-really\n", 0o755)
    return root


def make_bad_images(directory: Path) -> dict[str, Path]:
    """Write the bad-input fixtures into ``directory`` (idempotent) and return them by kind."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}

    p = d / "truncated.qcow2"
    if not p.exists():
        src = d / ".truncated.raw"
        src.write_bytes(_det("truncated", 4 * MiB))
        run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", src, p])
        src.unlink()
        with open(p, "r+b") as fh:
            fh.truncate(p.stat().st_size * 2 // 5)
    out["truncated-qcow2"] = p

    p = d / "random.img"
    if not p.exists():
        p.write_bytes(_det("random", 2 * MiB))
    out["random-bytes"] = p

    p = d / "missing-extent.vmdk"
    if not p.exists():
        run(["qemu-img", "create", "-f", "vmdk", "-o", "subformat=monolithicFlat", p, "64M"])
        (d / "missing-extent-flat.vmdk").unlink()
    out["vmdk-missing-extent"] = p

    p = d / "no-os.img"
    if not p.exists():
        with open(p, "wb") as fh:
            fh.truncate(64 * MiB)
        run(["sfdisk", "--quiet", p], input=b"label: gpt\nstart=2048, type=L, name=data\n")
        fs_kib = (64 * MiB - 2048 * 512 - 34 * 512) // 1024
        run(["mkfs.ext4", "-q", "-F", "-L", "empty", "-E", f"offset={2048 * 512}", p, f"{fs_kib}k"])
    out["no-os"] = p

    p = d / "luks.img"
    if not p.exists():
        vol = d / ".luks.vol"
        with open(vol, "wb") as fh:
            fh.truncate(40 * MiB)
        key = d / ".luks.key"
        key.write_text(LUKS_PASSPHRASE)
        run(["cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
             "--pbkdf-force-iterations", "1000", "--key-file", key, vol])  # fmt: skip
        with open(p, "wb") as fh:
            fh.truncate(48 * MiB)
        run(["sfdisk", "--quiet", p], input=b"label: gpt\nstart=2048, size=81920, type=L, name=crypt\n")
        run(["dd", f"if={vol}", f"of={p}", "bs=1M", "seek=1", "conv=notrunc,sparse", "status=none"])
        vol.unlink()
        key.unlink()
    out["luks"] = p

    tree = d / "hostile-tree"
    if not tree.exists():
        hostile_tree(tree)
    out["hostile-tree"] = tree
    p = d / "hostile.img"
    if not p.exists():
        _ext4_image(tree, p, 160 * MiB, "hostile")
    out["hostile"] = p

    tree = d / "broken-nginx-tree"
    if not tree.exists():
        broken_nginx_tree(tree)
    out["broken-nginx-tree"] = tree
    p = d / "broken-nginx.img"
    if not p.exists():
        _ext4_image(tree, p, 16 * MiB, "brokennginx")
    out["broken-nginx"] = p
    return out
