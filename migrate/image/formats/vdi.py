"""VirtualBox VDI, static and dynamic. Our own reader (a block map of 32-bit entries)."""

from __future__ import annotations

import array
import struct
import sys

from migrate.errors import CorruptImage, UnsupportedLayout
from migrate.image.budget import check_table
from migrate.image.confine import ChainRoot

from .base import ChunkedDevice, HostFile

SIGNATURE = 0xBEDA107F
UNALLOCATED = 0xFFFFFFFF
ZERO = 0xFFFFFFFE


class VdiDevice(ChunkedDevice):
    format = "vdi"

    def __init__(self, path: str, *, report_path: str | None = None, depth: int = 0,
                 root: ChainRoot | None = None) -> None:
        self.path = path
        self.report_path = rp = report_path or path
        self.file = f = HostFile(path, rp)
        try:
            h = f.pread(0, 400, what="VDI header")
            sig, version = struct.unpack("<II", h[64:72])
            if sig != SIGNATURE:
                raise CorruptImage("bad VDI signature", path=rp)
            if version >> 16 == 0:
                raise UnsupportedLayout(f"VDI version {version >> 16}.{version & 0xffff}", path=rp)
            if version >> 16 != 1:  # random bytes after the signature
                raise CorruptImage(f"VDI version {version >> 16}.{version & 0xffff} (0.x and 1.x exist)", path=rp)
            image_type = struct.unpack("<I", h[76:80])[0]
            off_bmap, off_data = struct.unpack("<II", h[340:348])
            self.size, block_size, block_extra, blocks = struct.unpack("<QIII", h[368:388])
            self.variant = {1: "dynamic", 2: "static"}.get(image_type)
            if image_type in (3, 4):
                # undo/differencing: the parent is found by UUID in VirtualBox's registry, never by
                # a file name; qemu does not read these either, so this does not fall back
                exc = UnsupportedLayout(f"VDI image type {image_type} (undo or differencing)", path=rp)
                exc.no_fallback = True  # type: ignore[attr-defined]
                raise exc
            if self.variant is None:
                raise CorruptImage(f"VDI image type {image_type}", path=rp)
            if block_size < 512 or block_size & (block_size - 1) or block_size > 1 << 28:
                raise CorruptImage(f"VDI block size {block_size} is invalid", path=rp)
            if blocks * block_size < self.size:
                raise CorruptImage("VDI block map is smaller than the disk", path=rp)
            if off_bmap + blocks * 4 > f.size:
                raise CorruptImage(f"VDI block map of {blocks} entries lies past the end of the file "
                                   f"({f.size} bytes)", path=rp)
            check_table(blocks * 4, "VDI block map", rp)
            self.chunk_size = block_size
            self.off_data = off_data + block_extra
            self.bmap = array.array("I", f.pread(off_bmap, blocks * 4, what="VDI block map"))
            if sys.byteorder == "big":
                self.bmap.byteswap()
        except BaseException:
            f.close()
            raise

    def _read_chunk(self, index: int, within: int, length: int) -> bytes:
        entry = self.bmap[index]
        if entry >= ZERO:
            return bytes(length)
        return self.file.pread(self.off_data + entry * self.chunk_size + within, length, what="VDI block")

    @property
    def file_size(self) -> int | None:
        return self.file.size

    def close(self) -> None:
        self.file.close()
