"""VHDX: headers (CRC-32C checked, newest valid one wins), region table, metadata, BAT with
interleaved sector-bitmap entries, payload blocks. Our own reader.

A non-empty log (the image was not closed cleanly) is rejected with CorruptImage rather than
replayed; differencing VHDX (has_parent) is UnsupportedLayout that does not fall back (the parent
locator is vetted by migrate.image.confine first).
"""

from __future__ import annotations

import array
import struct
import sys
import uuid

from migrate.errors import CorruptImage, UnsupportedLayout
from migrate.image.budget import check_table
from migrate.image.confine import ChainRoot

from .base import ChunkedDevice, HostFile

MAGIC = b"vhdxfile"
BAT_GUID = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08").bytes_le
METADATA_GUID = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E").bytes_le
FILE_PARAMS = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B").bytes_le
VIRTUAL_SIZE = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8").bytes_le
LOGICAL_SECTOR = uuid.UUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F").bytes_le
PARENT_LOCATOR = uuid.UUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C").bytes_le
PAYLOAD_PRESENT = (6, 7)  # FULLY_PRESENT, PARTIALLY_PRESENT

_CRC_TABLE: list[int] = []


def crc32c(data: bytes) -> int:
    if not _CRC_TABLE:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            _CRC_TABLE.append(c)
    table = _CRC_TABLE
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _checked(block: bytes) -> bool:
    stored = struct.unpack("<I", block[4:8])[0]
    return crc32c(block[:4] + b"\0\0\0\0" + block[8:]) == stored


class VhdxDevice(ChunkedDevice):
    format = "vhdx"

    def __init__(self, path: str, *, report_path: str | None = None, depth: int = 0,
                 root: ChainRoot | None = None) -> None:
        self.path = path
        self.report_path = rp = report_path or path
        self.file = f = HostFile(path, rp)
        try:
            if f.pread(0, 8, what="VHDX identifier") != MAGIC:
                raise CorruptImage("bad VHDX file identifier", path=rp)
            best = None
            for off in (0x10000, 0x20000):
                h = f.pread(off, 4096, what="VHDX header")
                if h[:4] == b"head" and _checked(h):
                    seq = struct.unpack("<Q", h[8:16])[0]
                    if best is None or seq > best[0]:
                        best = (seq, h)
            if best is None:
                raise CorruptImage("no valid VHDX header (checksums do not match)", path=rp)
            h = best[1]
            if h[48:64] != bytes(16):
                raise CorruptImage("VHDX log is not empty (image not closed cleanly); log replay is "
                                   "not supported", path=rp)
            regions = None
            for off in (0x30000, 0x40000):
                r = f.pread(off, 0x10000, what="VHDX region table")
                if r[:4] == b"regi" and _checked(r):
                    regions = r
                    break
            if regions is None:
                raise CorruptImage("no valid VHDX region table", path=rp)
            count = struct.unpack("<I", regions[8:12])[0]
            found: dict[bytes, tuple[int, int]] = {}
            for i in range(min(count, 2047)):
                e = regions[16 + 32 * i: 48 + 32 * i]
                found[e[:16]] = struct.unpack("<QI", e[16:28])
            if BAT_GUID not in found or METADATA_GUID not in found:
                raise CorruptImage("VHDX region table lacks BAT or metadata", path=rp)
            meta_off, meta_len = found[METADATA_GUID]
            if meta_len > 1 << 20:  # the format caps the metadata region at 1 MiB
                raise CorruptImage(f"VHDX metadata region of {meta_len} bytes", path=rp)
            meta = f.pread(meta_off, meta_len, what="VHDX metadata")
            if meta[:8] != b"metadata":
                raise CorruptImage("VHDX metadata signature missing", path=rp)
            items: dict[bytes, bytes] = {}
            for i in range(struct.unpack("<H", meta[10:12])[0]):
                e = meta[32 + 32 * i: 64 + 32 * i]
                ioff, ilen = struct.unpack("<II", e[16:24])
                items[e[:16]] = meta[ioff:ioff + ilen]
            try:
                block_size, flags = struct.unpack("<II", items[FILE_PARAMS][:8])
                self.size = struct.unpack("<Q", items[VIRTUAL_SIZE][:8])[0]
                sector = struct.unpack("<I", items[LOGICAL_SECTOR][:4])[0]
            except (KeyError, struct.error):
                raise CorruptImage("VHDX metadata lacks required items", path=rp) from None
            if flags & 2:
                self._refuse_differencing(items.get(PARENT_LOCATOR, b""), root or ChainRoot.of(path, rp))
            if block_size < 1 << 20 or block_size & (block_size - 1) or sector not in (512, 4096):
                raise CorruptImage(f"VHDX block size {block_size} / sector {sector} invalid", path=rp)
            self.variant = "dynamic"
            self.chunk_size = block_size
            self.chunk_ratio = (1 << 23) * sector // block_size
            n_blocks = -(-self.size // block_size)
            n_entries = n_blocks + (n_blocks - 1) // self.chunk_ratio if n_blocks else 0
            bat_off, bat_len = found[BAT_GUID]
            if n_entries * 8 > bat_len or bat_off + n_entries * 8 > f.size:
                raise CorruptImage(f"VHDX BAT of {n_entries} entries (virtual size {self.size}) does not fit its "
                                   f"region or the file ({f.size} bytes)", path=rp)
            check_table(n_entries * 8, "VHDX BAT", rp)
            self.bat = array.array("Q", f.pread(bat_off, n_entries * 8, what="VHDX BAT"))
            if sys.byteorder == "big":
                self.bat.byteswap()
        except BaseException:
            f.close()
            raise

    def _refuse_differencing(self, locator: bytes, root: ChainRoot) -> None:
        """Differencing VHDX: neither our reader nor qemu's follows the parent. The parent locator's
        path (relative first) is vetted so a hostile one is named as such; never falls back."""
        entries: dict[str, str] = {}
        if len(locator) >= 20:
            count = struct.unpack("<H", locator[18:20])[0]
            for i in range(min(count, 64)):
                e = locator[20 + 12 * i:32 + 12 * i]
                if len(e) < 12:
                    break
                koff, voff, klen, vlen = struct.unpack("<IIHH", e)
                key = locator[koff:koff + klen].decode("utf-16-le", "replace")
                entries[key] = locator[voff:voff + vlen].decode("utf-16-le", "replace")
        name = entries.get("relative_path") or entries.get("absolute_win32_path")
        if name:
            root.resolve(name.replace("\\", "/"), self.path, what="parent disk")
        exc = UnsupportedLayout(f"differencing VHDX (parent {name!r}); its parent is not read",
                                path=self.report_path)
        exc.no_fallback = True  # type: ignore[attr-defined]
        raise exc

    def _read_chunk(self, index: int, within: int, length: int) -> bytes:
        entry = self.bat[index + index // self.chunk_ratio]
        if entry & 7 not in PAYLOAD_PRESENT:
            return bytes(length)
        return self.file.pread((entry >> 20 << 20) + within, length, what="VHDX payload block")

    @property
    def file_size(self) -> int | None:
        return self.file.size

    def close(self) -> None:
        self.file.close()
