"""VMDK: descriptor files and the hosted sparse extent format (monolithicSparse, streamOptimized with
compressed grains and markers, twoGbMaxExtentSparse split extents), flat extents (monolithicFlat,
twoGbMaxExtentFlat, vmfs) and ZERO extents. Our own reader, differential-tested against qemu-img.

Parent links (``parentFileNameHint`` of a delta disk) are followed like qcow2 backing files; every
extent and parent name is confined to the image's folder (migrate.image.confine) before anything is
opened. The old ESX ``COWD`` sparse format and VMFS sparse/SE sparse extents are UnsupportedLayout.
"""

from __future__ import annotations

import array
import os
import re
import shlex
import struct
import sys
import zlib

from migrate.errors import CorruptImage, UnsupportedLayout
from migrate.image.budget import CACHE_BYTES, CHUNK_CACHE_BYTES, MAX_EXTENTS, check_count, check_table
from migrate.image.confine import ChainRoot

from .base import LRU, SECTOR, BlockDevice, ChunkedDevice, ConcatDevice, HostFile, RawDevice, ZeroDevice

MAGIC = b"KDMV"
DESCRIPTOR_MAGIC = b"# Disk DescriptorFile"
_HDR = struct.Struct("<4sIIQQQQIQQQB4sH")
GD_AT_END = 0xFFFFFFFFFFFFFFFF
FLAG_COMPRESSED = 1 << 16
FLAG_MARKERS = 1 << 17
_MAX_DESCRIPTOR = 1 << 20


