"""qcow2 (versions 2 and 3): L1/L2 tables, compressed clusters (deflate and zstd), zero clusters,
backing-file chains. Our own reader: libqcow mis-decodes compressed clusters (design §7).

Not supported (UnsupportedLayout): extended L2 entries (subclusters); encrypted images raise
EncryptedVolume. Internal snapshots are ignored: the active L1 table is read. Every file the header
names (backing file, external data file) is confined to the image's folder (migrate.image.confine)
and vetted before any refusal that could hand the image to libguestfs.
"""

from __future__ import annotations

import array
import io
import struct
import sys
import zlib

from migrate.errors import ChainMemberOutside, CorruptImage, EncryptedVolume, UnsupportedLayout
from migrate.image.budget import CACHE_BYTES, CHUNK_CACHE_BYTES, MAX_CHAIN_DEPTH, check_table
from migrate.image.confine import ChainRoot

from . import CHAIN_FORMATS
from .base import LRU, BlockDevice, ChunkedDevice, HostFile, ZeroDevice

MAGIC = b"QFI\xfb"
_OFFSET_MASK = 0x00FFFFFFFFFFFE00
_COMPRESSED = 1 << 62
_ZERO = 1
EXT_BACKING_FORMAT = 0xE2792ACA
EXT_DATA_FILE = 0x44415441

try:  # zstd-compressed qcow2 is rare; the decoder is optional
    import zstandard as _zstd  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the machine
    _zstd = None


