"""Block devices: the bottom layer of the native backend.

Every container format (qcow2, VMDK, VHD, VHDX, VDI, raw) is exposed as the same read-only,
random-access byte array of the *virtual* disk: ``read(offset, size)`` and ``size``. Partitions and
logical volumes are slices of a device, so every layer above sees one interface.

The readers are our own pure-Python code rather than libqcow/libvmdk or dissect: design §7 measured
libqcow silently mis-decoding compressed qcow2, and dissect is AGPL. One small layer that is
differential-tested against ``qemu-img convert -O raw`` (tests/image/test_formats.py) is the price
of being both correct and licence-clean.
"""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from collections.abc import Callable
from typing import BinaryIO

from migrate.errors import CorruptImage, MigrateError
from migrate.image.budget import check_deadline
from migrate.image.confine import open_regular

SECTOR = 512


class LRU:
    """A small bounded cache (decoded tables, decompressed grains). Bounded in entries and, when
    ``max_bytes`` is given, in the bytes of the values (``len`` × item size for arrays): a hostile
    image with 2 MiB clusters must not turn 256 cached tables into gigabytes (docs/security.md)."""

    def __init__(self, capacity: int, max_bytes: int | None = None) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._bytes = 0
        self._data: OrderedDict[object, object] = OrderedDict()

    @staticmethod
    def _size(value: object) -> int:
        try:
            return len(value) * getattr(value, "itemsize", 1)  # type: ignore[arg-type]
        except TypeError:
            return 0

    def _trim(self) -> None:
        while len(self._data) > self.capacity or (
                self.max_bytes is not None and self._bytes > self.max_bytes and len(self._data) > 1):
            _, old = self._data.popitem(last=False)
            self._bytes -= self._size(old)

    def get(self, key: object, compute: Callable[[], object]) -> object:
        try:
            value = self._data[key]
        except KeyError:
            value = compute()
            self.put(key, value)
            return value
        self._data.move_to_end(key)
        return value

    def put(self, key: object, value: object) -> None:
        if key in self._data:
            self._bytes -= self._size(self._data[key])
        self._data[key] = value
        self._bytes += self._size(value)
        self._data.move_to_end(key)
        self._trim()


