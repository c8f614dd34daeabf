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

    @property
    def names(self) -> list[str]:
        return [self.device, *self.aliases]


@dataclass
class Mount:
    mountpoint: str
    volume: Volume
    entry: FstabEntry | None = None


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
