"""Numbers read from untrusted text: a disk image's OVF, a guest's configuration files.

int() of guest text fails in three ways a hostile (or merely odd) guest can choose: ``str.isdigit``
admits ``²``, which int() refuses; int() refuses more than 4300 digits (CPython's limit, and the
conversion is quadratic below it); and a number that converts may still be absurd (port 99999, a
uid past 2^32, a negative size). Each ended an analyzer with ValueError, which the runner turns
into one "analyzer failed" unknown: one line of a guest file cost every fact of that analyzer.
``small_int`` is the one conversion for such text: ASCII digits only, the digit count bounded
before int() runs, the value inside a range the caller names, else None.
"""

from __future__ import annotations

MAX_DIGITS = 20  # 2^64 has 20 digits; leading zeros beyond that are not a number anyone writes

PORT = (1, 65535)
PORT_OR_ZERO = (0, 65535)  # where 0 means "no TCP listener" (Redis, mosquitto, memcached -U)
ID = (0, 4294967294)  # uid_t/gid_t; 4294967295 is (uid_t)-1, "no id"

_DIGITS = {8: frozenset("01234567"), 10: frozenset("0123456789"), 16: frozenset("0123456789abcdefABCDEF")}


def small_int(text: str | None, *, lo: int, hi: int, base: int = 10) -> int | None:
    """The number ``text`` spells in ASCII digits of ``base`` (no sign, no spaces), when it has at
    most MAX_DIGITS digits and lies in [lo, hi]; None for anything else."""
    if not text or len(text) > MAX_DIGITS or not _DIGITS[base].issuperset(text):
        return None
    value = int(text, base)
    return value if lo <= value <= hi else None
