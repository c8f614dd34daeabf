"""From volumes to a mounted guest: find the OS root, parse its fstab, resolve each fstab source to
a volume. Backend-neutral (pure functions over :class:`Volume` records) so the native and the guestfs
backend mount a guest by the same rules, and the rules are unit-tested without any image."""

from __future__ import annotations

import posixpath
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field

# fstab types that never hold guest files worth reading, or live outside the disks
IGNORED_FSTYPES = frozenset({
    "swap", "tmpfs", "proc", "sysfs", "devpts", "devtmpfs", "ramfs", "hugetlbfs", "mqueue", "cgroup",
    "cgroup2", "debugfs", "securityfs", "pstore", "efivarfs", "bpf", "tracefs", "configfs", "fusectl",
    "binfmt_misc", "autofs", "nfs", "nfs4", "cifs", "smbfs", "smb3", "9p", "virtiofs", "fuse", "sshfs",
    "glusterfs", "ceph", "davfs", "none", "usbfs", "rpc_pipefs", "nfsd", "iso9660", "udf",
})
# systemd systems may ship only /usr/lib/os-release (os-release(5)); /etc/passwd marks a root too
ROOT_MARKERS = (("/etc/fstab", "/etc/os-release", "/usr/lib/os-release", "/etc/passwd"), ("/usr", "/bin"))
# a Windows system volume: %SystemRoot% where libguestfs looks for it (inspect_fs_windows.ml) holding the
# SYSTEM hive; the NTFS reader looks names up case-insensitively, as Windows does
WINDOWS_ROOT_MARKERS = tuple(f"/{d}/System32/config/SYSTEM" for d in ("Windows", "WINNT", "WIN32", "WIN", "ReactOS"))


@dataclass
class FstabEntry:
    spec: str
    mountpoint: str
    fstype: str
    options: list[str]
    dump: int = 0
    passno: int = 0
    line: int = 0


@dataclass
class Volume:
    """One block device that may hold a filesystem: a partition, a whole disk, a logical volume."""

    device: str  # the name a Linux guest would most likely see: /dev/sda2, /dev/vg0/root
    fstype: str | None = None
    uuid: str | None = None
    label: str | None = None
    partuuid: str | None = None
    partlabel: str | None = None
    aliases: list[str] = field(default_factory=list)  # other names: /dev/vda2, /dev/mapper/vg0-root
    size: int | None = None
    disk_index: int | None = None
    part_index: int | None = None
    handle: object = None  # the backend's own object (a BlockDevice, a guestfs device name)
    md_uuid: str | None = None  # an assembled md array: its array UUID (mdadm.conf names it by that)
    luks_uuid: str | None = None  # an opened LUKS volume: the UUID of its LUKS header (crypttab's UUID=)
    luks_source: list[str] = field(default_factory=list)  # ... and the names of the encrypted volume

    @property
    def names(self) -> list[str]:
        return [self.device, *self.aliases]


@dataclass
class Mount:
    mountpoint: str
    volume: Volume
    entry: FstabEntry | None = None
    reason: str | None = None  # why a mount not in fstab was made (a separate /usr)


@dataclass
class MountPlan:
    mounts: list[Mount]  # "/" first, then by depth
    notes: list[str] = field(default_factory=list)
    unreadable: list[Mount] = field(default_factory=list)  # found, but no reader for its fstype


_OCTAL = re.compile(r"\\([0-7]{3})")


def _unescape(field_: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field_)


def _int(parts: list[str], i: int) -> int:
    try:
        return int(parts[i]) if len(parts) > i else 0
    except ValueError:
        return 0


def parse_fstab(text: str) -> list[FstabEntry]:
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        spec, mountpoint = _unescape(parts[0]), _unescape(parts[1])
        fstype = parts[2] if len(parts) > 2 else "auto"
        options = parts[3].split(",") if len(parts) > 3 else ["defaults"]

        entries.append(FstabEntry(spec, mountpoint, fstype, options, _int(parts, 4), _int(parts, 5), number))
    return entries


