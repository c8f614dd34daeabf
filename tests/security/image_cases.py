"""Hostile disk images for the read side of issue 8, each made in well under a second from qemu-img
and struct writes (no network, no root, no appliance). See docs/security.md, "Disk images and chains".

Every builder takes the case folder ``d`` (the image goes there, alone with whatever the case needs
next to it) and the canary (a file *outside* ``d`` whose content no output may ever contain), and
returns the path the user names. ``CASES`` maps a case name to (builder, expected exit code).
"""

from __future__ import annotations

import gzip
import io
import os
import secrets
import struct
import subprocess
import tarfile
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from migrate.errors import EXIT_CODES

MiB = 1 << 20


@dataclass(frozen=True)
class Canary:
    path: Path
    marker: str

    @classmethod
    def make(cls, folder: Path) -> Canary:
        """A file with a random name and a unique marker, in a folder of its own."""
        folder.mkdir(parents=True, exist_ok=True)
        marker = f"CANARY-{secrets.token_hex(16)}"
        path = folder / f"canary-{secrets.token_hex(8)}"
        # a valid-looking raw disk start, so a reader that did open it would happily use it
        path.write_bytes((marker.encode() + b"\n") * 4096)
        return cls(path, marker)


def run(*cmd: str | os.PathLike[str]) -> None:
    subprocess.run([os.fspath(c) for c in cmd], check=True, capture_output=True)


def qcow2_with_backing(d: Path, backing: str, fmt: str | None = "raw") -> Path:
    image = d / "disk.qcow2"
    cmd = ["qemu-img", "create", "-f", "qcow2", "-u", "-b", backing]
    if fmt:
        cmd += ["-F", fmt]
    run(*cmd, image, "1M")
    return image


def _qcow2_set_extension(image: Path, ext_type: int, payload: bytes, incompat_bits: int = 0) -> None:
    """Rewrite a v3 qcow2's header extensions, replacing/adding one (the area up to cluster 1 is free)."""
    with open(image, "r+b") as fh:
        hdr = fh.read(4096)
        header_len = struct.unpack(">I", hdr[100:104])[0]
        exts, off = [], header_len
        while True:
            etype, elen = struct.unpack(">II", hdr[off:off + 8])
            if etype == 0:
                break
            if etype != ext_type:
                exts.append((etype, hdr[off + 8:off + 8 + elen]))
            off += 8 + ((elen + 7) & ~7)
        exts.append((ext_type, payload))
        blob = b"".join(struct.pack(">II", t, len(p)) + p + bytes(-len(p) % 8) for t, p in exts) + bytes(8)
        fh.seek(header_len)
        fh.write(blob)
        incompat = struct.unpack(">Q", hdr[72:80])[0] | incompat_bits
        fh.seek(72)
        fh.write(struct.pack(">Q", incompat))


def qcow2_with_data_file(d: Path, name: str) -> Path:
    image = d / "disk.qcow2"
    run("qemu-img", "create", "-f", "qcow2", "-o", f"data_file={d / 'inside.raw'}", image, "1M")
    _qcow2_set_extension(image, 0x44415441, name.encode(), incompat_bits=4)
    (d / "inside.raw").unlink()
    return image


def vmdk_descriptor(d: Path, extent_line: str, extra: str = "") -> Path:
    image = d / "disk.vmdk"
    image.write_text("# Disk DescriptorFile\nversion=1\nCID=fffffffe\n" + extra + 'createType="monolithicFlat"\n'
                     "# Extent description\n" + extent_line + "\n")
    return image


def vmdk_embedded(d: Path, extent_lines: str, name: str = "disk.vmdk") -> Path:
    """A qemu-made monolithicSparse whose embedded descriptor is rewritten (same space, NUL-padded)."""
    image = d / name
    run("qemu-img", "create", "-f", "vmdk", image, "2M")
    with open(image, "r+b") as fh:
        hdr = fh.read(512)
        desc_off, desc_size = struct.unpack("<QQ", hdr[28:44])
        fh.seek(desc_off * 512)
        text = fh.read(desc_size * 512).split(b"\0", 1)[0].decode()
        head, _, tail = text.partition("# Extent description\n")
        rest = tail.split("\n", 1)[1] if "\n" in tail else ""
        new = (head + "# Extent description\n" + extent_lines + "\n" + rest).encode()
        assert len(new) <= desc_size * 512
        fh.seek(desc_off * 512)
        fh.write(new + bytes(desc_size * 512 - len(new)))
    return image


