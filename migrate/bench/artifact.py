"""One artifact for every arm: a tiny rootfs (busybox-static, sysbench, runc and their library
closures, an ``/init``) that becomes both a Docker image (``docker import``) and a VM initramfs.

Same binaries everywhere, so the only thing that differs between arms is the isolation.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from migrate.errors import BackendUnavailable, ExternalToolError

BINARIES = {"busybox": "/bin/busybox", "sysbench": "/usr/bin/sysbench", "runc": "/usr/sbin/runc"}
APT_HINT = "apt-get install -y busybox-static sysbench runc"
ARTIFACT_VERSION = 3

# /init is shared by the container image (unused there) and the VM: it reads mb* parameters from the
# kernel command line, prints MB-BOOTED, waits for the host's "go" line on the console, runs the
# workload (directly, or as N runc containers) and powers off.
INIT_SCRIPT = r"""#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mbmode=vm; mbn=1; mbargs=cpu
for kv in $(cat /proc/cmdline); do
  case "$kv" in mb*=*) eval "${kv%%=*}='${kv#*=}'";; esac
done
args=$(echo "$mbargs" | tr ',' ' ')
if [ "$mbmode" = ctr ]; then
  mount -t cgroup2 cgroup2 /sys/fs/cgroup
  for d in bin sbin lib lib64 usr etc; do
    [ -L /$d ] && ln -s "$(readlink /$d)" /ctr/rootfs/$d && continue
    mkdir -p /ctr/rootfs/$d && mount --bind /$d /ctr/rootfs/$d
  done
  mkdir -p /ctr/rootfs/proc /ctr/rootfs/dev /ctr/rootfs/sys /ctr/rootfs/tmp
  jargs=$(echo "sysbench,$mbargs" | sed 's/,/","/g')
  sed "s|\"@ARGS@\"|\"$jargs\"|" /ctr/config.tmpl > /ctr/config.json
fi
echo "MB-BOOTED $(cut -d' ' -f1 /proc/uptime)"
read go
echo "MB-START $(cut -d' ' -f1 /proc/uptime)"
if [ "$mbmode" = ctr ]; then
  i=0
  while [ $i -lt $mbn ]; do
    runc run --no-pivot --bundle /ctr mb$i > /tmp/out.$i 2>&1 &
    i=$((i+1))
  done
  wait
  i=0
  while [ $i -lt $mbn ]; do
    echo "MB-BEGIN $i"; cat /tmp/out.$i; echo "MB-END $i"
    i=$((i+1))
  done
else
  echo "MB-BEGIN 0"; sysbench $args 2>&1; echo "MB-END 0"
fi
echo "MB-DONE"
poweroff -f || reboot -f
"""


def oci_config(memory_bytes: int | None = None, cpu_quota_us: int | None = 100000) -> dict:
    """A minimal OCI runtime spec for the in-VM containers (arm C): read-only root, own pid/ipc/uts/mount
    namespaces, the same CPU quota per container as the other arms give each instance."""
    resources: dict = {}
    if cpu_quota_us:
        resources["cpu"] = {"quota": cpu_quota_us, "period": 100000}
    if memory_bytes:
        resources["memory"] = {"limit": memory_bytes}
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["@ARGS@"],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "mb",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")],
            "resources": resources,
        },
    }


@dataclass
class Artifact:
    key: str
    rootfs: Path
    initramfs: Path
    kernel: Path
    image_tag: str

    @property
    def initramfs_bytes(self) -> int:
        return self.initramfs.stat().st_size

    @property
    def kernel_bytes(self) -> int:
        return self.kernel.stat().st_size

    def rootfs_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.rootfs.rglob("*") if p.is_file() and not p.is_symlink())


def find_kernel(boot: Path = Path("/boot")) -> Path:
    kernels = sorted(boot.glob("vmlinuz-*"))
    if not kernels:
        raise BackendUnavailable("no kernel in /boot (apt-get install -y linux-image-amd64)")
    return kernels[-1]


def library_closure(binary: str) -> list[str]:
    """Shared libraries ``binary`` needs (ldd); empty for static binaries."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError as exc:  # pragma: no cover
        raise BackendUnavailable("ldd not found") from exc
    libs: list[str] = []
    for line in out.splitlines():
        line = line.strip()
        if "=>" in line:
            target = line.split("=>", 1)[1].split("(")[0].strip()
            if target.startswith("/"):
                libs.append(target)
        elif line.startswith("/"):
            libs.append(line.split()[0])
    return sorted(set(libs))


def _content_key(kernel: Path) -> str:
    h = hashlib.sha256(f"v{ARTIFACT_VERSION}".encode())
    h.update(INIT_SCRIPT.encode())
    h.update(json.dumps(oci_config(), sort_keys=True).encode())
    for path in BINARIES.values():
        st = os.stat(path)
        h.update(f"{path}:{st.st_size}:{st.st_mtime_ns}".encode())
    h.update(f"{kernel}:{kernel.stat().st_size}".encode())
    return h.hexdigest()[:12]