def positional_names(disk_index: int, part_index: int | None) -> list[str]:
    """Kernel names of a disk/partition by position: /dev/sda1, /dev/vda1, /dev/xvda1, /dev/hda1,
    /dev/nvme0n1p1 (the last resort of fstab resolution)."""
    letters = string.ascii_lowercase
    suffix = letters[disk_index] if disk_index < 26 else letters[disk_index // 26 - 1] + letters[disk_index % 26]
    num = str(part_index) if part_index else ""
    names = [f"/dev/{prefix}d{suffix}{num}" for prefix in ("s", "v", "xv", "h")]
    names.append(f"/dev/nvme{disk_index}n1" + (f"p{num}" if num else ""))
    return names


def _by_path_value(value: str) -> str:
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), value)


def resolve_spec(spec: str, volumes: list[Volume]) -> Volume | None:
    """The volume an fstab source names; None when it names none of them."""
    key, _, value = spec.partition("=")
    value = value.strip('"')
    if spec.startswith("/dev/disk/by-"):
        kind, _, value = spec[len("/dev/disk/by-"):].partition("/")
        key = {"uuid": "UUID", "label": "LABEL", "partuuid": "PARTUUID", "partlabel": "PARTLABEL"}.get(kind, "")
        value = _by_path_value(value)
    key = key.upper()
    if key == "UUID":
        return next((v for v in volumes if v.uuid and v.uuid.lower() == value.lower()), None)
    if key == "LABEL":
        return next((v for v in volumes if v.label == value), None)
    if key == "PARTUUID":
        return next((v for v in volumes if v.partuuid and v.partuuid.lower() == value.lower()), None)
    if key == "PARTLABEL":
        return next((v for v in volumes if v.partlabel == value), None)
    if spec.startswith("/dev/"):
        for v in volumes:  # the names the backend gave (incl. /dev/VG/LV and /dev/mapper/VG-LV)
            if spec in v.names:
                return v
        for v in volumes:  # last resort: /dev/sdXN, /dev/vdXN ... by position
            if v.disk_index is not None and spec in positional_names(v.disk_index, v.part_index):
                return v
    return None


def find_root(volumes: list[Volume], has: Callable[[Volume, str], bool]) -> Volume | None:
    """The volume holding the OS: one with /etc/fstab, an os-release or /etc/passwd, and /usr or /bin; among
    several, the one with the most of those four (first in disk order on a tie). A Windows system volume
    (WINDOWS_ROOT_MARKERS) is a root when no Linux root is found."""
    best: tuple[int, int] | None = None
    chosen = None
    for order, vol in enumerate(volumes):
        found = [[has(vol, p) for p in group] for group in ROOT_MARKERS]
        if all(any(g) for g in found):
            score = (sum(sum(g) for g in found), -order)
        elif any(has(vol, p) for p in WINDOWS_ROOT_MARKERS):
            score = (1, -order)  # below any Linux root: a dual-boot guest is inspected as its Linux
        else:
            continue
        if best is None or score > best:
            best, chosen = score, vol
    return chosen


def plan_mounts(root: Volume, fstab: list[FstabEntry], volumes: list[Volume],
                readable: Callable[[Volume], bool]) -> MountPlan:
    """Which volume goes where, per the root's fstab. Unresolvable or unreadable entries become
    notes (and ``unreadable``), never errors: the caller decides what it cannot do without."""
    plan = MountPlan([Mount("/", root)])
    taken = {"/"}
    for e in fstab:
        fstype = e.fstype.lower()
        where = f"/etc/fstab line {e.line} ({e.spec} on {e.mountpoint})"
        if ("bind" in e.options or "rbind" in e.options) and e.mountpoint.startswith("/"):
            plan.notes.append(f"{where}: bind mount not reproduced")
            continue
        if fstype in IGNORED_FSTYPES or not e.mountpoint.startswith("/"):
            continue
        mountpoint = posixpath.normpath(e.mountpoint)
        vol = resolve_spec(e.spec, volumes)
        if mountpoint == "/":
            plan.mounts[0].entry = e
            if vol is not None and vol is not root:
                plan.notes.append(f"{where}: names {vol.device}, but the OS root was found on {root.device}")
            continue
        if vol is None:
            plan.notes.append(f"{where}: no such volume on the given disks; not mounted")
            continue
        if mountpoint in taken:
            plan.notes.append(f"{where}: {mountpoint} is mounted twice; the first entry wins")
            continue
        m = Mount(mountpoint, vol, e)
        if not readable(vol):
            plan.unreadable.append(m)
            plan.notes.append(f"{where}: {vol.fstype or 'unknown'} filesystem on {vol.device} cannot be "
                              "read by this backend; not mounted")
            continue
        taken.add(mountpoint)
        plan.mounts.append(m)
    plan.mounts.sort(key=lambda m: (m.mountpoint != "/", m.mountpoint.count("/"), m.mountpoint))
    return plan