def _vhd_checksum(footer: bytearray) -> None:
    footer[64:68] = b"\0\0\0\0"
    footer[64:68] = struct.pack(">I", (~sum(footer)) & 0xFFFFFFFF)


def vhd_differencing(d: Path, parent: str) -> Path:
    """A dynamic VHD turned differencing, its W2ru locator (in the dynamic header's reserved tail)
    naming ``parent``."""
    image = d / "disk.vhd"
    run("qemu-img", "create", "-f", "vpc", image, "4M")
    data = bytearray(image.read_bytes())
    footer = bytearray(data[-512:])
    footer[60:64] = struct.pack(">I", 4)
    _vhd_checksum(footer)
    data[-512:] = footer
    data[:512] = footer
    dyn = 512
    name = parent.replace("/", "\\").encode("utf-16-le")
    assert len(name) <= 256
    loc_off = dyn + 768
    data[loc_off:loc_off + len(name)] = name
    data[dyn + 576:dyn + 600] = struct.pack(">4sIIIQ", b"W2ru", 512, len(name), 0, loc_off)
    image.write_bytes(bytes(data))
    return image


def vhdx_differencing(d: Path, parent: str) -> Path:
    """A qemu-made VHDX with has_parent set and a parent locator item whose relative_path is ``parent``."""
    image = d / "disk.vhdx"
    run("qemu-img", "create", "-f", "vhdx", image, "8M")
    data = bytearray(image.read_bytes())
    regions = data[0x30000:0x40000]
    count = struct.unpack("<I", regions[8:12])[0]
    meta_guid = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E").bytes_le
    meta_off = next(struct.unpack("<Q", regions[32 + 32 * i:40 + 32 * i])[0] for i in range(count)
                    if regions[16 + 32 * i:32 + 32 * i] == meta_guid)
    n_items = struct.unpack("<H", data[meta_off + 10:meta_off + 12])[0]
    params = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B").bytes_le
    for i in range(n_items):
        e = meta_off + 32 + 32 * i
        if data[e:e + 16] == params:
            ioff = struct.unpack("<I", data[e + 16:e + 20])[0]
            data[meta_off + ioff + 4] |= 2  # has_parent
    key, value = "relative_path".encode("utf-16-le"), parent.replace("/", "\\").encode("utf-16-le")
    loc = bytearray(bytes(16) + struct.pack("<HH", 0, 1))
    koff = 20 + 12
    loc += struct.pack("<IIHH", koff, koff + len(key), len(key), len(value)) + key + value
    item_off = 0x20000
    data[meta_off + item_off:meta_off + item_off + len(loc)] = loc
    e = meta_off + 32 + 32 * n_items
    data[e:e + 32] = (uuid.UUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C").bytes_le
                      + struct.pack("<IIII", item_off, len(loc), 0, 0))
    data[meta_off + 10:meta_off + 12] = struct.pack("<H", n_items + 1)
    image.write_bytes(bytes(data))
    return image


def vdi_differencing(d: Path) -> Path:
    image = d / "disk.vdi"
    run("qemu-img", "create", "-f", "vdi", image, "4M")
    with open(image, "r+b") as fh:
        fh.seek(76)
        fh.write(struct.pack("<I", 4))
    return image


def _ovf(disks: list[tuple[str, int, str | None]]) -> bytes:
    files = "".join(f'<File ovf:id="f{i}" ovf:href="{href}"{f" ovf:compression={comp!r}" if comp else ""}/>'
                    for i, (href, _cap, comp) in enumerate(disks))
    dsk = "".join(f'<Disk ovf:diskId="d{i}" ovf:fileRef="f{i}" ovf:capacity="{cap}"/>'
                  for i, (_href, cap, _comp) in enumerate(disks))
    return (f'<?xml version="1.0"?><Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" '
            f'xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References>{files}</References>'
            f'<DiskSection>{dsk}</DiskSection><VirtualSystem ovf:id="vm"><Name>vm</Name></VirtualSystem>'
            '</Envelope>').encode()


