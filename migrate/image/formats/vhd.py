"""VHD (Virtual PC / Hyper-V "vpc"): fixed and dynamic disks. Our own reader.

The virtual size follows qemu's rule so that our bytes match ``qemu-img convert``: images written by
Virtual PC or qemu ("vpc ", "qemu") use the CHS geometry, the others the footer's current size.
Differencing VHDs are UnsupportedLayout that does not fall back (their parent locator is vetted by
migrate.image.confine first).
"""

from __future__ import annotations

import array
import struct
import sys

from migrate.errors import CorruptImage, UnsupportedLayout
from migrate.image.budget import check_table
from migrate.image.confine import ChainRoot

from .base import SECTOR, ChunkedDevice, HostFile

FOOTER_MAGIC = b"conectix"
DYN_MAGIC = b"cxsparse"
FIXED, DYNAMIC, DIFFERENCING = 2, 3, 4
_LOCATORS = {b"W2ru": "utf-16-le", b"W2ku": "utf-16-le", b"MacX": "utf-8", b"Mac ": "utf-8"}  # relative first


def read_footer(f: HostFile) -> bytes | None:
    if f.size >= 512:
        tail = f.pread(f.size - 512, 512, what="VHD footer")
        if tail[:8] == FOOTER_MAGIC:
            return tail
    if f.size >= 511:  # very old images have a 511-byte footer
        tail = f.pread(f.size - 511, 511, what="VHD footer")
        if tail[:8] == FOOTER_MAGIC:
            return tail + b"\0"
    if f.size >= 512:
        head = f.pread(0, 512, what="VHD footer copy")
        if head[:8] == FOOTER_MAGIC:  # dynamic disks keep a copy at the start; the tail one was lost
            return head
    return None


class VhdDevice(ChunkedDevice):
    format = "vpc"

    def __init__(self, path: str, *, report_path: str | None = None, depth: int = 0,
                 root: ChainRoot | None = None) -> None:
        self.path = path
        self.report_path = rp = report_path or path
        self.file = f = HostFile(path, rp)
        try:
            footer = read_footer(f)
            if footer is None:
                raise CorruptImage("VHD footer not found (truncated?)", path=rp)
            data_offset = struct.unpack(">Q", footer[16:24])[0]
            creator = footer[28:32]
            current_size = struct.unpack(">Q", footer[48:56])[0]
            cyls, heads, secs = struct.unpack(">HBB", footer[56:60])
            disk_type = struct.unpack(">I", footer[60:64])[0]
            if creator in (b"vpc ", b"qemu"):
                self.size = cyls * heads * secs * SECTOR
            else:
                self.size = current_size
            if disk_type == FIXED:
                self.variant = "fixed"
                self.chunk_size = 1 << 21
                self.bat = None
                if f.size - 512 < self.size:
                    raise CorruptImage(f"fixed VHD holds {f.size - 512} bytes of data, footer says {self.size}",
                                       path=rp)
                return
            if disk_type not in (DYNAMIC, DIFFERENCING):
                raise CorruptImage(f"VHD disk type {disk_type}", path=rp)
            self.variant = "dynamic"
            dyn = f.pread(data_offset, 1024, what="VHD dynamic header")
            if dyn[:8] != DYN_MAGIC:
                raise CorruptImage("VHD dynamic header magic missing", path=rp)
            if disk_type == DIFFERENCING:
                self._refuse_differencing(dyn, root or ChainRoot.of(path, rp))
            table_offset, _ver, max_entries, block_size = struct.unpack(">QIII", dyn[16:36])
            if block_size < SECTOR or block_size & (block_size - 1) or block_size > 1 << 28:
                raise CorruptImage(f"VHD block size {block_size} is invalid", path=rp)
            self.chunk_size = block_size
            n = -(-self.size // block_size)
            if max_entries < n:
                raise CorruptImage(f"VHD BAT has {max_entries} entries, {n} needed", path=rp)
            if table_offset + n * 4 > f.size:
                raise CorruptImage(f"VHD BAT of {n} entries (virtual size {self.size}) lies past the end of the "
                                   f"file ({f.size} bytes)", path=rp)
            check_table(n * 4, "VHD BAT", rp)
            self.bat = array.array("I", f.pread(table_offset, n * 4, what="VHD BAT"))
            if sys.byteorder == "little":
                self.bat.byteswap()
            bitmap = block_size // SECTOR // 8
            self.bitmap_size = (bitmap + SECTOR - 1) // SECTOR * SECTOR
        except BaseException:
            f.close()
            raise

    def _refuse_differencing(self, dyn: bytes, root: ChainRoot) -> None:
        """A differencing VHD needs its parent, which neither our reader nor qemu's follows (qemu
        would read the child alone, silently without the parent's data). The parent locator is still
        vetted, so a hostile one is named as such, and the refusal never falls back to libguestfs."""
        name = None
        for i in range(8):
            code, _space, length, _res, offset = struct.unpack(">4sIIIQ", dyn[576 + 24 * i:600 + 24 * i])
            if code not in _LOCATORS or not 0 < length <= 4096:
                continue
            raw = self.file.pread(offset, length, what="VHD parent locator")
            text = raw.decode(_LOCATORS[code], "replace").rstrip("\0")
            if code in (b"MacX", b"Mac ") and text.startswith("file://"):
                text = text[len("file://"):]
            name = text.replace("\\", "/")
            break
        if name:
            root.resolve(name, self.path, what="parent disk")
        exc = UnsupportedLayout(f"differencing VHD (parent {name!r}); its parent is not read",
                                path=self.report_path)
        exc.no_fallback = True  # type: ignore[attr-defined]
        raise exc

    def _read_chunk(self, index: int, within: int, length: int) -> bytes:
        if self.bat is None:
            return self.file.pread(index * self.chunk_size + within, length, what="VHD data")
        entry = self.bat[index]
        if entry == 0xFFFFFFFF:
            return bytes(length)
        return self.file.pread(entry * SECTOR + self.bitmap_size + within, length, what="VHD data block")

    @property
    def file_size(self) -> int | None:
        return self.file.size

    def close(self) -> None:
        self.file.close()
