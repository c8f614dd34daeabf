"""LUKS volumes: the header checked against budgets (both backends), and LUKS1 opened natively with
pyluksde (libluksde, LGPL-3.0).

A hostile header can ask for billions of PBKDF2 iterations, gigabytes of Argon2 memory, key material
or a payload beyond the end of the volume: :func:`check_header` refuses those before any key is
tried, natively or in the libguestfs appliance, so opening a volume is bounded in time and memory.

LUKS2 is checked here but not decrypted natively (pyluksde reads LUKS1 only): the native backend says
UnsupportedLayout for it, so ``--backend auto`` opens it with libguestfs (cryptsetup in the appliance).
"""

from __future__ import annotations

import contextlib
import json
import struct
from dataclasses import dataclass

from migrate.errors import CorruptImage, EncryptedVolume, ResourceBudgetExceeded, UnsupportedLayout, WrongKey

from .budget import check_deadline
from .formats.base import BlockDevice
from .keys import KeyStore

LUKS_MAGIC = b"LUKS\xba\xbe"
MAX_PBKDF2_ITERATIONS = 20_000_000  # cryptsetup benchmarks to ~2 s; fast hosts reach a few million
MAX_ARGON2_TIME = 64
MAX_ARGON2_MEMORY_KIB = 4 << 20  # cryptsetup's own ceiling: 4 GiB
MAX_ARGON2_CPUS = 64
LUKS1_STRIPES = 4000
MAX_LUKS2_HEADER = 4 << 20  # the largest LUKS2 metadata area cryptsetup writes
KEY_BYTES = (16, 32, 48, 64)


@dataclass(frozen=True)
class LuksHeader:
    version: int
    uuid: str | None
    active_slots: int
    payload_offset: int  # bytes


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


def check_header(head: bytes, size: int, where: str, report_path: str,
                 read: object = None) -> LuksHeader:
    """Validate a LUKS header (``head``: at least its first 4096 bytes; ``read(offset, n)`` fetches the
    LUKS2 JSON area) against a volume of ``size`` bytes. Raises CorruptImage or ResourceBudgetExceeded."""
    if head[:6] != LUKS_MAGIC or len(head) < 592:
        raise CorruptImage(f"{where}: not a LUKS header", path=report_path)
    version = struct.unpack(">H", head[6:8])[0]
    if version == 1:
        return _check_luks1(head, size, where, report_path)
    if version == 2:
        return _check_luks2(head, size, where, report_path, read)
    raise CorruptImage(f"{where}: LUKS version {version} is unknown", path=report_path)


def _check_luks1(head: bytes, size: int, where: str, rp: str) -> LuksHeader:
    payload, key_bytes = struct.unpack(">II", head[104:112])
    digest_iter = struct.unpack(">I", head[164:168])[0]
    if key_bytes not in KEY_BYTES:
        raise CorruptImage(f"{where}: master key of {key_bytes} bytes", path=rp)
    if payload * 512 >= size:
        raise CorruptImage(f"{where}: payload offset {payload} sectors lies beyond the volume ({size} bytes)", path=rp)
    if digest_iter > MAX_PBKDF2_ITERATIONS:
        raise ResourceBudgetExceeded(f"{where}: master-key digest asks for {digest_iter} PBKDF2 iterations "
                                     f"(at most {MAX_PBKDF2_ITERATIONS} are run)", path=rp)
    active = 0
    for i in range(8):
        slot = head[208 + 48 * i:256 + 48 * i]
        state, iterations = struct.unpack(">II", slot[:8])
        km_offset, stripes = struct.unpack(">II", slot[40:48])
        if state != 0x00AC71F3:
            continue
        active += 1
        if iterations > MAX_PBKDF2_ITERATIONS:
            raise ResourceBudgetExceeded(f"{where}: key slot {i} asks for {iterations} PBKDF2 iterations "
                                         f"(at most {MAX_PBKDF2_ITERATIONS} are run)", path=rp)
        if stripes != LUKS1_STRIPES:
            raise CorruptImage(f"{where}: key slot {i} has {stripes} anti-forensic stripes "
                               f"(LUKS1 uses {LUKS1_STRIPES})", path=rp)
        if km_offset * 512 + key_bytes * stripes > min(size, max(payload * 512, 4096)):
            raise CorruptImage(f"{where}: key slot {i} material lies outside the header area", path=rp)
    return LuksHeader(1, _cstr(head[168:208]) or None, active, payload * 512)


