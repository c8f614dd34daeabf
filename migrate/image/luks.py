"""LUKS volumes: the header checked against budgets (both backends), and LUKS1 opened natively with
pyluksde (libluksde, LGPL-3.0).

A hostile header can ask for billions of PBKDF2 iterations, gigabytes of Argon2 memory, key material
or a payload beyond the end of the volume: :func:`check_header` refuses those before any key is
tried, natively or in the libguestfs appliance, so opening a volume is bounded in time and memory.

LUKS2 (pyluksde reads LUKS1 only) is opened here from its on-disk format: PBKDF2 through hashlib,
Argon2 through libargon2 (the library cryptsetup links), AES-XTS through OpenSSL (cryptography). A
cipher other than aes-xts-plain64 is UnsupportedLayout, so ``--backend auto`` uses libguestfs.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import struct
from dataclasses import dataclass, field

from migrate.errors import CorruptImage, EncryptedVolume, ResourceBudgetExceeded, UnsupportedLayout, WrongKey

from .budget import check_deadline
from .formats.base import BlockDevice, raise_device_error
from .keys import KeyStore

LUKS_MAGIC = b"LUKS\xba\xbe"
MAX_PBKDF2_ITERATIONS = 20_000_000  # cryptsetup benchmarks to ~2 s; fast hosts reach a few million
MAX_ARGON2_TIME = 64
MAX_ARGON2_MEMORY_KIB = 1 << 20  # cryptsetup's default maximum (1 GiB; 4 GiB is its hard limit)
MAX_ARGON2_WORK = 16 << 20  # time × memory (KiB): 16 passes over 1 GiB, tens of seconds at most
MAX_ARGON2_CPUS = 16  # libargon2 runs one thread per lane; cryptsetup picks at most 4
LUKS1_STRIPES = 4000
MAX_LUKS2_HEADER = 4 << 20  # the largest LUKS2 metadata area cryptsetup writes
KEY_BYTES = (16, 32, 48, 64)


@dataclass(frozen=True)
class LuksHeader:
    version: int
    uuid: str | None
    active_slots: int
    payload_offset: int  # bytes
    meta: dict | None = field(default=None, repr=False)  # LUKS2: the checked JSON metadata


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
    except (UnicodeDecodeError, ValueError, RecursionError):  # a nesting bomb is malformed metadata too
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
                if t > MAX_ARGON2_TIME or m > MAX_ARGON2_MEMORY_KIB or c > MAX_ARGON2_CPUS \
                        or t * m > MAX_ARGON2_WORK:
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
    digests = meta.get("digests", {})
    for name, dig in (digests.items() if isinstance(digests, dict) else ()):
        try:
            iterations = int(dig.get("iterations", 0))
        except (TypeError, ValueError, AttributeError):
            raise CorruptImage(f"{where}: LUKS2 digest {name} has malformed numbers", path=rp) from None
        if iterations > MAX_PBKDF2_ITERATIONS:
            raise ResourceBudgetExceeded(f"{where}: digest {name} asks for {iterations} PBKDF2 iterations "
                                         f"(at most {MAX_PBKDF2_ITERATIONS})", path=rp)
    return LuksHeader(2, _cstr(head[168:208]) or None, len(meta["keyslots"]), payload, meta)


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


def unlock(dev: BlockDevice, names: list[str], where: str, keys: KeyStore, report_path: str) -> BlockDevice:
    """Open a LUKS volume with the keys that apply to it. No key: EncryptedVolume; keys that do not
    open it: WrongKey; a cipher the native reader lacks: UnsupportedLayout (libguestfs opens it)."""
    header = header_of(dev, where, report_path)
    candidates = keys.candidates(names, header.uuid)
    if not candidates:
        raise EncryptedVolume(f"{describe(header, where)} and no key for it (--key, --keys-from-stdin)",
                              path=report_path)
    if header.version == 2:
        return _unlock_luks2(dev, header, candidates, where, report_path)
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
            raise_device_error(fileobj)
            raise CorruptImage(f"{where}: LUKS volume unreadable: {str(exc).splitlines()[0]}",
                               path=report_path) from None
        if opened:
            return LuksDevice(volume, fileobj, report_path)
        volume.close()
    raise WrongKey(f"{describe(header, where)}: none of the {len(candidates)} key(s) given for it opens it",
                   path=report_path)


# -- LUKS2, natively: the on-disk format (cryptsetup's docs/on-disk-format-luks2.pdf) with OpenSSL for
# AES-XTS and PBKDF2 (cryptography, hashlib) and the reference Argon2 library (libargon2, which
# cryptsetup itself links) through ctypes. Only aes-xts-plain64 (cryptsetup's default) is decrypted.

_XTS = "aes-xts-plain64"


def _argon2(kind: str, password: bytes, salt: bytes, t: int, m: int, p: int, length: int) -> bytes:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("argon2") or "libargon2.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        raise UnsupportedLayout("Argon2 key slots need libargon2 (Debian: libargon2-1)") from None
    fn = lib.argon2id_hash_raw if kind == "argon2id" else lib.argon2i_hash_raw
    fn.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t,
                   ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    fn.restype = ctypes.c_int
    out = ctypes.create_string_buffer(length)
    rc = fn(t, m, p, password, len(password), salt, len(salt), out, length)
    if rc != 0:
        raise CorruptImage(f"Argon2 refused the key slot's parameters (error {rc})")
    return out.raw


def _xts_decrypt(key: bytes, data: bytes, first_iv: int, unit: int = 512) -> bytes:
    """dm-crypt's aes-xts-plain64: each ``unit`` bytes one XTS data unit, its IV the 512-byte sector
    number (little-endian, 64 bits, zero-padded)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    algo = algorithms.AES(key)
    out = []
    step = unit // 512
    for i in range(0, len(data) - len(data) % unit, unit):
        iv = (first_iv + (i // unit) * step).to_bytes(16, "little")
        dec = Cipher(algo, modes.XTS(iv)).decryptor()
        out.append(dec.update(data[i:i + unit]) + dec.finalize())
    return b"".join(out)


def _diffuse(block: bytes, hash_name: str) -> bytes:
    size = len(block)
    digest = hashlib.new(hash_name).digest_size
    out = []
    for i in range((size + digest - 1) // digest):
        chunk = block[i * digest:(i + 1) * digest]
        out.append(hashlib.new(hash_name, i.to_bytes(4, "big") + chunk).digest()[:len(chunk)])
    return b"".join(out)


def _af_merge(material: bytes, key_size: int, stripes: int, hash_name: str) -> bytes:
    """LUKS anti-forensic merge: the key was split over ``stripes`` blocks, diffused with ``hash_name``."""
    acc = bytes(key_size)
    for i in range(stripes - 1):
        block = material[i * key_size:(i + 1) * key_size]
        acc = _diffuse(bytes(a ^ b for a, b in zip(acc, block, strict=True)), hash_name)
    last = material[(stripes - 1) * key_size:stripes * key_size]
    return bytes(a ^ b for a, b in zip(acc, last, strict=True))


def _b64(text: object) -> bytes:
    import base64

    return base64.b64decode(str(text), validate=True)


def _luks2_volume_key(dev: BlockDevice, meta: dict, password: bytes, where: str, rp: str) -> bytes | None:
    """The volume key one passphrase unlocks, verified against the header's digest; None if it opens
    no key slot. Every number used was bounded by check_header."""
    for name, slot in sorted(meta["keyslots"].items()):
        check_deadline(rp)
        try:
            area, kdf, af = slot["area"], slot["kdf"], slot["af"]
            if slot.get("type") != "luks2" or area.get("type") != "raw" or af.get("type") != "luks1":
                continue
            if area.get("encryption") != _XTS:
                raise UnsupportedLayout(f"{where}: key slot {name} is encrypted with {area.get('encryption')!r}; "
                                        f"the native reader decrypts {_XTS} only", path=rp)
            key_size, area_key, stripes = int(slot["key_size"]), int(area["key_size"]), int(af["stripes"])
            hash_name = str(af["hash"])
            offset, area_size = int(area["offset"]), int(area["size"])
            salt = _b64(kdf["salt"])
            if key_size not in KEY_BYTES or area_key not in KEY_BYTES or stripes != LUKS1_STRIPES \
                    or key_size * stripes > area_size or hash_name not in hashlib.algorithms_guaranteed:
                raise CorruptImage(f"{where}: LUKS2 key slot {name} has impossible sizes", path=rp)
            if kdf["type"] == "pbkdf2":
                derived = hashlib.pbkdf2_hmac(str(kdf["hash"]), password, salt, int(kdf["iterations"]), area_key)
            else:
                derived = _argon2(kdf["type"], password, salt, int(kdf["time"]), int(kdf["memory"]),
                                  int(kdf["cpus"]), area_key)
            need = (key_size * stripes + 511) // 512 * 512
            material = _xts_decrypt(derived, dev.read(offset, need), 0)
            key = _af_merge(material, key_size, stripes, hash_name)
            for dig in meta.get("digests", {}).values():
                if name in dig.get("keyslots", ()) and dig.get("type") == "pbkdf2":
                    expect = _b64(dig["digest"])
                    got = hashlib.pbkdf2_hmac(str(dig["hash"]), key, _b64(dig["salt"]), int(dig["iterations"]),
                                              len(expect))
                    if hmac.compare_digest(got, expect):
                        return key
        except (KeyError, TypeError, ValueError, AttributeError):
            raise CorruptImage(f"{where}: LUKS2 key slot {name} is malformed", path=rp) from None
    return None


class Luks2Device(BlockDevice):
    """The decrypted data segment of a LUKS2 volume (aes-xts-plain64, 512- or 4096-byte sectors)."""

    format = "luks"

    def __init__(self, dev: BlockDevice, key: bytes, offset: int, size: int, unit: int, iv_tweak: int,
                 path: str) -> None:
        self._dev = dev
        self._key = key
        self._offset = offset
        self.size = size
        self._unit = unit
        self._tweak = iv_tweak
        self.path = path

    def read(self, offset: int, size: int) -> bytes:
        if offset >= self.size or size <= 0:
            return b""
        size = min(size, self.size - offset)
        check_deadline(self.path)
        start = offset - offset % self._unit
        end = -(-(offset + size) // self._unit) * self._unit
        raw = self._dev.read(self._offset + start, end - start).ljust(end - start, b"\0")
        plain = _xts_decrypt(self._key, raw, start // 512 + self._tweak, self._unit)
        return plain[offset - start:offset - start + size]


def _unlock_luks2(dev: BlockDevice, header: LuksHeader, candidates: list[bytes], where: str,
                  rp: str) -> BlockDevice:
    meta = header.meta or {}
    segments = sorted(meta.get("segments", {}).items())
    if len(segments) != 1 or segments[0][1].get("type") != "crypt":
        raise UnsupportedLayout(f"{describe(header, where)}: {len(segments)} segments (a re-encryption in "
                                "progress?); the native reader opens one crypt segment", path=rp)
    seg = segments[0][1]
    try:
        offset = int(seg["offset"])
        size = dev.size - offset if seg.get("size") == "dynamic" else int(seg["size"])
        unit, tweak = int(seg.get("sector_size", 512)), int(seg.get("iv_tweak", 0))
    except (KeyError, TypeError, ValueError):
        raise CorruptImage(f"{where}: LUKS2 segment is malformed", path=rp) from None
    if seg.get("encryption") != _XTS:
        raise UnsupportedLayout(f"{describe(header, where)}: data encrypted with {seg.get('encryption')!r}; the "
                                f"native reader decrypts {_XTS} only", path=rp)
    if unit not in (512, 1024, 2048, 4096) or size <= 0 or offset + size > dev.size:
        raise CorruptImage(f"{where}: LUKS2 data segment outside the volume", path=rp)
    for secret in candidates:
        key = _luks2_volume_key(dev, meta, secret, where, rp)
        if key is not None:
            return Luks2Device(dev, key, offset, size, unit, tweak, rp)
    raise WrongKey(f"{describe(header, where)}: none of the {len(candidates)} key(s) given for it opens it", path=rp)
