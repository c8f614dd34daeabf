"""Keys for the encrypted members of a fleet (docs/keys.md, "Fleets").

``migrate fleet inspect`` takes the keys the single-VM commands take (``--key`` in virt-inspector's
forms, ``--keys-from-stdin``) and one more form that scopes a key to one member::

    --key MEMBER@ID:key:PASSPHRASE      --key MEMBER@ID:file:FILENAME      --key MEMBER@/dev/sda2:PASSPHRASE

(ID: a device such as /dev/sda2, the LUKS UUID, or ``all`` for every encrypted volume of that member).
A key without ``MEMBER@`` is tried on every member, and a LUKS UUID selector is naturally per-disk.

Each member's task carries only the keys that may open it (its own and the fleet-wide ones), as a
:class:`migrate.image.keys.KeyStore` whose repr never shows a secret: the Dask worker logs a failed
task's repr, and nothing of a key may reach a log. Keys cross Dask's comms in memory (pickled task
arguments), so they are refused with a scheduler that is not ``tls://`` (:func:`check_scheduler`).
Nothing here is written to the fleet store or a member's files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from migrate.errors import KeysNeedTls, UsageError
from migrate.image.keys import MAX_KEYS, Key, KeyStore, keys_from_lines, parse_key

MAX_FLEET_KEYS = 4096  # in all; at most MAX_KEYS reach one member
# MEMBER@ followed by a selector and its colon (the shortest member part: a passphrase comes after)
_SCOPED = re.compile(r"(?P<member>.+?)@(?P<spec>(?:/dev/[^:]*|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
                     r"|all):.*)", re.DOTALL)
# the failures a key may cure: a member that failed so is inspected again when keys are given
KEY_ERRORS = ("EncryptedVolume", "WrongKey")


@dataclass
class FleetKeys:
    """The keys of one fleet run: fleet-wide ones and per-member ones. repr never shows a secret."""

    general: list[Key] = field(default_factory=list)
    scoped: dict[str, list[Key]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.general or self.scoped)

    def __repr__(self) -> str:
        n = len(self.general) + sum(len(v) for v in self.scoped.values())
        return f"FleetKeys({n} key(s), {len(self.scoped)} member(s) scoped)"

    def for_member(self, name: str) -> KeyStore | None:
        """The keys that may open ``name``'s volumes: its own first, then the fleet-wide ones."""
        keys = [*self.scoped.get(name, ()), *self.general]
        return KeyStore(keys) if keys else None

    def check_members(self, names: Iterable[str]) -> None:
        """Every member a key is scoped to exists (a typo would otherwise leave that member locked)."""
        known = set(names)
        unknown = sorted(n for n in self.scoped if n not in known)
        if unknown:
            # a member part may be a mistyped passphrase: say how many, and which form, never the text
            raise UsageError(f"{len(unknown)} --key value(s) of the form MEMBER@ID:... name a member this fleet "
                             "does not have (`migrate fleet status` lists the members; a passphrase that itself "
                             "holds '@ID:' is given as all:key:PASSPHRASE)")


def fleet_keys(specs: Iterable[str] = (), stdin_text: str | None = None) -> FleetKeys:
    """``--key`` values (each optionally ``MEMBER@``-scoped) and ``--keys-from-stdin`` lines (each tried
    on every encrypted volume of every member, as for the single-VM commands)."""
    out = FleetKeys()
    for spec in specs:
        m = _SCOPED.fullmatch(spec)
        if m:
            out.scoped.setdefault(m["member"], []).append(parse_key(m["spec"]))
        else:
            out.general.append(parse_key(spec))
    if stdin_text is not None:
        out.general.extend(keys_from_lines(stdin_text))
    total = len(out.general) + sum(len(v) for v in out.scoped.values())
    if total > MAX_FLEET_KEYS:
        raise UsageError(f"{total} keys given (at most {MAX_FLEET_KEYS})")
    most = len(out.general) + max((len(v) for v in out.scoped.values()), default=0)
    if most > MAX_KEYS:
        raise UsageError(f"{most} keys would be tried on one member (at most {MAX_KEYS}: scope keys to members "
                         "with MEMBER@ID:...)")
    return out


def check_scheduler(scheduler: str | None, keys: FleetKeys | None) -> None:
    """Keys travel to the workers inside the tasks: over a local cluster's loopback comms, or over the
    network to a remote scheduler and its workers, which only ``tls://`` encrypts."""
    if keys and scheduler and not scheduler.startswith("tls://"):
        raise KeysNeedTls(f"keys would cross the network unencrypted to the Dask scheduler {scheduler}: give a "
                          "tls:// scheduler address (a cluster with TLS comms), or run without --scheduler "
                          "(local workers)")