def make_ova(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, blob in members:
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def _mf(members: list[tuple[str, bytes]]) -> bytes:
    import hashlib

    return "".join(f"SHA256({n})= {hashlib.sha256(b).hexdigest()}\n" for n, b in members).encode()


# -- confinement cases (the canary must never be opened) ---------------------------------------


def c_qcow2_backing_absolute(d: Path, c: Canary) -> Path:
    return qcow2_with_backing(d, str(c.path))


def c_qcow2_backing_dotdot(d: Path, c: Canary) -> Path:
    return qcow2_with_backing(d, os.path.relpath(c.path, d))


def c_qcow2_backing_symlink(d: Path, c: Canary) -> Path:
    (d / "base.raw").symlink_to(c.path)
    return qcow2_with_backing(d, "base.raw")


def c_qcow2_backing_dir_symlink(d: Path, c: Canary) -> Path:
    (d / "sub").symlink_to(c.path.parent)
    return qcow2_with_backing(d, f"sub/{c.path.name}")


def _qcow2_set_backing_name(image: Path, name: bytes) -> None:
    with open(image, "r+b") as fh:
        fh.seek(4096)  # inside the header cluster, past qemu's extensions
        fh.write(name)
        fh.seek(8)
        fh.write(struct.pack(">QI", 4096, len(name)))


def c_qcow2_backing_json(d: Path, c: Canary) -> Path:
    (d / "base.raw").write_bytes(bytes(MiB))
    image = qcow2_with_backing(d, "base.raw")
    _qcow2_set_backing_name(image, f'json:{{"file.driver":"file","file.filename":"{c.path}"}}'.encode())
    return image


def c_qcow2_backing_format_nbd(d: Path, c: Canary) -> Path:
    (d / "base.raw").write_bytes(bytes(MiB))
    image = qcow2_with_backing(d, "base.raw")
    _qcow2_set_extension(image, 0xE2792ACA, b"nbd")
    return image


def c_qcow2_data_file(d: Path, c: Canary) -> Path:
    return qcow2_with_data_file(d, str(c.path))


def c_vmdk_extent_absolute(d: Path, c: Canary) -> Path:
    return vmdk_descriptor(d, f'RW 2048 FLAT "{c.path}" 0')


def c_vmdk_extent_dotdot(d: Path, c: Canary) -> Path:
    return vmdk_descriptor(d, f'RW 2048 FLAT "{os.path.relpath(c.path, d)}" 0')


def c_vmdk_embedded_extent(d: Path, c: Canary) -> Path:
    return vmdk_embedded(d, f'RW 4096 SPARSE "disk.vmdk"\nRW 2048 FLAT "{c.path}" 0')


def c_vmdk_parent_hint(d: Path, c: Canary) -> Path:
    (d / "child-flat.vmdk").write_bytes(bytes(MiB))
    return vmdk_descriptor(d, 'RW 2048 FLAT "child-flat.vmdk" 0',
                           extra=f'parentCID=12345678\nparentFileNameHint="{c.path}"\n')


def c_vhd_parent(d: Path, c: Canary) -> Path:
    return vhd_differencing(d, os.path.relpath(c.path, d))


def c_vhdx_parent(d: Path, c: Canary) -> Path:
    return vhdx_differencing(d, os.path.relpath(c.path, d))


def c_vdi_parent(d: Path, c: Canary) -> Path:
    return vdi_differencing(d)


def c_ova_descriptor_extent(d: Path, c: Canary) -> Path:
    desc = (f'# Disk DescriptorFile\nversion=1\nCID=fffffffe\ncreateType="monolithicFlat"\n'
            f'# Extent description\nRW 2048 FLAT "{c.path}" 0\n').encode()
    members = [("vm.ovf", _ovf([("disk.vmdk", MiB, None)])), ("disk.vmdk", desc)]
    return make_ova(d / "vm.ova", [*members, ("vm.mf", _mf(members))])


def c_ova_descriptor_dotdot(d: Path, c: Canary) -> Path:
    desc = ('# Disk DescriptorFile\nversion=1\nCID=fffffffe\ncreateType="monolithicFlat"\n'
            f'# Extent description\nRW 2048 FLAT "../../../../../../../../../..{c.path}" 0\n').encode()
    members = [("vm.ovf", _ovf([("disk.vmdk", MiB, None)])), ("disk.vmdk", desc)]
    return make_ova(d / "vm.ova", [*members, ("vm.mf", _mf(members))])


OUTSIDE = EXIT_CODES["ChainMemberOutside"]
NOT_REGULAR = EXIT_CODES["ChainMemberNotRegular"]
BUDGET = EXIT_CODES["ResourceBudgetExceeded"]
CORRUPT = EXIT_CODES["CorruptImage"]
UNSUPPORTED = EXIT_CODES["UnsupportedLayout"]

Builder = Callable[[Path, Canary], Path]

CANARY_CASES: dict[str, tuple[Builder, int]] = {
    "qcow2-backing-absolute": (c_qcow2_backing_absolute, OUTSIDE),
    "qcow2-backing-dotdot": (c_qcow2_backing_dotdot, OUTSIDE),
    "qcow2-backing-symlink-out": (c_qcow2_backing_symlink, OUTSIDE),
    "qcow2-backing-dir-symlink-out": (c_qcow2_backing_dir_symlink, OUTSIDE),
    "qcow2-backing-json": (c_qcow2_backing_json, OUTSIDE),
    "qcow2-backing-format-nbd": (c_qcow2_backing_format_nbd, OUTSIDE),
    "qcow2-data-file": (c_qcow2_data_file, OUTSIDE),
    "vmdk-extent-absolute": (c_vmdk_extent_absolute, OUTSIDE),
    "vmdk-extent-dotdot": (c_vmdk_extent_dotdot, OUTSIDE),
    "vmdk-embedded-descriptor-extent": (c_vmdk_embedded_extent, OUTSIDE),
    "vmdk-parent-hint": (c_vmdk_parent_hint, OUTSIDE),
    "vhd-parent-locator": (c_vhd_parent, OUTSIDE),
    "vhdx-parent-locator": (c_vhdx_parent, OUTSIDE),
    "vdi-differencing": (c_vdi_parent, UNSUPPORTED),
    "ova-descriptor-extent": (c_ova_descriptor_extent, OUTSIDE),
    "ova-descriptor-dotdot": (c_ova_descriptor_dotdot, OUTSIDE),
}


# -- bad chain members and bad bytes (D8) -------------------------------------------------------


def b_backing_directory(d: Path, c: Canary) -> Path:
    (d / "base").mkdir()
    return qcow2_with_backing(d, "base")


def b_backing_fifo(d: Path, c: Canary) -> Path:
    os.mkfifo(d / "base.raw")
    return qcow2_with_backing(d, "base.raw")


def b_backing_proc(d: Path, c: Canary) -> Path:
    return qcow2_with_backing(d, "/proc/self/mem")


def b_backing_link_to_proc(d: Path, c: Canary) -> Path:
    (d / "base.raw").symlink_to("/proc/self/environ")
    return qcow2_with_backing(d, "base.raw")


def b_extent_device(d: Path, c: Canary) -> Path:
    (d / "flat").symlink_to("/dev/zero")
    return vmdk_descriptor(d, 'RW 2048 FLAT "flat" 0')


def b_vmdk_random(d: Path, c: Canary) -> Path:
    image = d / "disk.vmdk"
    body = bytearray(os.urandom(64 << 10))
    body[:4] = b"KDMV"
    body[4:8] = struct.pack("<I", 0x7F3A9C11)  # a version no VMDK has
    image.write_bytes(bytes(body))
    return image


def b_vdi_random(d: Path, c: Canary) -> Path:
    image = d / "disk.vdi"
    body = bytearray(os.urandom(64 << 10))
    body[64:68] = struct.pack("<I", 0xBEDA107F)
    body[68:72] = struct.pack("<I", 0x5E11_0003)  # major 0x5e11: no such VDI
    image.write_bytes(bytes(body))
    return image


def b_vmdk_random_v1(d: Path, c: Canary) -> Path:
    """Random bytes behind a plausible header: sizes and offsets from noise."""
    image = d / "disk.vmdk"
    body = bytearray(os.urandom(256 << 10))
    body[:8] = b"KDMV" + struct.pack("<I", 1)
    image.write_bytes(bytes(body))
    return image


def b_extent_device_node(d: Path, c: Canary) -> Path:
    """A character device node (the host's /dev/zero numbers) inside the image's folder."""
    import stat as _stat

    os.mknod(d / "flat", _stat.S_IFCHR | 0o600, os.makedev(1, 5))
    return vmdk_descriptor(d, 'RW 2048 FLAT "flat" 0')


BAD_MEMBER_CASES: dict[str, tuple[Builder, int]] = {
    "extent-is-device-node": (b_extent_device_node, NOT_REGULAR),
    "backing-is-directory": (b_backing_directory, NOT_REGULAR),
    "backing-is-fifo": (b_backing_fifo, NOT_REGULAR),
    "backing-is-proc-file": (b_backing_proc, OUTSIDE),
    "backing-symlink-to-proc": (b_backing_link_to_proc, OUTSIDE),
    "extent-symlink-to-device": (b_extent_device, OUTSIDE),
    "vmdk-random-after-magic": (b_vmdk_random, CORRUPT),
    "vmdk-random-v1-header": (b_vmdk_random_v1, CORRUPT),
    "vdi-random-after-magic": (b_vdi_random, CORRUPT),
}


# -- budgets: memory, CPU and disk bombs (D4-D6) -----------------------------------------------


def _qcow2_header(size: int, cluster_bits: int, l1_size: int, l1_off: int, *, compression: int = 0) -> bytes:
    hdr = struct.pack(">4sIQIIQIIQQIIQ", b"QFI\xfb", 3, 0, 0, cluster_bits, size, 0, l1_size, l1_off,
                      0, 0, 0, 0)
    incompat = 8 if compression else 0
    hdr += struct.pack(">QQQII", incompat, 0, 0, 4, 112)
    hdr += bytes([compression]) + bytes(7)
    return hdr + bytes(8)  # end of extensions


def k_qcow2_shared_l2(d: Path, c: Canary) -> Path:
    """100k L1 entries naming one fully populated L2 table (960 KB): the allocation check must not
    walk it 100k times."""
    cb, n_l1 = 16, 100_000
    cs = 1 << cb
    l1_off, l2_off = cs, cs + -(-n_l1 * 8 // cs) * cs
    data_off = l2_off + cs
    image = d / "disk.qcow2"
    with open(image, "wb") as fh:
        fh.write(_qcow2_header(n_l1 * (cs // 8) * cs, cb, n_l1, l1_off))
        fh.seek(l1_off)
        fh.write(struct.pack(">Q", l2_off | (1 << 63)) * n_l1)
        fh.seek(l2_off)
        fh.write(struct.pack(">Q", data_off | (1 << 63)) * (cs // 8))
        fh.seek(data_off)
        fh.write(bytes(cs))
    return image


def _compressed_qcow2(d: Path, blob: bytes, compression: int) -> Path:
    """One compressed cluster (``blob``, at most 2 clusters long) mapped at guest offset 0."""
    cb = 16
    cs = 1 << cb
    l1_off, l2_off, data_off = cs, 2 * cs, 3 * cs
    x = 62 - (cb - 8)
    sectors = -(-len(blob) // 512)
    assert sectors <= 1 << (cb - 8)
    entry = (1 << 62) | ((sectors - 1) << x) | data_off
    image = d / "disk.qcow2"
    with open(image, "wb") as fh:
        fh.write(_qcow2_header(64 * MiB, cb, 1, l1_off, compression=compression))
        fh.seek(l1_off)
        fh.write(struct.pack(">Q", l2_off | (1 << 63)))
        fh.seek(l2_off)
        fh.write(struct.pack(">Q", entry) + bytes(cs - 8))
        fh.seek(data_off)
        fh.write(blob + bytes(sectors * 512 - len(blob)))
    return image


def _zeros_stream(compressor, total: int) -> bytes:  # type: ignore[no-untyped-def]
    zero = bytes(4 * MiB)
    out = [compressor.compress(zero) for _ in range(total // len(zero))]
    out.append(compressor.flush())
    return b"".join(out)


def k_zstd_bomb(d: Path, c: Canary) -> Path:
    """A 64 KiB-cluster qcow2 whose one zstd cluster is a frame of 2 GiB of zeros (about 64 KB)."""
    import zstandard

    blob = _zeros_stream(zstandard.ZstdCompressor(level=3).compressobj(), 2048 * MiB)
    assert len(blob) <= 128 << 10, len(blob)
    return _compressed_qcow2(d, blob, 1)


def k_deflate_bomb(d: Path, c: Canary) -> Path:
    blob = _zeros_stream(zlib.compressobj(9, zlib.DEFLATED, -15), 120 * MiB)
    return _compressed_qcow2(d, blob[: 128 << 10], 0)


def k_gpt_entry_size(d: Path, c: Canary) -> Path:
    """A 64 GiB qcow2 whose GPT says 128 entries of 2^28 bytes (valid CRCs on both headers): a
    reader trusting the header asks the disk for a 32 GiB entry array."""
    raw = d / "disk.raw"
    with open(raw, "wb") as fh:
        fh.truncate(64 << 30)
    subprocess.run(["sfdisk", "-q", str(raw)], input="label: gpt\nstart=2048, size=2048\n", text=True,
                   check=True, capture_output=True)
    with open(raw, "r+b") as fh:
        for off in (512, (64 << 30) - 512):
            fh.seek(off)
            hdr = bytearray(fh.read(512))
            hsize = struct.unpack("<I", hdr[12:16])[0]
            hdr[84:88] = struct.pack("<I", 1 << 28)
            hdr[16:20] = b"\0\0\0\0"
            hdr[16:20] = struct.pack("<I", zlib.crc32(bytes(hdr[:hsize])))
            fh.seek(off)
            fh.write(hdr)
    image = d / "disk.qcow2"
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, image)
    raw.unlink()
    return image


def k_vmdk_huge_grain_tables(d: Path, c: Canary) -> Path:
    """504 grain tables of 2^20 entries in a 4.5 MB file."""
    gte, n_gts, grain = 1 << 20, 504, 8
    capacity = n_gts * gte * grain
    image = d / "disk.vmdk"
    hdr = struct.pack("<4sIIQQQQIQQQB4sH", b"KDMV", 1, 3, capacity, grain, 0, 0, gte, 0, 1, 16, 0,
                      b"\n \r\n", 0)
    with open(image, "wb") as fh:
        fh.write(hdr + bytes(512 - len(hdr)))
        fh.write(b"".join(struct.pack("<I", 8 + 2 * i) for i in range(n_gts)))  # 504 distinct tables
        fh.truncate(int(4.5 * MiB))
    return image


def k_qcow2_huge_l1(d: Path, c: Canary) -> Path:
    """A sparse 200 MB qcow2 whose virtual size needs a 128 MiB L1 table (budget: 64 MiB)."""
    cb = 9
    per_l1 = (1 << cb) * ((1 << cb) // 8)
    n = (128 * MiB) // 8
    image = d / "disk.qcow2"
    with open(image, "wb") as fh:
        fh.write(_qcow2_header(n * per_l1, cb, n, 1 << cb))
        fh.truncate(200 * MiB)
    return image


def k_qcow2_virtual_size_2_60(d: Path, c: Canary) -> Path:
    image = d / "disk.qcow2"
    with open(image, "wb") as fh:
        fh.write(_qcow2_header(1 << 60, 16, 1 << 24, 1 << 16))
        fh.truncate(1 << 17)
    return image


def k_ova_gnu_sparse(d: Path, c: Canary) -> Path:
    """An OVA whose disk is a GNU-sparse 8 GiB member (a few KB on disk)."""
    work = d / "src"
    work.mkdir()
    (work / "vm.ovf").write_bytes(_ovf([("disk.vmdk", 8 << 30, None)]))
    with open(work / "disk.vmdk", "wb") as fh:
        fh.truncate(8 << 30)
    ova = d / "vm.ova"
    run("tar", "-C", work, "--sparse", "--format=gnu", "-cf", ova, "vm.ovf", "disk.vmdk")
    (work / "disk.vmdk").unlink()
    return ova


def k_ova_gzip_member(d: Path, c: Canary) -> Path:
    """An OVA whose gzip-compressed disk (OVF compression="gzip", capacity 1 MiB) inflates to 256 MiB."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as gz:
        zero = bytes(4 * MiB)
        for _ in range(64):
            gz.write(zero)
    members = [("vm.ovf", _ovf([("disk.vmdk.gz", MiB, "gzip")])), ("disk.vmdk.gz", buf.getvalue())]
    return make_ova(d / "vm.ova", members)


def k_ova_member_too_large(d: Path, c: Canary) -> Path:
    """A disk member larger than its OVF capacity can explain (capacity 1 MiB, member 80 MiB sparse)."""
    work = d / "src"
    work.mkdir()
    (work / "vm.ovf").write_bytes(_ovf([("disk.vmdk", MiB, None)]))
    with open(work / "disk.vmdk", "wb") as fh:
        fh.truncate(80 * MiB)
    ova = d / "vm.ova"
    run("tar", "-C", work, "--format=ustar", "-cf", ova, "vm.ovf", "disk.vmdk")
    (work / "disk.vmdk").unlink()
    return ova


def k_gpt_300_partitions(d: Path, c: Canary) -> Path:
    """A GPT with 300 partitions in use (the budget reads at most 256)."""
    image = d / "disk.raw"
    with open(image, "wb") as fh:
        fh.truncate(64 * MiB)
    script = "label: gpt\ntable-length: 300\n" + "".join(f"start={2048 + 64 * i}, size=64\n" for i in range(300))
    subprocess.run(["sfdisk", "-q", str(image)], input=script, text=True, check=True, capture_output=True)
    return image


BOMB_CASES: dict[str, tuple[Builder, int]] = {
    "gpt-300-partitions": (k_gpt_300_partitions, BUDGET),
    "qcow2-100k-l1-one-l2": (k_qcow2_shared_l2, EXIT_CODES["NoOperatingSystem"]),
    "qcow2-zstd-bomb": (k_zstd_bomb, EXIT_CODES["NoOperatingSystem"]),
    "qcow2-deflate-bomb": (k_deflate_bomb, EXIT_CODES["NoOperatingSystem"]),
    "qcow2-l1-over-budget": (k_qcow2_huge_l1, BUDGET),
    "qcow2-virtual-size-2^60": (k_qcow2_virtual_size_2_60, CORRUPT),
    "gpt-entry-size-2^28": (k_gpt_entry_size, CORRUPT),
    "vmdk-504-grain-tables-of-2^20": (k_vmdk_huge_grain_tables, CORRUPT),
    "ova-gnu-sparse-8g": (k_ova_gnu_sparse, BUDGET),
    "ova-gzip-member-256m": (k_ova_gzip_member, BUDGET),
    "ova-member-over-capacity": (k_ova_member_too_large, BUDGET),
}

ALL_CASES: dict[str, tuple[Builder, int]] = {**CANARY_CASES, **BAD_MEMBER_CASES, **BOMB_CASES}


def build(name: str, root: Path) -> tuple[Path, Canary]:
    """Build case ``name`` under ``root``: root/image/<files> and root/outside/<canary>."""
    canary = Canary.make(root / "outside")
    folder = root / "image"
    folder.mkdir(parents=True)
    builder, _code = ALL_CASES[name]
    return builder(folder, canary), canary


# -- LVM2 written with struct (the host has no device-mapper; guestfish takes a minute) ---------


def _lvm_crc(data: bytes) -> int:
    """LVM's CRC-32: zlib's polynomial, initial value 0xf597a6cf, no final inversion."""
    return (~zlib.crc32(data, (~0xF597A6CF) & 0xFFFFFFFF)) & 0xFFFFFFFF


def lvm_disk(path: Path, lvs: list[tuple[str, str, int]], payload: bytes = b"", size: int = 24 * MiB) -> Path:
    """A whole-disk LVM2 PV (pv0) holding VG vg0 with linear LVs [(name, pv name, extents of 4 MiB)],
    laid out one after the other from 1 MiB; ``payload`` is written at the first LV's start. A
    stripe may name a PV the VG does not have (the D8 case)."""
    pv_id = "AAAAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGGGG"
    body, start = [], 0
    for i, (name, pv, count) in enumerate(lvs):
        body.append(f'{name} {{\nid = "LVLVLV-{i:04d}-AAAA-BBBB-CCCC-DDDD-EEEEEE"\n'
                    'status = ["READ", "WRITE", "VISIBLE"]\nflags = []\nsegment_count = 1\n'
                    f'segment1 {{\nstart_extent = 0\nextent_count = {count}\ntype = "striped"\n'
                    f'stripe_count = 1\nstripes = [\n"{pv}", {start}\n]\n}}\n}}\n')
        start += count
    text = ('vg0 {\nid = "VGVGVG-AAAA-BBBB-CCCC-DDDD-EEEE-FFFFFF"\nseqno = 1\nformat = "lvm2"\n'
            'status = ["RESIZEABLE", "READ", "WRITE"]\nflags = []\nextent_size = 8192\nmax_lv = 0\nmax_pv = 0\n'
            'metadata_copies = 0\nphysical_volumes {\npv0 {\n'
            f'id = "{pv_id}"\ndevice = "/dev/sda"\nstatus = ["ALLOCATABLE"]\nflags = []\n'
            f'dev_size = {size // 512}\npe_start = 2048\npe_count = {(size - MiB) // (4 * MiB)}\n}}\n}}\n'
            'logical_volumes {\n' + "".join(body) + '}\n}\ncontents = "Text Format Volume Group"\nversion = 1\n'
            'description = ""\ncreation_host = "x"\ncreation_time = 0\n').encode() + b"\0"
    disk = bytearray(size)
    label = bytearray(512)
    label[0:32] = b"LABELONE" + struct.pack("<QII", 1, 0, 32) + b"LVM2 001"
    pvh = (pv_id.replace("-", "").encode() + struct.pack("<Q", size) + struct.pack("<QQQQ", MiB, 0, 0, 0)
           + struct.pack("<QQQQ", 4096, MiB - 4096, 0, 0))
    label[32:32 + len(pvh)] = pvh
    label[16:20] = struct.pack("<I", _lvm_crc(bytes(label[20:512])))
    disk[512:1024] = label
    mda = bytearray(512)
    mda[4:24] = b" LVM2 x[5A%r0N*>" + struct.pack("<I", 1)
    mda[24:64] = struct.pack("<QQQQII", 4096, MiB - 4096, 512, len(text), _lvm_crc(text), 0)
    mda[0:4] = struct.pack("<I", _lvm_crc(bytes(mda[4:512])))
    disk[4096:4608] = mda
    disk[4608:4608 + len(text)] = text
    disk[MiB:MiB + len(payload)] = payload
    path.write_bytes(bytes(disk))
    return path


def pax_bomb(path: Path, size: int, kind: bytes = tarfile.XHDTYPE) -> Path:
    """A tar whose first header announces a ``size``-byte extended header (pax or GNU long name) over
    a sparse file: 4 KB on disk (an OVA that format detection must refuse by its budget, exit 32)."""
    info = tarfile.TarInfo("PaxHeaders/vm.ovf")
    info.size, info.type = size, kind
    with open(path, "wb") as fh:
        fh.write(info.tobuf(format=tarfile.USTAR_FORMAT))
        fh.write(b"16 path=a.ovf\n")
        fh.truncate(512 + size + 1024)
    return path
