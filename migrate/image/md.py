"""Linux software RAID (md) read in userspace: the member superblocks (metadata 0.90 and 1.0/1.1/1.2)
say which array a partition belongs to, where its data starts and how large the array is.

A RAID1 member holds the whole array at its data offset, so any one present member is the array;
RAID0, linear and RAID4/5 (md's four parity placements) arrays are assembled when every member is
present (their data chunks are read; parity is never needed then). A degraded RAID4/5 and other
levels (6, 10) are a layout this reader does not assemble (UnsupportedLayout, so ``--backend auto``
falls back to libguestfs, whose appliance kernel assembles and reconstructs every level).

Every number in a superblock is checked against the member's own size before it is used: a hostile
superblock cannot make us read past a member, allocate from its counts, or loop on its member list.
"""

from __future__ import annotations

import struct
import uuid as uuidlib
from dataclasses import dataclass, field

from migrate.errors import CorruptImage, UnsupportedLayout

from .budget import check_count
from .formats.base import BlockDevice, ConcatDevice

MD_MAGIC = 0xA92B4EFC
MAX_MEMBERS = 64  # mdadm refuses more than 1920 for 1.x, the kernel far fewer in practice; 64 is plenty here
_SB1_OFFSETS = ("1.1", "1.2")  # 1.0 sits near the end of the member (computed from its size)
MAX_CHUNK = 1 << 30


@dataclass(frozen=True)
class MdMember:
    """One member's view of its array (from its superblock)."""

    array_uuid: str  # as blkid prints it for TYPE=linux_raid_member (dashed 8-4-4-4-12)
    name: str | None  # array name ("bootdev"; the homehost prefix "host:" dropped)
    level: int
    raid_disks: int
    role: int | None  # position in the array (None: spare / faulty)
    data_offset: int  # bytes
    data_size: int  # bytes of this member used by the array
    chunk: int  # bytes (RAID0/4/5)
    events: int
    metadata: str  # "0.90", "1.0", "1.1", "1.2"
    layout: int = 0  # RAID5 parity placement (md's ALGORITHM_*)


def _uuid(raw: bytes) -> str:
    return str(uuidlib.UUID(bytes=raw))


def read_superblock(dev: BlockDevice, where: str, report_path: str) -> MdMember | None:
    """The md superblock on ``dev``, or None when there is none. Raises CorruptImage when one is there
    but its numbers cannot be right for this member."""
    size = dev.size
    candidates = [("1.1", 0), ("1.2", 4096)]
    if size >= 16 << 10:
        candidates.append(("1.0", ((size >> 9) - 16 & ~7) << 9))
    for version, off in candidates:
        raw = dev.read(off, 512) if off + 512 <= size else b""
        if len(raw) == 512 and struct.unpack("<I", raw[:4])[0] == MD_MAGIC and struct.unpack("<I", raw[4:8])[0] == 1:
            return _sb1(raw, dev, off, version, where, report_path)
    if size >= 128 << 10:
        off = (size & ~((64 << 10) - 1)) - (64 << 10)
        raw = dev.read(off, 4096)
        if len(raw) == 4096 and struct.unpack("<I", raw[:4])[0] == MD_MAGIC and struct.unpack("<I", raw[4:8])[0] == 0:
            return _sb090(raw, dev, where, report_path)
    return None


def _sb1(raw: bytes, dev: BlockDevice, sb_off: int, version: str, desc: str, rp: str) -> MdMember:
    set_uuid, set_name = raw[16:32], raw[32:64]
    level, layout, size_sectors, chunk_sectors, raid_disks = struct.unpack("<iIQII", raw[72:96])
    data_offset, data_size = struct.unpack("<QQ", raw[128:144])
    dev_number = struct.unpack("<I", raw[160:164])[0]
    events = struct.unpack("<Q", raw[200:208])[0]
    max_dev = struct.unpack("<I", raw[220:224])[0]
    name = set_name.split(b"\0", 1)[0].decode("utf-8", "replace")
    name = name.split(":", 1)[1] if ":" in name else name
    where = f"md superblock {version} on {desc}"
    if not 0 < raid_disks <= MAX_MEMBERS:
        raise CorruptImage(f"{where}: {raid_disks} member disks is not a possible array", path=rp)
    member_bytes = dev.size
    if data_offset * 512 >= member_bytes or data_offset * 512 + data_size * 512 > member_bytes:
        raise CorruptImage(f"{where}: data area (offset {data_offset}, {data_size} sectors) lies beyond the "
                           f"member ({member_bytes} bytes)", path=rp)
    used = size_sectors if size_sectors else data_size
    if used > data_size and data_size:
        raise CorruptImage(f"{where}: array uses {used} sectors of a {data_size}-sector data area", path=rp)
    if chunk_sectors * 512 > MAX_CHUNK:
        raise CorruptImage(f"{where}: chunk of {chunk_sectors} sectors", path=rp)
    role = None
    if dev_number < min(max_dev, 384) and 256 + 2 * dev_number + 2 <= 512:
        r = struct.unpack("<H", raw[256 + 2 * dev_number:258 + 2 * dev_number])[0]
        role = r if r < 0xFFFE else None
    elif dev_number < min(max_dev, 384):
        more = dev.read(sb_off + 256 + 2 * dev_number, 2)
        if len(more) == 2:
            r = struct.unpack("<H", more)[0]
            role = r if r < 0xFFFE else None
    return MdMember(_uuid(set_uuid), name or None, level, raid_disks, role, data_offset * 512, used * 512,
                    chunk_sectors * 512, events, version, layout)


