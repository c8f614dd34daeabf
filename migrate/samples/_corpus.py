"""Plumbing shared by the corpus guests (migrate/samples/corpus_*.py): one rootfs, layouts, facts.

The corpus exists to migrate guests the pipeline was not fitted to, so each guest is a real Debian 12
VM. Building a debootstrap tree is the slow part of a sample (minutes), so the guests of one corpus
helper share one tarball holding the union of their packages; each guest then *disables* every
service it does not run (``systemctl disable`` in the chroot, as an admin would leave an installed
but unused package) so the pipeline sees only what the guest really runs.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from migrate.samples import debootstrap
from migrate.samples._common import Progress, Recipe, SampleBuildError, _noop, dir_used_bytes, run
from migrate.samples.debootstrap import chroot

#: The union of the packages of corpus-lamp, corpus-tomcat and corpus-nginx-tls (one tarball for three).
CORPUS_A_PACKAGES = [
    # every guest
    "systemd", "systemd-sysv", "dbus", "cron", "ca-certificates", "procps", "iproute2", "openssl",
    "ssl-cert",
    # corpus-lamp
    "apache2", "libapache2-mod-php8.2", "php8.2-mysql", "php-memcached", "mariadb-server", "memcached",
    # corpus-tomcat
    "tomcat10", "libpostgresql-jdbc-java", "postgresql",
    # corpus-nginx-tls
    "nginx-light", "libnginx-mod-http-echo", "python3-flask", "gunicorn", "python3-psycopg2",
    "python3-redis", "redis-server",
]  # fmt: skip

#: Units the union tree enables on its own (package postinsts); each guest keeps the ones it runs.
PACKAGE_UNITS = [
    "apache2.service", "mariadb.service", "memcached.service", "tomcat10.service", "postgresql.service",
    "nginx.service", "redis-server.service", "apache-htcacheclean.service", "cron.service",
]  # fmt: skip


def corpus_tree(packages: list[str], cache_dir: Path, tree: Path, progress: Progress = _noop) -> float:
    """Extract the shared corpus rootfs into ``tree``; returns the seconds spent (debootstrap or cache)."""
    t0 = time.monotonic()
    tarball = debootstrap.rootfs_tarball(packages, cache_dir, progress=progress)
    progress("extracting the Debian tree")
    debootstrap.extract(tarball, tree)
    return time.monotonic() - t0


def keep_units(tree: Path, keep: Iterable[str], candidates: Iterable[str] = PACKAGE_UNITS) -> list[str]:
    """Disable every unit in ``candidates`` not in ``keep`` (offline ``systemctl disable``).

    Returns the units disabled, which a guest records in its facts as installed-but-not-running.
    """
    keep = set(keep)
    disabled = []
    for unit in candidates:
        if unit in keep or not any((tree / d / unit).exists() for d in ("lib/systemd/system", "etc/systemd/system")):
            continue
        chroot(tree, ["systemctl", "disable", unit])
        disabled.append(unit)
    return disabled


def write(tree: Path, guest: str, text: str | bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> Path:
    """Write a guest file with its owner and mode (parents created root-owned)."""
    p = tree / guest.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    os.chown(p, uid, gid)
    os.chmod(p, mode)
    return p


def ids(tree: Path, user: str) -> tuple[int, int]:
    """(uid, gid) of ``user`` in the guest's /etc/passwd."""
    for line in (tree / "etc/passwd").read_text().splitlines():
        parts = line.split(":")
        if parts[0] == user:
            return int(parts[2]), int(parts[3])
    raise SampleBuildError(f"user {user} missing from guest", path="/etc/passwd")


def base_identity(tree: Path, hostname: str, machine_id: str, fstab: str) -> None:
    """Hostname, hosts, machine-id, fstab and a networkd DHCP config, as an installed VM has them."""
    write(tree, "/etc/hostname", f"{hostname}\n")
    write(tree, "/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}.example.internal {hostname}\n"
          "::1\tlocalhost ip6-localhost ip6-loopback\n")  # fmt: skip
    write(tree, "/etc/machine-id", f"{machine_id}\n", 0o444)
    write(tree, "/etc/fstab", "# /etc/fstab: static file system information.\n" + fstab)
    write(tree, "/etc/systemd/network/10-eth0.network", "[Match]\nName=eth0 ens3\n\n[Network]\nDHCP=yes\n")
    wants = tree / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "systemd-networkd.service"
    if not link.is_symlink():
        link.symlink_to("/lib/systemd/system/systemd-networkd.service")


def finish_tree(tree: Path) -> None:
    """Remove the build-time policy-rc.d and empty apt logs: the guest as it would be shipped."""
    (tree / "usr/sbin/policy-rc.d").unlink(missing_ok=True)
    for p in (tree / "var/log/apt").glob("*.log"):
        p.write_bytes(b"")


