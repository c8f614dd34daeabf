"""Disk image container formats: detection by magic and one reader per format.

``open_image(path)`` returns a :class:`BlockDevice` of the virtual disk whatever the container
(qcow2, vmdk, vpc/VHD, vhdx, vdi, raw). All readers are our own pure-Python code, kept small and
checked byte for byte against ``qemu-img convert -O raw`` (design §7: libqcow mis-decodes compressed
qcow2, dissect is AGPL). Format names follow qemu-img's (``vpc`` for VHD).
"""

from __future__ import annotations

import os
import struct

from migrate.errors import ChainMemberOutside, CorruptImage, ImageNotFound, UnknownImageFormat
from migrate.image.budget import MAX_CHAIN_DEPTH, deadline
from migrate.image.confine import ChainRoot, open_regular

from .base import BlockDevice, ChunkedDevice, ConcatDevice, DeviceFile, RawDevice, SliceDevice, ZeroDevice

__all__ = ["BlockDevice", "ChunkedDevice", "ConcatDevice", "DeviceFile", "RawDevice", "SliceDevice",
           "ZeroDevice", "detect_format", "open_image", "open_member"]

_PROBE = 0x10100


def _raw_signature(head: bytes) -> str | None:
    """Why a header-less file looks like a raw disk: a partition table or a known volume signature."""
    if len(head) >= 512 and head[510:512] == b"\x55\xaa":
        return "mbr"
    if head[512:520] == b"EFI PART" or head[4096:4104] == b"EFI PART":
        return "gpt"
    if head[:6] == b"LUKS\xba\xbe":
        return "luks"
    if head[:4] == b"XFSB":
        return "xfs"
    if head[1080:1082] == b"\x53\xef":
        return "ext"
    if head[0x10040:0x10048] == b"_BHRfS_M":
        return "btrfs"
    if b"LABELONE" in (head[0:8], head[512:520], head[1024:1032], head[1536:1544]):
        return "lvm2"
    if head[4086:4096] in (b"SWAPSPACE2", b"SWAP-SPACE"):
        return "swap"
    return None