def _copy_file(src: str, root: Path) -> None:
    """Copy ``src`` (symlinks resolved) to the same path under ``root``; /lib, /lib64, /bin and /sbin
    are merged-/usr symlinks in the artifact, so files go under usr/."""
    rel = Path(src).relative_to("/")
    if rel.parts[0] in ("lib", "lib64", "bin", "sbin"):
        rel = Path("usr", *rel.parts)
    dst = root / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(os.path.realpath(src), dst)


def build_rootfs(root: Path) -> None:
    for path in BINARIES.values():
        if not os.path.exists(path):
            raise BackendUnavailable(f"{path} missing ({APT_HINT})")
    if root.exists():
        shutil.rmtree(root)
    (root / "usr").mkdir(parents=True)
    for d in ("lib", "lib64", "bin", "sbin"):
        (root / "usr" / d).mkdir(exist_ok=True)
        (root / d).symlink_to(f"usr/{d}")
    for path in BINARIES.values():
        _copy_file(path, root)
        for lib in library_closure(path):
            _copy_file(lib, root)
    if Path("/usr/share/sysbench").is_dir():  # OLTP Lua scripts for the extended profile
        shutil.copytree("/usr/share/sysbench", root / "usr/share/sysbench")
    applets = subprocess.run([BINARIES["busybox"], "--list"], capture_output=True, text=True).stdout.split()
    for applet in applets:
        link = root / "usr/bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    for d in ("proc", "sys", "dev", "tmp", "run", "etc", "ctr/rootfs", "sync"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    init = root / "init"
    init.write_text(INIT_SCRIPT)
    init.chmod(0o755)
    (root / "ctr/config.tmpl").write_text(json.dumps(oci_config(), indent=1) + "\n")


def _cpio_newc(root: Path) -> bytes:
    """A deterministic newc archive of ``root`` plus /dev/console (the kernel needs it to give /init a
    console, and creating a device node in the tree would need root)."""
    out = io.BytesIO()
    ino = [1000]

    def entry(name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        ino[0] += 1
        nameb = name.encode() + b"\0"
        hdr = "070701" + "".join(
            f"{v:08X}"
            for v in (ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(nameb), 0)
        )
        out.write(hdr.encode() + nameb)
        out.write(b"\0" * ((4 - (110 + len(nameb)) % 4) % 4))
        out.write(data)
        out.write(b"\0" * ((4 - len(data) % 4) % 4))

    paths = sorted(root.rglob("*"))
    for p in paths:
        rel = str(p.relative_to(root))
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            entry(rel, stat.S_IFLNK | 0o777, os.readlink(p).encode())
        elif stat.S_ISDIR(st.st_mode):
            entry(rel, stat.S_IFDIR | 0o755)
        else:
            entry(rel, stat.S_IFREG | (st.st_mode & 0o777), p.read_bytes())
    entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    entry("TRAILER!!!", 0)
    data = out.getvalue()
    return data + b"\0" * ((512 - len(data) % 512) % 512)


def build_initramfs(root: Path, dest: Path) -> None:
    with open(dest, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(_cpio_newc(root))


def _rootfs_tar(root: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p in sorted(root.rglob("*")):
            info = tar.gettarinfo(str(p), arcname=str(p.relative_to(root)))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            if info.isfile():
                with open(p, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buf.getvalue()


def docker_import(client, root: Path, tag: str) -> None:
    """``docker import`` through the SDK: no registry, no Dockerfile, just the rootfs as one layer."""
    repo, _, version = tag.partition(":")
    try:
        client.images.get(tag)
        return
    except Exception:  # noqa: BLE001 - docker.errors.ImageNotFound; imported lazily
        pass
    data = _rootfs_tar(root)
    try:
        client.api.import_image_from_data(data, repository=repo, tag=version,
                                          changes=['CMD ["/bin/sh"]',
                                                   "LABEL org.opencontainers.image.title=migrate-bench"])
    except Exception as exc:  # noqa: BLE001
        raise ExternalToolError(f"docker import failed: {exc}") from exc


def cache_dir() -> Path:
    base = os.environ.get("MIGRATE_BENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "migrate", "bench")
    return Path(base)


def ensure_artifact(client=None, *, kernel: Path | None = None, cache: Path | None = None) -> Artifact:
    """Build (or reuse from the cache) the rootfs and initramfs; import the image when a Docker client
    is given."""
    kernel = kernel or find_kernel()
    key = _content_key(kernel)
    base = (cache or cache_dir()) / key
    rootfs, initramfs = base / "rootfs", base / "initramfs.cpio.gz"
    if not initramfs.exists():
        base.mkdir(parents=True, exist_ok=True)
        build_rootfs(rootfs)
        tmp = initramfs.with_suffix(".tmp")
        build_initramfs(rootfs, tmp)
        tmp.rename(initramfs)
    art = Artifact(key=key, rootfs=rootfs, initramfs=initramfs, kernel=kernel, image_tag=f"migrate-bench:{key}")
    if client is not None:
        docker_import(client, rootfs, art.image_tag)
    return art