def split_out(tree: Path, mountpoint: str, dest: Path) -> Path:
    """Move ``tree/mountpoint`` to ``dest`` (its own filesystem), leaving an empty mountpoint with the
    same owner and mode behind, as the directory under a mount looks in a real VM."""
    src = tree / mountpoint.lstrip("/")
    st = src.stat()
    os.rename(src, dest)
    src.mkdir()
    os.chmod(src, st.st_mode & 0o7777)
    os.chown(src, st.st_uid, st.st_gid)
    return dest


def mkfs_ext4(src: Path, image: Path, size: int, *, label: str, uuid: str, offset: int = 0) -> None:
    """An ext4 filled from ``src`` (``mkfs.ext4 -d``), at ``offset`` bytes inside ``image`` if given."""
    if offset == 0:
        with open(image, "wb") as fh:
            fh.truncate(size)
    opts = f"root_owner=0:0,offset={offset}" if offset else "root_owner=0:0"
    run(["mkfs.ext4", "-q", "-F", "-L", label, "-U", uuid, "-E", opts, "-d", src, image, f"{size // 1024}k"],
        env={"E2FSPROGS_FAKE_TIME": "1700000000"})  # fmt: skip


def write_facts(out: Path, facts: dict[str, Any], files: dict[str, Path], t0: float,
                timings: dict[str, float]) -> dict[str, str]:  # fmt: skip
    """facts.json (with build timings) and the files map ``build_sample`` expects."""
    facts["build_seconds"] = {**{k: round(v, 1) for k, v in timings.items()},
                              "total": round(time.monotonic() - t0, 1)}  # fmt: skip
    (out / "facts.json").write_text(json.dumps(facts, indent=2, sort_keys=True))
    return {k: str(v.relative_to(out)) for k, v in files.items()}


def build_guest(out: Path, cache_dir: Path, progress: Progress, *, packages: list[str],
                customise: Callable[[Path, Progress], dict[str, Any]],
                make_disks: Callable[[Path, Path, Progress], dict[str, Any]],
                export: Callable[[Path, dict[str, Any], Progress], dict[str, Path]]) -> dict[str, str]:  # fmt: skip
    """The common shape of a corpus build: tree → customise (facts) → disks → exports → facts.json."""
    t0 = time.monotonic()
    work = out / "work"
    tree = work / "tree"
    t_boot = corpus_tree(packages, cache_dir, tree, progress)
    try:
        facts = customise(tree, progress)
        facts.setdefault("sizes", {})["tree_bytes"] = dir_used_bytes(tree)
        t1 = time.monotonic()
        disks = make_disks(tree, out, progress)
        t_disk = time.monotonic() - t1
    finally:
        debootstrap.unmount_all(tree)
        shutil.rmtree(work, ignore_errors=True)
    t2 = time.monotonic()
    files = export(out, disks, progress)
    t_export = time.monotonic() - t2
    facts.setdefault("packages", sorted(packages))
    facts["os"] = {"id": "debian", "version_id": "12", "codename": "bookworm"}
    return write_facts(out, facts, files, t0,
                       {"debootstrap_or_cache": t_boot, "disk": t_disk, "export": t_export})  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Disk layouts. Filesystems are made and filled on the host; only LVM metadata, which needs
# device-mapper, is written by libguestfs (see flagship.make_disk for why this is the fast way).

MiB = 1024 * 1024


def partitioned_raw(raw: Path, size: int, label: str, parts: list[tuple[int, int, str]]) -> None:
    """A sparse raw disk with an MBR (``label="dos"``) or GPT table; ``parts`` = (start MiB, size MiB, type)."""
    with open(raw, "wb") as fh:
        fh.truncate(size)
    lines = [f"label: {label}"]
    for start, length, ptype in parts:
        lines.append(f"start={start * 2048}, size={length * 2048}, type={ptype}")
    run(["sfdisk", "--quiet", raw], input=("\n".join(lines) + "\n").encode())


def lvm_on_partition(raw: Path, partition: int, part_start_mb: int, vg: str, lvs: dict[str, int],
                     progress: Progress = _noop) -> dict[str, tuple[int, int]]:  # fmt: skip
    """Create PV/VG/LVs (sizes in MiB) on partition ``partition`` (starting at ``part_start_mb``) of ``raw``.

    Returns ``{lv: (byte offset in the disk, byte length)}`` so the caller can write filesystem images
    straight into the raw file.
    """
    import guestfs

    from migrate.image.guestfs_backend import guestfs_environment
    from migrate.samples.flagship import _lv_offsets

    guestfs_environment()
    g = guestfs.GuestFS(python_return_dict=True)
    try:
        g.add_drive_opts(str(raw), format="raw", readonly=False)
        progress(f"libguestfs: LVM metadata (vg {vg})")
        g.launch()
        dev = f"/dev/sda{partition}"
        g.pvcreate(dev)
        g.vgcreate(vg, [dev])
        for lv, mb in lvs.items():
            g.lvcreate(lv, vg, mb)
        meta = g.vgmeta(vg)
        g.sync()
        g.shutdown()
    finally:
        g.close()
    text = meta.decode() if isinstance(meta, bytes) else meta
    offsets = _lv_offsets(text)
    if set(offsets) != set(lvs):
        raise SampleBuildError(f"could not locate LVs in the metadata: {sorted(offsets)}")
    return {lv: (part_start_mb * MiB + off, length) for lv, (off, length) in offsets.items()}