class SparseExtent(ChunkedDevice):
    """One hosted sparse extent file (``KDMV``)."""

    def __init__(self, path: str, report_path: str) -> None:
        self.path = path
        self.report_path = report_path
        self.file = f = HostFile(path, report_path)
        try:
            hdr = self._header(f.pread(0, _HDR.size, what="VMDK sparse header"))
            if hdr["gd_offset"] == GD_AT_END:  # streamOptimized: the real header is the footer
                if f.size < 1536:
                    raise CorruptImage("streamOptimized VMDK without a footer", path=report_path)
                hdr = self._header(f.pread(f.size - 1024, _HDR.size, what="VMDK footer"))
                if hdr["gd_offset"] == GD_AT_END:
                    raise CorruptImage("VMDK footer has no grain directory", path=report_path)
            self.hdr = hdr
            self.size = hdr["capacity"] * SECTOR
            grain = hdr["grain_size"]
            if grain <= 0 or grain & (grain - 1) or grain > 2048:
                raise CorruptImage(f"VMDK grain size {grain} sectors is invalid", path=report_path)
            self.chunk_size = grain * SECTOR
            self.gte_per_gt = hdr["gte_per_gt"]
            if not 1 <= self.gte_per_gt <= 512:  # the format fixes 512; qemu refuses more too
                raise CorruptImage(f"VMDK numGTEsPerGT {self.gte_per_gt} is invalid (at most 512)",
                                   path=report_path)
            self.compressed = bool(hdr["flags"] & FLAG_COMPRESSED)
            self.markers = bool(hdr["flags"] & FLAG_MARKERS)
            if self.compressed and hdr["compress_algorithm"] not in (0, 1):
                raise UnsupportedLayout(f"VMDK compression algorithm {hdr['compress_algorithm']}",
                                        path=report_path)
            n_grains = -(-hdr["capacity"] // grain)
            n_gts = -(-n_grains // self.gte_per_gt)
            if hdr["gd_offset"] * SECTOR + n_gts * 4 > f.size:
                raise CorruptImage(f"VMDK grain directory of {n_gts} entries (capacity {self.size} bytes) lies "
                                   f"past the end of the file ({f.size} bytes)", path=report_path)
            check_table(n_gts * 4, "VMDK grain directory", report_path)
            self.gd = _le_array("I", f.pread(hdr["gd_offset"] * SECTOR, n_gts * 4, what="VMDK grain directory"))
            self._gts = LRU(128, CACHE_BYTES)
            self._grains = LRU(64, CHUNK_CACHE_BYTES)
        except BaseException:
            f.close()
            raise

    def _header(self, raw: bytes) -> dict[str, int]:
        (magic, version, flags, capacity, grain_size, desc_off, desc_size, gte_per_gt, _rgd, gd_off,
         _overhead, _unclean, _nl, algo) = _HDR.unpack(raw)
        if magic != MAGIC:
            raise CorruptImage("bad VMDK sparse extent magic", path=self.report_path)
        if version not in (1, 2, 3):  # no other version exists: random bytes after the magic
            raise CorruptImage(f"VMDK sparse extent version {version} (1-3 exist)", path=self.report_path)
        return {"flags": flags, "capacity": capacity, "grain_size": grain_size, "desc_offset": desc_off,
                "desc_size": desc_size, "gte_per_gt": gte_per_gt, "gd_offset": gd_off,
                "compress_algorithm": algo}

    def _gt(self, gt_sector: int) -> array.array:
        def load() -> array.array:
            return _le_array("I", self.file.pread(gt_sector * SECTOR, self.gte_per_gt * 4, what="VMDK grain table"))
        return self._gts.get(gt_sector, load)  # type: ignore[return-value]

    def grain_sector(self, index: int) -> int:
        gdi, gti = divmod(index, self.gte_per_gt)
        if gdi >= len(self.gd) or self.gd[gdi] == 0:
            return 0
        return self._gt(self.gd[gdi])[gti]

    def _read_chunk(self, index: int, within: int, length: int) -> bytes:
        sector = self.grain_sector(index)
        if sector in (0, 1):  # unallocated (parent or zeros) / zero grain; parent handled by caller
            return bytes(length)
        if self.compressed:
            data = self._grains.get(sector, lambda: self._inflate(sector))
            return data[within:within + length]  # type: ignore[index]
        return self.file.pread(sector * SECTOR + within, length, what="VMDK grain")

    def _inflate(self, sector: int) -> bytes:
        off = sector * SECTOR
        if self.markers:
            _lba, size = struct.unpack("<QI", self.file.pread(off, 12, what="VMDK grain marker"))
            if size == 0 or size > 2 * self.chunk_size + 4096:
                raise CorruptImage(f"VMDK grain marker at sector {sector} has size {size}",
                                   path=self.report_path)
            raw = self.file.pread(off + 12, size, what="VMDK compressed grain")
        else:
            raw = self.file.pread(off, min(2 * self.chunk_size + 4096, self.file.size - off),
                                  what="VMDK compressed grain", exact=False)
        try:
            out = zlib.decompressobj().decompress(raw, self.chunk_size)
        except zlib.error as exc:
            raise CorruptImage(f"VMDK grain at sector {sector} does not decompress: {exc}",
                               path=self.report_path) from None
        return out + bytes(self.chunk_size - len(out))

    def embedded_descriptor(self) -> str | None:
        if not self.hdr["desc_offset"] or not self.hdr["desc_size"]:
            return None
        if self.hdr["desc_size"] > _MAX_DESCRIPTOR // SECTOR:
            raise CorruptImage(f"VMDK embedded descriptor of {self.hdr['desc_size']} sectors (at most "
                               f"{_MAX_DESCRIPTOR // SECTOR})", path=self.report_path)
        raw = self.file.pread(self.hdr["desc_offset"] * SECTOR, self.hdr["desc_size"] * SECTOR,
                              what="VMDK embedded descriptor", exact=False)
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace")

    def close(self) -> None:
        self.file.close()


class _SparseWithParent(BlockDevice):
    """A sparse extent whose unallocated grains come from a parent disk region."""

    def __init__(self, extent: SparseExtent, parent: BlockDevice, parent_offset: int) -> None:
        self.extent, self.parent, self.parent_offset = extent, parent, parent_offset
        self.size = extent.size
        self.path = extent.path

    def read(self, offset: int, size: int) -> bytes:
        ext = self.extent
        size = max(0, min(size, self.size - offset))
        out = []
        cs = ext.chunk_size
        while size > 0:
            within = offset % cs
            n = min(cs - within, size)
            if ext.grain_sector(offset // cs) == 0:
                data = self.parent.read(self.parent_offset + offset, n)
                out.append(data + bytes(n - len(data)))
            else:
                out.append(ext._read_chunk(offset // cs, within, n))
            offset += n
            size -= n
        return b"".join(out)

    def close(self) -> None:
        self.extent.close()


_EXTENT_RE = re.compile(r"^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)(.*)$")


def parse_descriptor(text: str) -> tuple[dict[str, str], list[tuple[str, int, str, str | None, int]]]:
    """(key=value settings, [(access, sectors, type, file or None, offset in sectors)])."""
    settings: dict[str, str] = {}
    extents: list[tuple[str, int, str, str | None, int]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _EXTENT_RE.match(line)
        if m:
            rest = shlex.split(m.group(4)) if m.group(4).strip() else []
            fname = rest[0] if rest else None
            offset = int(rest[1]) if len(rest) > 1 else 0
            extents.append((m.group(1), int(m.group(2)), m.group(3).upper(), fname, offset))
        elif "=" in line:
            k, v = line.split("=", 1)
            settings[k.strip()] = v.strip().strip('"')
    return settings, extents


class VmdkDevice(BlockDevice):
    format = "vmdk"

    def __init__(self, path: str, *, report_path: str | None = None, depth: int = 0,
                 root: ChainRoot | None = None) -> None:
        from . import open_member

        self.path = path
        self.report_path = rp = report_path or path
        root = root or ChainRoot.of(path, rp)
        self._opened: list[BlockDevice] = []
        self.parent: BlockDevice | None = None
        self._own = HostFile(path, rp)
        try:
            head = self._own.pread(0, 4, what="VMDK magic", exact=False)
            own_sparse: SparseExtent | None = None
            if head == MAGIC:
                own_sparse = SparseExtent(path, rp)
                self._opened.append(own_sparse)
                text = own_sparse.embedded_descriptor()
                if text is None:  # a bare sparse extent: itself is the disk
                    self.variant = "streamOptimized" if own_sparse.markers else "monolithicSparse"
                    self.disk: BlockDevice = own_sparse
                    self.size = own_sparse.size
                    return
            else:
                if self._own.size > _MAX_DESCRIPTOR:
                    raise CorruptImage("VMDK descriptor file larger than 1 MiB", path=rp)
                text = self._own.pread(0, self._own.size, what="VMDK descriptor").split(b"\0", 1)[0].decode(
                    "utf-8", "replace")
                if "createType" not in text:
                    raise CorruptImage("VMDK descriptor without createType", path=rp)
            settings, extents = parse_descriptor(text)
            self.variant = settings.get("createType")
            if not extents:
                raise CorruptImage("VMDK descriptor lists no extents", path=rp)
            check_count(len(extents), MAX_EXTENTS, "VMDK extents", rp)
            hint = settings.get("parentFileNameHint")
            has_parent = bool(hint) and settings.get("parentCID", "ffffffff").lower() != "ffffffff"
            # every name is vetted (confined to the image's folder) before anything is opened
            real_extents = [
                None if etype == "ZERO" or fname is None or _is_self(own_sparse, extents, etype)
                else root.resolve(fname, path, what="extent")
                for _access, _sectors, etype, fname, _offset in extents]
            if has_parent:
                assert hint is not None
                self.parent = open_member(hint, path, root, depth=depth, what="parent disk")
            parts: list[tuple[int, BlockDevice]] = []
            pos = 0
            for (_access, sectors, etype, fname, offset), full in zip(extents, real_extents, strict=True):
                size = sectors * SECTOR
                dev: BlockDevice
                if etype == "ZERO" or fname is None:
                    dev = ZeroDevice(size)
                elif full is None or (own_sparse is not None and os.path.samefile(full, path)):
                    # the descriptor embedded in a sparse extent describes that extent, whatever
                    # name it was written under (a renamed monolithicSparse file still opens)
                    assert own_sparse is not None
                    sp = own_sparse
                    dev = sp if self.parent is None else _SparseWithParent(sp, self.parent, pos)
                    if sp.size < size:
                        raise CorruptImage(f"extent {fname!r} holds {sp.size} bytes, descriptor says {size}", path=rp)
                elif etype in ("FLAT", "VMFS", "VMFSRAW", "VMFSRDM"):
                    dev = RawDevice(full, offset=offset * SECTOR, size=size, report_path=rp)
                elif etype == "SPARSE":
                    sp = SparseExtent(full, rp)
                    self._opened.append(sp)
                    dev = sp if self.parent is None else _SparseWithParent(sp, self.parent, pos)
                    if sp.size < size:
                        raise CorruptImage(f"extent {fname!r} holds {sp.size} bytes, descriptor says {size}", path=rp)
                else:
                    raise UnsupportedLayout(f"VMDK extent type {etype}", path=rp)
                if dev not in self._opened and not isinstance(dev, ZeroDevice):
                    self._opened.append(dev)
                if dev.size > size:
                    dev = dev.slice(0, size)
                parts.append((pos, dev))
                pos += size
            self.size = pos
            self.disk = parts[0][1] if len(parts) == 1 else ConcatDevice(parts, pos, path)
        except BaseException:
            self.close()
            raise

    def read(self, offset: int, size: int) -> bytes:
        return self.disk.read(offset, size)

    @property
    def file_size(self) -> int | None:
        total = 0
        for dev in self._opened:
            f = getattr(dev, "file", None)
            if f is not None:
                total += f.size
        if not any(isinstance(d, SparseExtent) and d.path == self.path for d in self._opened):
            total += self._own.size
        return total

    @property
    def backing_chain(self) -> list[str]:
        if self.parent is None:
            return []
        return [self.parent.path, *self.parent.backing_chain]

    def close(self) -> None:
        for dev in self._opened:
            dev.close()
        self._opened = []
        self._own.close()
        if self.parent is not None:
            self.parent.close()


def _is_self(own: SparseExtent | None, extents: list[tuple[str, int, str, str | None, int]], etype: str) -> bool:
    """An embedded descriptor with a single sparse extent describes the file that holds it."""
    return own is not None and etype == "SPARSE" and len(extents) == 1


def _le_array(code: str, raw: bytes) -> array.array:
    """Little-endian table entries as a compact array (no tuple of int objects)."""
    table = array.array(code, raw)
    if sys.byteorder == "big":
        table.byteswap()
    return table