class HostFile:
    """A host file read with pread; raises CorruptImage (naming ``report_path``) on short reads."""

    def __init__(self, path: str, report_path: str | None = None) -> None:
        self.path = path
        self.report_path = report_path or path
        self._fd = open_regular(path, self.report_path)  # never a FIFO, device or directory
        self.size = os.fstat(self._fd).st_size

    def pread(self, offset: int, size: int, *, what: str = "data", exact: bool = True) -> bytes:
        """Bytes of the file; never more than the file holds, so a size read from a hostile header
        cannot make this allocate beyond the file's size."""
        check_deadline(self.report_path)
        if offset < 0 or size < 0 or (exact and offset + size > self.size):
            raise CorruptImage(
                f"{what} at offset {offset} (+{size}) lies past the end of {os.path.basename(self.path)} "
                f"({self.size} bytes): truncated or damaged", path=self.report_path)
        size = max(0, min(size, self.size - offset))
        data = os.pread(self._fd, size, offset)
        if exact and len(data) != size:
            raise CorruptImage(f"short read of {what} at offset {offset}", path=self.report_path)
        return data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class BlockDevice:
    """A read-only virtual disk (or a slice of one)."""

    format: str = "raw"
    variant: str | None = None
    size: int = 0
    path: str = ""

    def read(self, offset: int, size: int) -> bytes:
        raise NotImplementedError

    @property
    def file_size(self) -> int | None:
        return None

    @property
    def backing_chain(self) -> list[str]:
        return []

    def close(self) -> None:
        pass

    def file_object(self) -> DeviceFile:
        return DeviceFile(self)

    def slice(self, offset: int, size: int, name: str = "") -> SliceDevice:
        return SliceDevice(self, offset, size, name)

    def __enter__(self) -> BlockDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ChunkedDevice(BlockDevice):
    """A device whose virtual disk is cut into equal chunks (clusters, grains, blocks): subclasses
    implement ``_read_chunk(index, within, length)``; this class does the splitting and clipping."""

    chunk_size: int = 65536

    def read(self, offset: int, size: int) -> bytes:
        if offset >= self.size or size <= 0:
            return b""
        size = min(size, self.size - offset)
        cs = self.chunk_size
        if offset // cs == (offset + size - 1) // cs:
            return self._read_chunk(offset // cs, offset % cs, size)
        out = []
        while size > 0:
            within = offset % cs
            n = min(cs - within, size)
            out.append(self._read_chunk(offset // cs, within, n))
            offset += n
            size -= n
        return b"".join(out)

    def _read_chunk(self, index: int, within: int, length: int) -> bytes:
        raise NotImplementedError


class RawDevice(BlockDevice):
    format = "raw"

    def __init__(self, path: str, *, offset: int = 0, size: int | None = None,
                 report_path: str | None = None) -> None:
        self.path = path
        self.file = HostFile(path, report_path)
        self.offset = offset
        self.size = (self.file.size - offset) if size is None else size

    def read(self, offset: int, size: int) -> bytes:
        if offset >= self.size or size <= 0:
            return b""
        size = min(size, self.size - offset)
        data = self.file.pread(self.offset + offset, size, exact=False)
        if len(data) < size:  # a flat extent shorter than declared reads as zeros, as qemu does
            data += bytes(size - len(data))
        return data

    @property
    def file_size(self) -> int | None:
        return self.file.size

    def close(self) -> None:
        self.file.close()


class ZeroDevice(BlockDevice):
    def __init__(self, size: int) -> None:
        self.size = size

    def read(self, offset: int, size: int) -> bytes:
        return bytes(max(0, min(size, self.size - offset)))


class SliceDevice(BlockDevice):
    """A window of another device: a partition, a linear LV segment."""

    def __init__(self, parent: BlockDevice, offset: int, size: int, name: str = "") -> None:
        self.parent = parent
        self.offset = offset
        self.size = max(0, min(size, parent.size - offset))
        self.name = name
        self.path = parent.path

    def read(self, offset: int, size: int) -> bytes:
        if offset >= self.size or size <= 0:
            return b""
        return self.parent.read(self.offset + offset, min(size, self.size - offset))


class ConcatDevice(BlockDevice):
    """Several devices end to end (VMDK extents, multi-segment LVs)."""

    def __init__(self, parts: list[tuple[int, BlockDevice]], size: int, path: str = "") -> None:
        self.parts = sorted(parts, key=lambda p: p[0])  # (virtual start, device)
        self.size = size
        self.path = path

    def read(self, offset: int, size: int) -> bytes:
        if offset >= self.size or size <= 0:
            return b""
        size = min(size, self.size - offset)
        out = []
        for start, dev in self.parts:
            end = start + dev.size
            if end <= offset or size <= 0:
                continue
            if start > offset:  # a hole between parts
                gap = min(start - offset, size)
                out.append(bytes(gap))
                offset += gap
                size -= gap
                if size <= 0:
                    break
            n = min(end - offset, size)
            out.append(dev.read(offset - start, n))
            offset += n
            size -= n
        if size > 0:
            out.append(bytes(size))
        return b"".join(out)

    def close(self) -> None:
        for _, dev in self.parts:
            dev.close()


class DeviceFile(io.RawIOBase):
    """A file-like view of a device for the libyal bindings (read/seek/tell/get_size).

    The bindings turn any exception a read raises into an ``OSError`` of their own, so the reason a
    read was refused (a time or resource budget, a chain member outside the folder) would reach the
    user as "unreadable", exit 12. The first such error is kept in ``error``; the code that called the
    binding raises it again with :func:`raise_device_error`."""

    def __init__(self, device: BlockDevice) -> None:
        super().__init__()
        self.device = device
        self._pos = 0
        self.error: MigrateError | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if size is None or size < 0:
            size = self.device.size - self._pos
        try:
            data = self.device.read(self._pos, size)
        except MigrateError as exc:
            if self.error is None:
                self.error = exc
            raise
        self._pos += len(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        elif whence == io.SEEK_END:
            self._pos = self.device.size + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def get_size(self) -> int:
        return self.device.size

    def get_offset(self) -> int:
        return self._pos


def raise_device_error(*files: DeviceFile) -> None:
    """After a binding's ``OSError``: the budget or confinement error one of our reads raised under
    it, if any, instead of the binding's "unreadable"."""
    for f in files:
        if f.error is not None:
            raise f.error from None


BinaryFile = BinaryIO