class Qcow2Device(ChunkedDevice):
    format = "qcow2"

    def __init__(self, path: str, *, report_path: str | None = None, depth: int = 0,
                 root: ChainRoot | None = None) -> None:
        self.path = path
        self.report_path = report_path or path
        self.root = root or ChainRoot.of(path, self.report_path)
        self.file = f = HostFile(path, self.report_path)
        self.data_file: HostFile | None = None
        self.backing: BlockDevice | None = None
        try:
            self._open(f, depth)
        except BaseException:
            self.close()
            raise

    def _open(self, f: HostFile, depth: int) -> None:
        hdr = f.pread(0, 72, what="qcow2 header")
        (magic, version, backing_off, backing_len, cluster_bits, self.size, crypt, l1_size, l1_off,
         ) = struct.unpack(">4sIQIIQIIQ", hdr[:48])
        if magic != MAGIC or version not in (2, 3):
            raise CorruptImage(f"not a qcow2 v2/v3 header (version {version})", path=self.report_path)
        if not 9 <= cluster_bits <= 21:
            raise CorruptImage(f"qcow2 cluster_bits {cluster_bits} out of range", path=self.report_path)
        self.chunk_size = 1 << cluster_bits
        self.cluster_bits = cluster_bits
        self.compression = "zlib"
        header_len = 72
        incompat = 0
        if version == 3:
            v3 = f.pread(72, 32, what="qcow2 v3 header")
            incompat, _compat, _autoclear, _refcount_order, header_len = struct.unpack(">QQQII", v3)
            if incompat & 8 and header_len > 104:
                ctype = f.pread(104, 1, what="qcow2 compression type")[0]
                self.compression = {0: "zlib", 1: "zstd"}.get(ctype, f"unknown-{ctype}")
        self.variant = None
        backing_fmt, data_name = self._read_extensions(header_len)
        # every file the header names is vetted first, before any refusal that lets `auto` hand the
        # image to libguestfs (whose qemu would open those files itself)
        self.backing_name: str | None = None
        backing_real: str | None = None
        if backing_off and backing_len:
            if backing_len > 1023:
                raise CorruptImage(f"qcow2 backing file name of {backing_len} bytes (qemu allows 1023)",
                                   path=self.report_path)
            name = f.pread(backing_off, backing_len, what="qcow2 backing file name").decode("utf-8", "replace")
            self.backing_name = name
            if backing_fmt is not None and backing_fmt not in CHAIN_FORMATS:
                raise ChainMemberOutside(f"backing file {name!r} has format {backing_fmt!r}, not one whose own "
                                         "chain this tool can vet", path=self.report_path)
            backing_real = self.root.resolve(name, self.path, what="backing file")
        if incompat & 4 or data_name is not None:
            if not data_name:
                raise CorruptImage("qcow2 says it has an external data file but does not name it",
                                   path=self.report_path)
            self.data_file = HostFile(self.root.resolve(data_name, self.path, what="external data file"),
                                      self.report_path)
        if crypt:
            raise EncryptedVolume("encrypted qcow2 image; native and guestfs backends cannot open it "
                                  "without a key", path=self.report_path)
        if incompat & 2:
            raise CorruptImage("qcow2 image is marked corrupt", path=self.report_path)
        if incompat & 16:
            raise UnsupportedLayout("qcow2 with extended L2 entries (subclusters)", path=self.report_path)
        self.l2_entries = self.chunk_size // 8
        needed = -(-self.size // (self.chunk_size * self.l2_entries)) if self.size else 0
        if l1_size < needed:
            raise CorruptImage(f"qcow2 L1 table has {l1_size} entries, {needed} needed", path=self.report_path)
        if l1_off + needed * 8 > f.size:
            raise CorruptImage(f"qcow2 L1 table of {needed} entries (virtual size {self.size}) lies past the end "
                               f"of the file ({f.size} bytes)", path=self.report_path)
        check_table(needed * 8, "qcow2 L1 table", self.report_path)
        self.l1 = _be_array("Q", f.pread(l1_off, needed * 8, what="qcow2 L1 table") if needed else b"")
        for i, e in enumerate(self.l1):
            e &= _OFFSET_MASK
            self.l1[i] = e
            if e and e + self.chunk_size > f.size:
                raise CorruptImage(f"qcow2 L2 table at {e} lies past the end of the file", path=self.report_path)
        self._l2 = LRU(256, CACHE_BYTES)
        self._clusters = LRU(64, CHUNK_CACHE_BYTES)
        self._check_allocations()
        self._has_compressed: bool | None = None
        if backing_real is not None:
            if depth + 1 >= MAX_CHAIN_DEPTH:
                raise CorruptImage(f"qcow2 backing chain deeper than {MAX_CHAIN_DEPTH} (a loop?)",
                                   path=self.report_path)
            from . import open_image  # backing files may be any format

            self.backing = open_image(backing_real, report_path=self.report_path, depth=depth + 1,
                                      fmt=CHAIN_FORMATS[backing_fmt] if backing_fmt else None, root=self.root)

    def _read_extensions(self, offset: int) -> tuple[str | None, str | None]:
        """(backing format, external data file name) from the header extensions."""
        f = self.file
        backing_fmt = data_name = None
        for _ in range(64):
            if offset + 8 > f.size:
                break
            etype, elen = struct.unpack(">II", f.pread(offset, 8, what="qcow2 header extension"))
            if etype == 0:
                break
            if etype in (EXT_BACKING_FORMAT, EXT_DATA_FILE):
                if elen > 1023:
                    raise CorruptImage(f"qcow2 header extension of {elen} bytes", path=self.report_path)
                text = f.pread(offset + 8, elen, what="qcow2 header extension").decode("utf-8", "replace")
                if etype == EXT_BACKING_FORMAT:
                    backing_fmt = text
                else:
                    data_name = text
            offset += 8 + ((elen + 7) & ~7)
        return backing_fmt, data_name

    # -- mapping --------------------------------------------------------------------------------
    def _l2_table(self, l2_off: int) -> array.array:
        def load() -> array.array:
            return _be_array("Q", self.file.pread(l2_off, self.chunk_size, what="qcow2 L2 table"))
        return self._l2.get(l2_off, load)  # type: ignore[return-value]

    def _check_allocations(self) -> None:
        """Every allocated cluster must start inside the file (its data file, when external): a
        truncated image is reported at open, not only when some later read happens to land past the
        end. Each distinct L2 table is checked once: 100k L1 entries naming one table (a CPU bomb)
        cost one table walk, not 100k."""
        end = self.file.size
        data_end = self.data_file.size if self.data_file is not None else end
        compressed_mask = (1 << (62 - (self.cluster_bits - 8))) - 1
        seen: set[int] = set()
        for l2_off in self.l1:
            if not l2_off or l2_off in seen:
                continue
            seen.add(l2_off)
            for entry in self._l2_table(l2_off):
                if not entry:
                    continue
                if entry & _COMPRESSED:
                    host, limit = entry & compressed_mask, end
                else:
                    host, limit = entry & _OFFSET_MASK, data_end
                if host >= limit and (host or self.data_file is None):
                    raise CorruptImage(
                        f"truncated or damaged: a data cluster at offset {host} lies past the end of the "
                        f"file ({limit} bytes)", path=self.report_path)

    def _entry(self, index: int) -> int:
        l1i, l2i = divmod(index, self.l2_entries)
        if l1i >= len(self.l1) or not self.l1[l1i]:
            return 0
        return self._l2_table(self.l1[l1i])[l2i]

    def _read_chunk(self, index: int, within: int, length: int) -> bytes:
        entry = self._entry(index)
        if entry & _COMPRESSED:
            data = self._clusters.get(entry, lambda: self._decompress(entry))
            return data[within:within + length]  # type: ignore[index]
        host = entry & _OFFSET_MASK
        if entry & _ZERO:
            return bytes(length)
        if self.data_file is not None:  # external data: guest offset = data-file offset when allocated
            if not host and not entry & (1 << 63):  # unallocated (offset 0 needs the "copied" bit)
                if self.backing is None:
                    return bytes(length)
                return self._from_backing(index * self.chunk_size + within, length)
            data = self.data_file.pread(host + within, length, what="qcow2 external data", exact=False)
            return data + bytes(length - len(data))
        if not host:
            if self.backing is None:
                return bytes(length)
            return self._from_backing(index * self.chunk_size + within, length)
        return self.file.pread(host + within, length, what="qcow2 data cluster")

    def _from_backing(self, offset: int, length: int) -> bytes:
        assert self.backing is not None
        data = self.backing.read(offset, length)
        return data + bytes(length - len(data))

    def _decompress(self, entry: int) -> bytes:
        x = 62 - (self.cluster_bits - 8)
        host = entry & ((1 << x) - 1)
        nb_sectors = ((entry >> x) & ((1 << (self.cluster_bits - 8)) - 1)) + 1
        csize = nb_sectors * 512 - (host & 511)
        raw = self.file.pread(host, min(csize, max(0, self.file.size - host)), what="qcow2 compressed cluster",
                              exact=False)
        if not raw:
            raise CorruptImage(f"compressed cluster at {host} lies past the end of the file",
                               path=self.report_path)
        try:
            if self.compression == "zlib":
                out = zlib.decompressobj(-15).decompress(raw, self.chunk_size)
            elif self.compression == "zstd":
                if _zstd is None:
                    raise UnsupportedLayout("zstd-compressed qcow2 needs the 'zstandard' package",
                                            path=self.report_path)
                # at most one cluster comes out, whatever the frame claims (a 0.2 MB file must not
                # inflate to gigabytes)
                reader = _zstd.ZstdDecompressor().stream_reader(io.BytesIO(raw))
                out = reader.read(self.chunk_size)
            else:
                raise UnsupportedLayout(f"qcow2 compression type {self.compression}", path=self.report_path)
        except zlib.error as exc:
            raise CorruptImage(f"compressed cluster at {host} does not decompress: {exc}",
                               path=self.report_path) from None
        except Exception as exc:
            if _zstd is not None and isinstance(exc, _zstd.ZstdError):
                raise CorruptImage(f"zstd cluster at {host} does not decompress: {exc}",
                                   path=self.report_path) from None
            raise
        if len(out) < self.chunk_size:
            out += bytes(self.chunk_size - len(out))
        return out

    # -- metadata -------------------------------------------------------------------------------
    def is_compressed(self, sample: int = 4096) -> bool:
        """Whether any cluster (among the first ``sample`` L2 entries in use) is compressed."""
        if self._has_compressed is None:
            seen = 0
            self._has_compressed = False
            for l2_off in self.l1:
                if not l2_off:
                    continue
                table = self._l2_table(l2_off)
                if any(e & _COMPRESSED for e in table):
                    self._has_compressed = True
                    break
                seen += len(table)
                if seen >= sample:
                    break
        return self._has_compressed

    @property
    def file_size(self) -> int | None:
        return self.file.size

    @property
    def backing_chain(self) -> list[str]:
        if self.backing is None:
            return []
        return [self.backing.path, *self.backing.backing_chain]

    def close(self) -> None:
        self.file.close()
        if self.data_file is not None:
            self.data_file.close()
        if self.backing is not None:
            self.backing.close()


def _be_array(code: str, raw: bytes) -> array.array:
    """Big-endian table entries as a compact array (8 bytes an entry, not a tuple of int objects)."""
    table = array.array(code, raw)
    if sys.byteorder == "little":
        table.byteswap()
    return table


__all__ = ["Qcow2Device", "MAGIC", "ZeroDevice"]
