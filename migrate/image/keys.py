"""Keys for encrypted guest volumes, given the way virt-inspector takes them.

``--key ID:key:STRING``, ``--key ID:file:FILENAME`` (ID: a device name such as /dev/sda2 or the LUKS
UUID), the shorter ``--key /dev/sda2:STRING`` and ``--key STRING`` (tried on every encrypted volume),
and ``--keys-from-stdin`` (one key per line, each tried on every encrypted volume). A key file holds
the passphrase on its first line, as virt-inspector reads it.

A key lives in this process's memory only: it is never written to a file, a log, an error message,
the inventory, or the argv of a child process (libguestfs receives it over its own socket). A key
file is read once, bounded in size, and must be a regular file outside the kernel's pseudo
filesystems: ``/dev/zero`` or ``/proc/kcore`` as a key file would otherwise read without end.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field

from migrate.errors import KeyFileRefused, UsageError

MAX_KEY_BYTES = 8192  # cryptsetup's own key-file default limit is 8 MiB; LUKS key files are 256-4096 bytes
MAX_KEYS = 64
_PSEUDO_FS = ("/proc", "/sys", "/dev")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Key:
    """One key; ``selector`` None means "try it on every encrypted volume". repr never shows the secret."""

    selector: str | None
    secret: bytes = field(repr=False)

    def applies_to(self, names: Iterable[str], luks_uuid: str | None) -> bool:
        if self.selector is None:
            return True
        if luks_uuid and self.selector.lower() == luks_uuid.lower():
            return True
        return self.selector in set(names)


@dataclass
class KeyStore:
    """The keys of one run, in the order given (per-volume keys first when a volume is opened)."""

    keys: list[Key] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def __repr__(self) -> str:
        return f"KeyStore({len(self.keys)} key(s))"

    def candidates(self, names: Iterable[str], luks_uuid: str | None) -> list[bytes]:
        names = list(names)
        specific = [k.secret for k in self.keys if k.selector is not None and k.applies_to(names, luks_uuid)]
        general = [k.secret for k in self.keys if k.selector is None]
        return specific + general


def _selector_ok(text: str) -> bool:
    return text.startswith("/dev/") or bool(_UUID.match(text)) or text == "all"


def parse_key(spec: str) -> Key:
    """One ``--key`` value (see the module docstring for the forms)."""
    first, sep, rest = spec.partition(":")
    if sep and _selector_ok(first):
        selector = None if first == "all" else first
        kind, sep2, value = rest.partition(":")
        if sep2 and kind == "key":
            return Key(selector, value.encode())
        if sep2 and kind == "file":
            return Key(selector, read_key_file(value))
        if sep2 and kind == "clevis":
            raise UsageError("--key ID:clevis (network-bound keys) is not supported; give the passphrase")
        return Key(selector, rest.encode())  # /dev/sda2:PASSPHRASE
    return Key(None, spec.encode())


def read_key_file(path: str) -> bytes:
    """The passphrase in a key file: its first line without the line end, as virt-inspector reads
    ``ID:file:FILENAME`` (libguestfs-common's read_first_line_from_file). Refused unless it is a
    regular file of at most MAX_KEY_BYTES outside /proc, /sys and /dev."""
    if not path:
        raise KeyFileRefused("--key ID:file: needs a file name")
    real = os.path.realpath(path)
    if any(real == p or real.startswith(p + "/") for p in _PSEUDO_FS):
        raise KeyFileRefused("a key file must be an ordinary file, not under /proc, /sys or /dev", path=path)
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise KeyFileRefused("no such key file", path=path) from None
    except OSError as exc:
        raise KeyFileRefused(f"cannot open the key file: {exc.strerror}", path=path) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileRefused("a key file must be a regular file", path=path)
        if st.st_size > MAX_KEY_BYTES:
            raise KeyFileRefused(f"key file of {st.st_size} bytes (at most {MAX_KEY_BYTES} are accepted)",
                                 path=path)
        data = os.read(fd, MAX_KEY_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_BYTES:
        raise KeyFileRefused(f"key file longer than {MAX_KEY_BYTES} bytes", path=path)
    line = data.split(b"\n", 1)[0].removesuffix(b"\r")
    if not line:
        raise KeyFileRefused("the key file's first line is empty", path=path)
    return line


def keys_from_lines(text: str) -> list[Key]:
    """``--keys-from-stdin``: each non-empty line is one key tried on every encrypted volume (the
    line's end is not part of it, as virt-inspector reads them)."""
    out = [Key(None, line.encode()) for line in text.splitlines() if line]
    if len(out) > MAX_KEYS:
        raise UsageError(f"{len(out)} keys on standard input (at most {MAX_KEYS})")
    return out


def key_store(specs: Iterable[str] = (), stdin_text: str | None = None) -> KeyStore:
    store = KeyStore([parse_key(s) for s in specs])
    if stdin_text is not None:
        store.keys.extend(keys_from_lines(stdin_text))
    if len(store.keys) > MAX_KEYS:
        raise UsageError(f"{len(store.keys)} keys given (at most {MAX_KEYS})")
    return store