def detect_format(path: str | os.PathLike[str]) -> tuple[str, str | None]:
    """(format, variant) from the file's magic; UnknownImageFormat names the file otherwise.

    A raw disk is recognised by a partition table, a volume signature, or an all-zero start (a
    blank disk); arbitrary bytes are *not* taken for a raw disk."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageNotFound("no such file", path=path)
    if os.path.isdir(path):
        raise UnknownImageFormat("is a directory, not a disk image", path=path)
    fd = open_regular(path, path)  # a FIFO or device named as an image must not hang the probe
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, _PROBE, 0)
        tail = os.pread(fd, 512, size - 512) if size >= 512 else b""
    finally:
        os.close(fd)
    if head[:4] == b"QFI\xfb":
        version = struct.unpack(">I", head[4:8])[0] if len(head) >= 8 else 0
        return "qcow2", f"v{version}"
    if head[:4] == b"KDMV":
        return "vmdk", None
    if head[:4] == b"COWD":
        return "vmdk", "cowd"
    if head.lstrip()[:21] == b"# Disk DescriptorFile" or (size < 1 << 20 and b"createType" in head[:4096]
                                                           and b"# Extent description" in head[:4096]):
        return "vmdk", "descriptor"
    if head[:8] == b"vhdxfile":
        return "vhdx", None
    if len(head) >= 72 and struct.unpack("<I", head[64:68])[0] == 0xBEDA107F:
        return "vdi", None
    if tail[:8] == b"conectix" or head[:8] == b"conectix":
        disk_type = struct.unpack(">I", (tail if tail[:8] == b"conectix" else head)[60:64])[0]
        return "vpc", {2: "fixed", 3: "dynamic", 4: "differencing"}.get(disk_type)
    if size == 0:
        raise UnknownImageFormat("empty file", path=path)
    sig = _raw_signature(head)
    if sig is not None:
        return "raw", None
    if head.count(0) == len(head):
        return "raw", None
    raise UnknownImageFormat("not a disk image this tool knows (qcow2, vmdk, vhd, vhdx, vdi, raw with a "
                             "partition table or filesystem)", path=path)


# formats whose own chain members we vet; qemu's names ("file" is its plain-file protocol = raw)
CHAIN_FORMATS = {"qcow2": "qcow2", "raw": "raw", "file": "raw", "vmdk": "vmdk", "vpc": "vpc", "vhdx": "vhdx",
                 "vdi": "vdi"}


def open_member(name: str, referrer: str, root: ChainRoot, *, depth: int, what: str,
                fmt: str | None = None) -> BlockDevice:
    """Open a file named inside an image (backing file, parent disk): confined to the chain's
    folder (migrate.image.confine), bounded in depth, in the format the image states when it does."""
    if depth >= MAX_CHAIN_DEPTH:
        raise CorruptImage(f"disk chain deeper than {MAX_CHAIN_DEPTH} (a loop?)", path=root.report_path)
    if fmt is not None and fmt not in CHAIN_FORMATS:
        raise ChainMemberOutside(f"{what} {name!r} has format {fmt!r}, not one whose own chain this tool can "
                                 "vet", path=root.report_path)
    real = root.resolve(name, referrer, what=what)
    return open_image(real, report_path=root.report_path, depth=depth + 1,
                      fmt=CHAIN_FORMATS[fmt] if fmt else None, root=root)


def open_image(path: str | os.PathLike[str], *, report_path: str | None = None, depth: int = 0,
               fmt: str | None = None, root: ChainRoot | None = None) -> BlockDevice:
    """Open a disk image as a virtual-disk BlockDevice. ``report_path`` is the file named in errors
    (the user's file, when this is a backing file or extent of it). ``root`` confines every file
    the image names to the folder of the image the user named (docs/security.md)."""
    from .qcow2 import Qcow2Device
    from .vdi import VdiDevice
    from .vhd import VhdDevice
    from .vhdx import VhdxDevice
    from .vmdk import VmdkDevice

    path = os.fspath(path)
    rp = report_path or path
    if not os.path.exists(path):
        raise ImageNotFound("no such file", path=path)
    if root is None:
        root = ChainRoot.of(path, rp)
    if fmt is None:
        try:
            fmt, variant = detect_format(path)
        except UnknownImageFormat as exc:
            if depth:  # a backing file may legitimately be raw with arbitrary contents
                fmt, variant = "raw", None
            else:
                raise exc
    else:
        variant = None
    try:
        if fmt == "qcow2":
            dev: BlockDevice = Qcow2Device(path, report_path=rp, depth=depth, root=root)
            dev.variant = variant
        elif fmt == "vmdk":
            if variant == "cowd":
                from migrate.errors import UnsupportedLayout
                raise UnsupportedLayout("ESX COWD sparse VMDK", path=rp)
            dev = VmdkDevice(path, report_path=rp, depth=depth, root=root)
        elif fmt == "vpc":
            dev = VhdDevice(path, report_path=rp, depth=depth, root=root)
        elif fmt == "vhdx":
            dev = VhdxDevice(path, report_path=rp, depth=depth, root=root)
        elif fmt == "vdi":
            dev = VdiDevice(path, report_path=rp, depth=depth, root=root)
        elif fmt == "raw":
            dev = RawDevice(path, report_path=rp)
        else:
            raise UnknownImageFormat(f"format {fmt}", path=rp)
    except (struct.error, UnicodeDecodeError, ValueError, OverflowError, IndexError) as exc:
        raise CorruptImage(f"malformed {fmt} image: {exc}", path=rp) from None
    return dev


def vet_chain(path: str | os.PathLike[str]) -> tuple[str, str | None]:
    """What libguestfs may be given: the image's format (qemu's name, handed over explicitly, so
    qemu never probes) once our own readers have walked its whole chain under the confinement rule
    and the budgets. A layout our readers cannot *read* but whose chain was vetted before the
    refusal (every reader vets names first) passes; anything else propagates its error."""
    from migrate.errors import UnsupportedLayout

    fmt, variant = detect_format(path)
    try:
        with deadline(f"vetting {os.fspath(path)}"):
            open_image(path).close()
    except UnsupportedLayout as exc:
        if getattr(exc, "no_fallback", False):
            raise
    return fmt, variant