def _sb090(raw: bytes, dev: BlockDevice, desc: str, rp: str) -> MdMember:
    """md_p.h: 1024 little-endian words; generic constants at word 0, state at 32, personality at 64,
    this device's descriptor at 992 (its raid_disk is word 3 of it)."""
    words = struct.unpack("<1024I", raw)
    level = struct.unpack("<i", raw[28:32])[0]
    size_kib, raid_disks = words[8], words[10]
    set_uuid = struct.pack(">IIII", words[5], words[13], words[14], words[15])
    events = (words[40] << 32) | words[39]
    layout, chunk = words[64], words[65]
    where = f"md superblock 0.90 on {desc}"
    if not 0 < raid_disks <= MAX_MEMBERS:
        raise CorruptImage(f"{where}: {raid_disks} member disks is not a possible array", path=rp)
    if size_kib * 1024 > dev.size:
        raise CorruptImage(f"{where}: array size {size_kib} KiB exceeds the member ({dev.size} bytes)", path=rp)
    if chunk > MAX_CHUNK:
        raise CorruptImage(f"{where}: chunk of {chunk} bytes", path=rp)
    return MdMember(_uuid(set_uuid), None, level, raid_disks, words[992 + 3], 0, size_kib * 1024, chunk, events,
                    "0.90", layout)


class MdDevice(BlockDevice):
    """An assembled array: RAID1 reads one member's data area; RAID0 stripes over the members in role order."""

    format = "md"

    def __init__(self, members: list[BlockDevice], level: int, chunk: int, size: int, path: str,
                 description: str, layout: int = 0) -> None:
        self.members = members
        self.level = level
        self.layout = layout
        self.chunk = chunk
        self.size = size
        self.path = path
        self.description = description

    def read(self, offset: int, size: int) -> bytes:
        if offset >= self.size or size <= 0:
            return b""
        size = min(size, self.size - offset)
        if self.level == 1 or len(self.members) == 1:
            return self.members[0].read(offset, size)
        parts = []
        n = len(self.members)
        while size > 0:
            index, within = divmod(offset, self.chunk)
            if self.level == 0:
                disk, row = index % n, index // n
            else:
                disk, row = _parity_map(index, n, self.layout)
            take = min(size, self.chunk - within)
            data = self.members[disk].read(row * self.chunk + within, take)
            parts.append(data.ljust(take, b"\0"))
            offset += take
            size -= take
        return b"".join(parts)

    def close(self) -> None:
        pass


# md's parity placements (drivers/md/raid5.h ALGORITHM_*): left/right = where parity starts,
# asymmetric/symmetric = whether data restarts at disk 0 or after the parity disk.
RAID5_LAYOUTS = (0, 1, 2, 3)
RAID4_LAYOUT = 4  # parity always on the last disk (our own code for RAID4, which has no layout)


def _parity_map(index: int, n: int, layout: int) -> tuple[int, int]:
    """(member, row) holding data chunk ``index`` of a RAID4/5 array of ``n`` members."""
    row, dd = divmod(index, n - 1)
    if layout == RAID4_LAYOUT:
        return dd, row
    parity = (n - 1) - row % n if layout in (0, 2) else row % n
    if layout in (0, 1):  # asymmetric
        return (dd if dd < parity else dd + 1), row
    return (parity + 1 + dd) % n, row


