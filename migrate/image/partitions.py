"""Partition tables: MBR (primary, extended and logical) and GPT (header and entry-array CRCs
checked; the backup header at the end of the disk is used when the primary is damaged). A disk
without a table is one whole-disk volume (``index`` 0)."""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass

from migrate.errors import CorruptImage

from .budget import MAX_PARTITIONS, check_count
from .formats.base import BlockDevice

EXTENDED_TYPES = (0x05, 0x0F, 0x85)
GPT_SIGNATURE = b"EFI PART"
MAX_GPT_ARRAY = 1 << 20  # 4096 entries of 256 bytes; sfdisk writes 128 × 128


@dataclass(frozen=True)
class Partition:
    index: int  # 1-based as Linux numbers them (logical MBR partitions from 5); 0 = whole disk
    start: int  # bytes
    size: int  # bytes
    scheme: str  # "gpt", "mbr", "none"
    type_guid: str | None = None
    type_byte: int | None = None
    name: str | None = None  # GPT partition name (PARTLABEL)
    partuuid: str | None = None
    bootable: bool = False


def read_partitions(disk: BlockDevice, *, report_path: str | None = None) -> list[Partition]:
    """Partitions of ``disk``; [whole disk] when there is no table."""
    rp = report_path or disk.path
    mbr = disk.read(0, 512)
    gpt = _read_gpt(disk, rp, mbr)
    if gpt is not None:
        return gpt
    if len(mbr) == 512 and mbr[510:512] == b"\x55\xaa" and _looks_like_mbr(mbr):
        return _read_mbr(disk, mbr, rp)
    return [Partition(0, 0, disk.size, "none")]


def _looks_like_mbr(mbr: bytes) -> bool:
    """A FAT/NTFS boot sector also ends in 55 AA: accept only sane entries with at least one in use."""
    used = 0
    for i in range(4):
        e = mbr[446 + 16 * i: 462 + 16 * i]
        if e[0] not in (0, 0x80):
            return False
        if e[4]:
            used += 1
    return used > 0


def _disk_id(mbr: bytes) -> str:
    return f"{struct.unpack('<I', mbr[440:444])[0]:08x}"


def _read_mbr(disk: BlockDevice, mbr: bytes, rp: str) -> list[Partition]:
    out: list[Partition] = []
    disk_id = _disk_id(mbr)
    extended: tuple[int, int] | None = None
    for i in range(4):
        e = mbr[446 + 16 * i: 462 + 16 * i]
        ptype = e[4]
        start, count = struct.unpack("<II", e[8:16])
        if ptype == 0 or count == 0:
            continue
        if start * 512 >= disk.size:
            raise CorruptImage(f"MBR partition {i + 1} starts past the end of the disk", path=rp)
        if ptype in EXTENDED_TYPES:
            extended = (start, count)
            continue
        out.append(Partition(i + 1, start * 512, count * 512, "mbr", type_byte=ptype,
                             partuuid=f"{disk_id}-{i + 1:02x}", bootable=e[0] == 0x80))
    if extended is not None:
        ext_start = extended[0]
        ebr_lba = ext_start
        number = 5
        seen: set[int] = set()
        while ebr_lba and ebr_lba not in seen and len(seen) < MAX_PARTITIONS:
            seen.add(ebr_lba)
            ebr = disk.read(ebr_lba * 512, 512)
            if len(ebr) < 512 or ebr[510:512] != b"\x55\xaa":
                break
            e1, e2 = ebr[446:462], ebr[462:478]
            start, count = struct.unpack("<II", e1[8:16])
            if e1[4] and count:
                out.append(Partition(number, (ebr_lba + start) * 512, count * 512, "mbr", type_byte=e1[4],
                                     partuuid=f"{disk_id}-{number:02x}"))
                number += 1
            nxt = struct.unpack("<I", e2[8:12])[0]
            ebr_lba = ext_start + nxt if e2[4] in EXTENDED_TYPES and nxt else 0
    return sorted(out, key=lambda p: p.index)


def _guid(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=raw))


def _read_gpt(disk: BlockDevice, rp: str, mbr: bytes) -> list[Partition] | None:
    for sector in (512, 4096):
        header = disk.read(sector, 512)
        if header[:8] == GPT_SIGNATURE:
            parts = _gpt_from_header(disk, header, sector)
            if parts is not None:
                return parts
            backup = disk.read(disk.size - sector, 512)  # the primary is damaged: try the backup
            if backup[:8] == GPT_SIGNATURE:
                parts = _gpt_from_header(disk, backup, sector)
                if parts is not None:
                    return parts
            raise CorruptImage("GPT primary and backup headers are both damaged", path=rp)
    # protective MBR but primary header lost entirely
    if len(mbr) == 512 and mbr[510:512] == b"\x55\xaa" and mbr[450] == 0xEE:
        for sector in (512, 4096):
            backup = disk.read(disk.size - sector, 512)
            if backup[:8] == GPT_SIGNATURE:
                parts = _gpt_from_header(disk, backup, sector)
                if parts is not None:
                    return parts
        raise CorruptImage("protective MBR but no valid GPT header", path=rp)
    return None


def _gpt_from_header(disk: BlockDevice, header: bytes, sector: int) -> list[Partition] | None:
    hsize = struct.unpack("<I", header[12:16])[0]
    if not 92 <= hsize <= 512:
        return None
    crc = struct.unpack("<I", header[16:20])[0]
    if zlib.crc32(header[:16] + b"\0\0\0\0" + header[20:hsize]) != crc:
        return None
    entries_lba, count, esize, entries_crc = struct.unpack("<QIII", header[72:92])
    # entry size is 128 × 2^n (UEFI); the array is sized before it is read, never from the header alone
    if esize < 128 or esize > 4096 or esize & (esize - 1) or count > 4096 or count * esize > MAX_GPT_ARRAY:
        return None
    raw = disk.read(entries_lba * sector, count * esize)
    if len(raw) != count * esize or zlib.crc32(raw) != entries_crc:
        return None
    out = []
    for i in range(count):
        e = raw[i * esize:(i + 1) * esize]
        if e[:16] == bytes(16):
            continue
        first, last = struct.unpack("<QQ", e[32:48])
        name = e[56:128].decode("utf-16-le", "replace").split("\0", 1)[0]
        out.append(Partition(i + 1, first * sector, (last - first + 1) * sector, "gpt",
                             type_guid=_guid(e[:16]), name=name or None, partuuid=_guid(e[16:32])))
    check_count(len(out), MAX_PARTITIONS, "GPT partitions in use", disk.path)
    return out