# -- names a guest gives its volumes in its own configuration ---------------------------------

MDADM_CONF = ("/etc/mdadm.conf", "/etc/mdadm/mdadm.conf")
CRYPTTAB = "/etc/crypttab"


def _mdadm_uuid(text: str) -> str | None:
    """mdadm writes array UUIDs as four colon-separated 8-digit groups; blkid dashes them 8-4-4-4-12."""
    hexits = re.sub(r"[^0-9a-fA-F]", "", text)
    if len(hexits) != 32:
        return None
    h = hexits.lower()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def config_aliases(read_text: Callable[[str], str | None], volumes: list[Volume]) -> list[str]:
    """Add the names the guest's own mdadm.conf (``ARRAY /dev/md0 UUID=...``) and crypttab
    (``name UUID=... | /dev/...``) give to its md arrays and opened LUKS volumes, so fstab lines such
    as ``/dev/md0 /boot`` or ``/dev/mapper/cryptroot /`` resolve as the guest would. Returns the guest
    paths read (evidence)."""
    read = []
    for path in MDADM_CONF:
        text = read_text(path)
        if text is None:
            continue
        read.append(path)
        for line in text.splitlines():
            parts = line.split("#", 1)[0].split()
            if len(parts) < 2 or parts[0] != "ARRAY" or not parts[1].startswith("/dev/"):
                continue
            uid = next((_mdadm_uuid(p[5:]) for p in parts[2:] if p.upper().startswith("UUID=")), None)
            for v in volumes:
                if uid and v.md_uuid == uid and parts[1] not in v.names:
                    v.aliases.append(parts[1])
    text = read_text(CRYPTTAB)
    if text is not None:
        read.append(CRYPTTAB)
        for line in text.splitlines():
            parts = line.split("#", 1)[0].split()
            if len(parts) < 2:
                continue
            name, source = parts[0], parts[1]
            key, _, value = source.partition("=")
            for v in volumes:
                if v.luks_uuid is None and not v.luks_source:
                    continue
                hit = (key.upper() == "UUID" and v.luks_uuid and value.strip('"').lower() == v.luks_uuid.lower()) \
                    or source in v.luks_source
                alias = f"/dev/mapper/{name}"
                if hit and alias not in v.names:
                    v.aliases.append(alias)
    return read


# -- a /usr on a filesystem of its own that fstab does not name -------------------------------

# libguestfs's inspection (daemon/inspection_fs.ml) calls a filesystem a Linux /usr when its top has
# bin, share and local and no etc/fstab; CoreOS's USR-A partition is one, mounted by its initrd.
USR_MARKERS = ("/bin", "/share", "/local")


def find_usr(root_has_usr_content: bool, plan: MountPlan, volumes: list[Volume],
             has: Callable[[Volume, str], bool], readable: Callable[[Volume], bool]) -> Mount | None:
    """When the root's /usr is empty and fstab mounts nothing there, the unmounted volume that is a
    /usr (see USR_MARKERS); among several, the one carrying lib/os-release, then the first on disk."""
    if root_has_usr_content or any(m.mountpoint == "/usr" for m in plan.mounts):
        return None
    used = {id(m.volume) for m in plan.mounts}
    found = [v for v in volumes if id(v) not in used and readable(v)
             and all(has(v, p) for p in USR_MARKERS) and not has(v, "/etc/fstab")]
    if not found:
        return None
    found.sort(key=lambda v: not has(v, "/lib/os-release"))
    vol = found[0]
    others = f"; also a /usr: {', '.join(v.device for v in found[1:])}" if len(found) > 1 else ""
    return Mount("/usr", vol, None, reason=f"the root's /usr is empty and /etc/fstab mounts nothing there; "
                                          f"{vol.device} holds bin, share and local"
                                          f"{' and lib/os-release' if has(vol, '/lib/os-release') else ''}{others}")