@dataclass
class MdArray:
    uuid: str
    name: str | None
    level: int
    device: MdDevice | None
    members: list[str] = field(default_factory=list)  # member descriptions
    problem: str | None = None  # why it is not assembled

    @property
    def names(self) -> list[str]:
        """Names a guest may use for it: /dev/md/NAME (mdadm's), then the kernel's /dev/mdN is only
        known from the guest's mdadm.conf (migrate.image.mounting.config_aliases)."""
        out = []
        if self.name:
            out += [f"/dev/md/{self.name}"]
            if self.name.isdigit():
                out.append(f"/dev/md{self.name}")
        out.append(f"/dev/disk/by-id/md-uuid-{self.uuid.replace('-', '')}")
        return out


def assemble_md(members: list[tuple[str, BlockDevice, MdMember]], *, report_path: str) -> list[MdArray]:
    """Arrays from the members found on the disks: [(description, member device, its superblock)]."""
    check_count(len(members), MAX_MEMBERS * 4, "md RAID members", report_path)
    groups: dict[str, list[tuple[str, BlockDevice, MdMember]]] = {}
    for m in members:
        groups.setdefault(m[2].array_uuid, []).append(m)
    arrays = []
    for uid, group in groups.items():
        group.sort(key=lambda m: -m[2].events)
        sb = group[0][2]
        descs = [g[0] for g in group]
        arr = MdArray(uid, sb.name, sb.level, None, descs)
        by_role = {m[2].role: m for m in group if m[2].role is not None and m[2].role < sb.raid_disks}
        label = f"md RAID{sb.level} array {sb.name or uid}"
        if sb.level == 1:
            first = by_role.get(min(by_role)) if by_role else group[0]
            desc, dev, msb = first  # type: ignore[misc]
            size = min(msb.data_size, sb.data_size)
            arr.device = MdDevice([dev.slice(msb.data_offset, msb.data_size)], 1, 0, size, report_path, label)
            if len(by_role) < sb.raid_disks:
                arr.problem = (f"{label}: {len(by_role)} of {sb.raid_disks} mirror members present "
                               f"(degraded; read from {desc})")
        elif sb.level in (4, 5) and sb.layout in RAID5_LAYOUTS and sb.chunk > 0 and sb.raid_disks >= 2:
            missing = [r for r in range(sb.raid_disks) if r not in by_role]
            if missing:  # a degraded parity array needs reconstruction from parity: libguestfs does that
                raise UnsupportedLayout(f"{label}: member(s) {missing} missing; a degraded RAID{sb.level} is not "
                                        "reconstructed natively", path=report_path)
            devs = [by_role[r][1].slice(by_role[r][2].data_offset, by_role[r][2].data_size)
                    for r in range(sb.raid_disks)]
            per = min(by_role[r][2].data_size for r in range(sb.raid_disks)) // sb.chunk * sb.chunk
            arr.device = MdDevice(devs, sb.level, sb.chunk, per * (sb.raid_disks - 1), report_path, label,
                                  layout=sb.layout if sb.level == 5 else RAID4_LAYOUT)
        elif sb.level in (0, -1) and len(group) >= 1:
            missing = [r for r in range(sb.raid_disks) if r not in by_role]
            if missing:
                arr.problem = f"{label}: member(s) {missing} not on the given disks; not assembled"
            elif sb.level == 0 and sb.chunk <= 0:
                arr.problem = f"{label}: chunk size 0; not assembled"
            else:
                devs = [by_role[r][1].slice(by_role[r][2].data_offset, by_role[r][2].data_size)
                        for r in range(sb.raid_disks)]
                if sb.level == 0:
                    per = min(by_role[r][2].data_size for r in range(sb.raid_disks)) // sb.chunk * sb.chunk
                    arr.device = MdDevice(devs, 0, sb.chunk, per * sb.raid_disks, report_path, label)
                else:
                    arr.device = _linear(devs, report_path, label)
        else:
            raise UnsupportedLayout(f"{label} ({', '.join(descs)}): RAID level {sb.level} is not assembled "
                                    "natively", path=report_path)
        arrays.append(arr)
    return arrays


def _linear(devs: list[BlockDevice], path: str, label: str) -> MdDevice:
    """A linear array: the members end to end, in role order."""
    parts, pos = [], 0
    for d in devs:
        parts.append((pos, d))
        pos += d.size
    return MdDevice([ConcatDevice(parts, pos, path)], 1, 0, pos, path, label)