def _check_luks2(head: bytes, size: int, where: str, rp: str, read: object) -> LuksHeader:
    hdr_size = struct.unpack(">Q", head[8:16])[0]
    if hdr_size < 16384 or hdr_size > MAX_LUKS2_HEADER or hdr_size & (hdr_size - 1) or hdr_size * 2 > size:
        raise CorruptImage(f"{where}: LUKS2 header size {hdr_size} is not possible for this volume", path=rp)
    area = head[4096:hdr_size] if len(head) >= hdr_size else (read(4096, hdr_size - 4096) if read else b"")  # type: ignore[operator]
    text = area.split(b"\0", 1)[0]
    try:
        meta = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CorruptImage(f"{where}: LUKS2 metadata is not valid JSON", path=rp) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("keyslots"), dict) \
            or not isinstance(meta.get("segments"), dict):
        raise CorruptImage(f"{where}: LUKS2 metadata without keyslots or segments", path=rp)
    for name, slot in meta["keyslots"].items():
        kdf = slot.get("kdf") if isinstance(slot, dict) else None
        if not isinstance(kdf, dict):
            raise CorruptImage(f"{where}: LUKS2 keyslot {name} has no kdf", path=rp)
        kind = kdf.get("type")
        try:
            if kind == "pbkdf2":
                if int(kdf.get("iterations", 0)) > MAX_PBKDF2_ITERATIONS:
                    raise ResourceBudgetExceeded(f"{where}: keyslot {name} asks for {int(kdf['iterations'])} "
                                                 f"PBKDF2 iterations (at most {MAX_PBKDF2_ITERATIONS})", path=rp)
            elif kind in ("argon2i", "argon2id"):
                t, m, c = int(kdf.get("time", 0)), int(kdf.get("memory", 0)), int(kdf.get("cpus", 0))
                if t > MAX_ARGON2_TIME or m > MAX_ARGON2_MEMORY_KIB or c > MAX_ARGON2_CPUS:
                    raise ResourceBudgetExceeded(
                        f"{where}: keyslot {name} asks for Argon2 time {t}, memory {m} KiB, {c} threads "
                        f"(at most {MAX_ARGON2_TIME}, {MAX_ARGON2_MEMORY_KIB} KiB, {MAX_ARGON2_CPUS})", path=rp)
            else:
                raise CorruptImage(f"{where}: keyslot {name} uses an unknown kdf", path=rp)
            area_ = slot.get("area", {})
            if int(area_.get("offset", 0)) + int(area_.get("size", 0)) > size:
                raise CorruptImage(f"{where}: keyslot {name} material lies beyond the volume", path=rp)
        except (TypeError, ValueError, AttributeError):
            raise CorruptImage(f"{where}: LUKS2 keyslot {name} has malformed numbers", path=rp) from None
    payload = 0
    for name, seg in meta["segments"].items():
        try:
            off = int(seg.get("offset", 0))
        except (TypeError, ValueError, AttributeError):
            raise CorruptImage(f"{where}: LUKS2 segment {name} has a malformed offset", path=rp) from None
        if off >= size:
            raise CorruptImage(f"{where}: LUKS2 segment {name} starts beyond the volume", path=rp)
        payload = payload or off
    return LuksHeader(2, _cstr(head[168:208]) or None, len(meta["keyslots"]), payload)


def header_of(dev: BlockDevice, where: str, report_path: str) -> LuksHeader:
    head = dev.read(0, 4096 * 4)
    return check_header(head, dev.size, where, report_path, read=dev.read)


class LuksDevice(BlockDevice):
    """The decrypted payload of a LUKS1 volume (pyluksde decrypts; it reads through our device)."""

    format = "luks"

    def __init__(self, volume: object, fileobj: object, path: str) -> None:
        self._volume = volume
        self._fileobj = fileobj  # the binding does not keep it alive
        self.size = volume.size  # type: ignore[attr-defined]
        self.path = path

    def read(self, offset: int, size: int) -> bytes:
        if offset >= self.size or size <= 0:
            return b""
        size = min(size, self.size - offset)
        check_deadline(self.path)
        return self._volume.read_buffer_at_offset(size, offset)  # type: ignore[attr-defined,no-any-return]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._volume.close()  # type: ignore[attr-defined]


def describe(header: LuksHeader, where: str) -> str:
    return f"encrypted volume (LUKS{header.version}) on {where}"


def unlock(dev: BlockDevice, names: list[str], where: str, keys: KeyStore, report_path: str) -> LuksDevice:
    """Open a LUKS volume with the keys that apply to it. No key: EncryptedVolume; keys that do not
    open it: WrongKey; LUKS2: UnsupportedLayout (libguestfs opens it)."""
    header = header_of(dev, where, report_path)
    candidates = keys.candidates(names, header.uuid)
    if not candidates:
        raise EncryptedVolume(f"{describe(header, where)} and no key for it (--key, --keys-from-stdin)",
                              path=report_path)
    if header.version != 1:
        raise UnsupportedLayout(f"{describe(header, where)}: the native reader opens LUKS1 only", path=report_path)
    import pyluksde

    for secret in candidates:
        check_deadline(report_path)
        try:
            password = secret.decode("utf-8")
        except UnicodeDecodeError:
            continue  # pyluksde takes text passphrases; a binary key file cannot be this volume's
        fileobj = dev.file_object()
        volume = pyluksde.volume()
        try:
            volume.open_file_object(fileobj)
            volume.set_password(password)
            opened = volume.unlock()
        except OSError as exc:
            check_deadline(report_path)
            raise CorruptImage(f"{where}: LUKS volume unreadable: {str(exc).splitlines()[0]}",
                               path=report_path) from None
        if opened:
            return LuksDevice(volume, fileobj, report_path)
        volume.close()
    raise WrongKey(f"{describe(header, where)}: none of the {len(candidates)} key(s) given for it opens it",
                   path=report_path)