def place(image: Path, raw: Path, offset: int, slot: int) -> None:
    """Write a filesystem image into ``raw`` at ``offset`` (MiB-aligned), checking it fits its slot."""
    if image.stat().st_size > slot or offset % MiB:
        raise SampleBuildError(f"{image.name}: size {image.stat().st_size} does not fit slot {slot} at {offset}")
    run(["dd", f"if={image}", f"of={raw}", "bs=1M", f"seek={offset // MiB}", "conv=notrunc,sparse", "status=none"])


def mkfs_xfs(src: Path, image: Path, size: int, *, label: str) -> None:
    """An xfs image holding ``src`` (flagship's loop-mount copy). fstab names it by LABEL: setting a
    UUID afterwards (xfs_admin -U) adds the meta_uuid incompat feature, which libfsxfs cannot read."""
    from migrate.samples.flagship import _xfs

    _xfs(src, image, size, label)


# --------------------------------------------------------------------------------------------------
# Per-guest package sets out of the shared tree, and real data seeded by the real servers


def prune_packages(tree: Path, keep: Iterable[str], progress: Progress = _noop) -> list[str]:
    """Purge what this guest does not use from the shared tree, the way apt would: every package that
    is not Priority required/important is marked automatically installed, the guest's own packages
    manual, then ``apt-get autoremove --purge``. Returns the packages removed."""
    listing = chroot(tree, ["dpkg-query", "-W", "-f", "${Package} ${Priority} ${Essential}\n"]).decode()
    optional = [ln.split()[0] for ln in listing.splitlines()
                if ln.split()[1] not in ("required", "important") and ln.split()[-1] != "yes"]  # fmt: skip
    chroot(tree, ["apt-mark", "auto", *optional])
    chroot(tree, ["apt-mark", "manual", *keep])
    progress("apt-get autoremove --purge (packages of the other corpus guests)")
    out = chroot(tree, ["apt-get", "-y", "-o", "Dpkg::Options::=--force-confold", "autoremove", "--purge"]).decode()
    return sorted({ln.split()[1] for ln in out.splitlines() if ln.startswith("Purg ") or ln.startswith("Removing ")})


def pg_single(tree: Path, database: str, sql: str, version: str = "15", cluster: str = "main") -> str:
    """Run SQL through the real PostgreSQL server in single-user mode (no socket, no port)."""
    pg_bin = f"/usr/lib/postgresql/{version}/bin/postgres"
    args = ["-D", f"/var/lib/postgresql/{version}/{cluster}",
            "-c", f"config_file=/etc/postgresql/{version}/{cluster}/postgresql.conf"]  # fmt: skip
    return chroot(tree, ["runuser", "-u", "postgres", "--", pg_bin, "--single", *args, database],
                  input=sql.encode()).decode()  # fmt: skip


def plumbing_hash(*modules: ModuleType) -> str:
    """A hash of the shared modules' source, for a recipe's cache key (the registry hashes only the
    recipe module itself)."""
    h = hashlib.sha256()
    for mod in modules:
        h.update(inspect.getsource(mod).encode())
    return h.hexdigest()[:16]


def plumbing_key() -> str:
    """A hash of this module's source, for the cache key of the recipes that use it."""
    return plumbing_hash(sys.modules[__name__])


def corpus_recipe(name: str, description: str, packages: list[str], *,
                  customise: Callable[[Path, Progress], dict[str, Any]],
                  make_disks: Callable[[Path, Path, Progress], dict[str, Any]],
                  export: Callable[[Path, dict[str, Any], Progress], dict[str, Path]],
                  union: list[str] = CORPUS_A_PACKAGES, plumbing: tuple[ModuleType, ...] = (),
                  **params: Any) -> Recipe:  # fmt: skip
    """The Recipe of a guest built from a shared corpus tarball (``union``, the packages of all its
    guests): its cache key covers the guest's own packages, the union, the source of this module and of
    the other shared modules the guest's build uses (``plumbing``), and the guest's layout ``params``."""

    def build(out: Path, cache_dir: Path, progress: Progress = _noop) -> dict[str, str]:
        return build_guest(out, cache_dir, progress, packages=union, customise=customise,
                           make_disks=make_disks, export=export)  # fmt: skip

    return Recipe(name=name, description=description, build=build,
                  params={"packages": sorted(packages), "union": sorted(union),
                          "plumbing": plumbing_hash(sys.modules[__name__], *plumbing), **params})  # fmt: skip
