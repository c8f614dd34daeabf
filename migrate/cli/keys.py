"""The ``--key`` / ``--keys-from-stdin`` options, defined once for every command that opens disk images
(inspect, convert, plan, graph, generate, data export), so their help text and parsing cannot drift.

The keys become a :class:`migrate.image.keys.KeyStore` that lives in this process only: it is passed
as ``keys=`` down to ``migrate.inspect.open_vm`` and never written to a file, a log, the inventory,
a plan or a child's argv (see migrate/image/keys.py). ``fleet inspect``, ``fleet plan``, ``fleet convert``
and ``fleet run`` take the same forms plus ``MEMBER@ID:...`` (FleetKeyOpt; migrate/fleet/keys.py).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from migrate.image.keys import KeyStore, key_store

if TYPE_CHECKING:
    from migrate.fleet.keys import FleetKeys

MAX_STDIN_BYTES = 1 << 20  # 64 keys of at most 8 KiB each fit; more is not a key list

# the forms virt-inspector takes; "[b]key[/b]": rich (typer's help) would otherwise turn ":key:" into an emoji
_KEY_FORMS = ("Key for an encrypted (LUKS) volume, as virt-inspector takes it: ID:[b]key[/b]:PASSPHRASE, "
              "ID:[b]file[/b]:FILENAME (ID: a device such as /dev/sda2, or the LUKS UUID), /dev/sda2:PASSPHRASE, "
              "or PASSPHRASE (tried on every encrypted volume")
_ON_ARGV = ("A passphrase on the command line is visible to other local users: prefer --keys-from-stdin or a "
            "key file.")

KeyOpt = Annotated[list[str] | None, typer.Option(
    "--key", metavar="SELECTOR", help=f"{_KEY_FORMS}). Repeatable. {_ON_ARGV}")]
KeysFromStdin = Annotated[bool, typer.Option(
    "--keys-from-stdin", help="Read keys from standard input, one per line, each tried on every "
                              "encrypted volume.")]


def keys_of(key: list[str] | None, keys_from_stdin: bool) -> KeyStore | None:
    """The keys a command was given (None when none were: the guest is opened as before)."""
    if not key and not keys_from_stdin:
        return None
    return key_store(key or (), _stdin(keys_from_stdin))


# `migrate fleet inspect|plan|convert|run`: the same forms, each optionally scoped to one member
FleetKeyOpt = Annotated[list[str] | None, typer.Option(
    "--key", metavar="SELECTOR",
    help=f"{_KEY_FORMS} of every member); MEMBER@ID:... (ID may be 'all') scopes it to one fleet member. "
         f"Repeatable. Refused with a --scheduler that is not tls://. {_ON_ARGV}")]
FleetKeysFromStdin = Annotated[bool, typer.Option(
    "--keys-from-stdin", help="Read keys from standard input, one per line, each tried on every "
                              "encrypted volume of every member.")]


def fleet_keys_of(key: list[str] | None, keys_from_stdin: bool) -> FleetKeys | None:
    """The keys a fleet command was given (None when none were). The coordinator that reads them
    writes no core file from here on, as its workers do."""
    from migrate.fleet.keys import fleet_keys
    from migrate.fleet.worker import no_core_dumps

    if not key and not keys_from_stdin:
        return None
    no_core_dumps()
    return fleet_keys(key or (), _stdin(keys_from_stdin))


def _stdin(keys_from_stdin: bool) -> str | None:
    """The key lines on standard input, read once and bounded, when asked for."""
    return sys.stdin.read(MAX_STDIN_BYTES) if keys_from_stdin else None
