"""The one exception hierarchy of the core.

Core code raises these and never exits; ``migrate.cli.main`` maps each class to a message and to the
exit code declared here, in exactly one place. Exit codes are part of the CLI contract (README).
"""

from __future__ import annotations

from pathlib import Path


class MigrateError(Exception):
    """Base of every error a user can act on. ``exit_code`` is the CLI's exit status for it."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class UsageError(MigrateError):
    exit_code = 2


class StrictModeFailure(MigrateError):
    """--strict and the run recorded unknowns."""

    exit_code = 3


class ImageError(MigrateError):
    """Something is wrong with a disk image given as input."""

    exit_code = 10


class ImageNotFound(ImageError):
    exit_code = 10


class UnknownImageFormat(ImageError):
    exit_code = 11


class CorruptImage(ImageError):
    """Truncated, damaged, or internally inconsistent image."""

    exit_code = 12


class MissingExtent(ImageError):
    """A multi-file image (VMDK descriptor, qcow2 backing chain) names a file that is not there."""

    exit_code = 13


class NoOperatingSystem(ImageError):
    exit_code = 14


class EncryptedVolume(ImageError):
    exit_code = 15


class UnsupportedLayout(ImageError):
    """The image is readable but uses something this backend cannot read (e.g. btrfs natively)."""

    exit_code = 16


class ManifestMismatch(ImageError):
    """An OVA's manifest digest does not match the file it names."""

    exit_code = 17


class BackendUnavailable(MigrateError):
    exit_code = 18


class GuestPathError(MigrateError):
    """A guest path could not be read: missing, a loop of symlinks, not a regular file, too large."""

    exit_code = 19


class GuestFileTooLarge(GuestPathError):
    exit_code = 19


class InvalidDocument(MigrateError):
    """An input document (inventory, plan, config) does not validate."""

    exit_code = 20


class OutputError(MigrateError):
    exit_code = 21


class ExternalToolError(MigrateError):
    """A wrapped external tool (qemu-img, debootstrap, docker, ...) failed; its output is kept."""

    exit_code = 22

    def __init__(self, message: str, *, path: str | None = None, output: str = "") -> None:
        super().__init__(message, path=path)
        self.output = output


# -- the Docker side: build, deploy, data, verify --------------------------------------------


class BuildFailed(ExternalToolError):
    """A service image did not build; the message names the service and the failing step."""

    exit_code = 23

    def __init__(self, service: str, step: str, output: str, log: Path) -> None:
        tail = "\n".join(output.rstrip().splitlines()[-40:])
        super().__init__(f"building {service} failed at {step}\n{tail}\n(full log: {log})", output=output)
        self.service = service
        self.step = step
        self.log = log


class DataVerificationFailed(MigrateError):
    """A seeded volume does not hold what the manifest says."""

    exit_code = 24


class VolumeNotEmpty(MigrateError):
    """The volume to seed already holds data (seeding is for before the first start; --force replaces)."""

    exit_code = 25


class SecretsMissing(UsageError):
    """A secret the stack needs has no value (secrets file, environment or existing file)."""

    exit_code = 26


class InsecureSecretsFile(UsageError):
    exit_code = 27


class StackNotHealthy(MigrateError):
    """The stack did not become healthy within the timeout; the unhealthy services are named."""

    exit_code = 28


class DockerUnavailable(BackendUnavailable):
    """No Docker engine answers (daemon not running, no permission on the socket)."""

    exit_code = 18


class DockerError(ExternalToolError):
    """The engine refused or failed a request; ``output`` holds what it said."""

    exit_code = 22


class VerificationFailed(MigrateError):
    """At least one verification check failed; the report says which."""

    exit_code = 29


# -- outputs under OUTDIR (issue 8, write side: exit codes 35-39) ------------------------------


class OutputEscape(OutputError):
    """An output path would leave OUTDIR: a ``..`` or absolute name that survived normalisation, or a
    symbolic link planted where a file or directory of the output belongs."""

    exit_code = 35


class NoSpace(OutputError):
    """The output would not fit in the free space of the target filesystem (checked before writing)."""

    exit_code = 36


# -- hostile disk images: confinement and budgets (docs/security.md) --------------------------


class ChainMemberOutside(ImageError):
    """A file a disk chain names (backing file, extent, parent, data file) is not a plain local name
    inside the folder of the image the user named: absolute or ``..`` path out of it, a symlink out
    of it, or a qemu pseudo-name such as ``json:`` or ``nbd:``."""

    exit_code = 30


class ChainMemberNotRegular(ImageError):
    """A chain member inside the image's folder is not a regular file (directory, FIFO, device)."""

    exit_code = 31


class ResourceBudgetExceeded(ImageError):
    """A table, a decompressed block, a count or an unpacked size goes beyond what the image can
    legitimately need (or beyond the free disk space): refused before allocating or writing."""

    exit_code = 32


class TimeBudgetExceeded(ImageError):
    """An image operation ran past its wall-clock budget (MIGRATE_IMAGE_TIMEOUT seconds)."""

    exit_code = 33


class ManifestIncomplete(ImageError):
    """An OVA has a manifest that does not cover one of its disks."""

    exit_code = 34


class ConfigError(MigrateError):
    """The project config file (migrate.yaml) is invalid: an unknown key, a wrong value, or a setting a
    command needs (push: the registry) is missing."""

    exit_code = 45


class PushFailed(ExternalToolError):
    """The registry refused or could not be reached while pushing an image."""

    exit_code = 46


# -- fleets (issue 9, store/sources/engine: exit codes 40-44) -----------------------------------


class FleetNotFound(UsageError):
    """FLEET is not a fleet directory (no fleet.db): ``migrate fleet add`` creates one."""

    exit_code = 40


class FleetSourceInvalid(InvalidDocument):
    """A manifest CSV or RVTools export cannot be used: a required column is missing, a value is not
    a number, a name repeats, a path names no disk image. The message names the file, row and column."""

    exit_code = 41


class FleetSourceOutside(UsageError):
    """A manifest names a file outside the folders the user allowed (the manifest's own folder and
    each ``--allow-dir``): refused, so a manifest cannot make the tool read host files."""

    exit_code = 42


class FleetBusy(MigrateError):
    """The fleet store stayed locked by another process beyond the wait (a long write elsewhere)."""

    exit_code = 43


class FleetInUse(FleetBusy):
    """Another live run holds the fleet: ``fleet plan`` and ``fleet convert`` run alone on a fleet, and
    ``fleet inspect`` runs beside other inspect runs only. The message names that run (command, pid,
    host, since when). A run whose process is gone (same host) or that has not renewed its heartbeat
    within the lease (another host) no longer holds the fleet: the next run takes over."""

    exit_code = 43


class FleetMembersFailed(StrictModeFailure):
    """``--strict`` on a fleet step (inspect, plan, convert) and at least one member failed: the
    message names how many and the first few with their error class."""

    exit_code = 3


class FleetSchemaTooNew(MigrateError):
    """fleet.db was written by a newer migrate (its schema version is above the one this one knows)."""

    exit_code = 44


# -- encrypted guest volumes: keys (issue 11) -------------------------------------------------


class WrongKey(EncryptedVolume):
    """Keys were given for an encrypted volume, and none of them opens it."""

    exit_code = 38


class KeyFileRefused(UsageError):
    """A key file (``--key ID:file:PATH``) is not a small regular file outside /proc, /sys and /dev."""

    exit_code = 39


class KeysNeedTls(UsageError):
    """Keys for encrypted guests were given with a remote Dask scheduler whose address is not ``tls://``:
    they would cross the network unencrypted inside the tasks (migrate.fleet.keys)."""

    exit_code = 37


# -- plan -> edit -> generate (issue 10, exit codes 47-49) -------------------------------------


class FilesToProvide(MigrateError):
    """``generate`` could not take every file the plan needs from the guest (no image given, or a
    file missing or unreadable there): the stack would build without the application. Each file is
    named; ``--allow-missing-files`` accepts that and lists them in the stack's README instead."""

    exit_code = 47


EXIT_CODES: dict[str, int] = {
    cls.__name__: cls.exit_code
    for cls in (
        UsageError,
        StrictModeFailure,
        ImageNotFound,
        UnknownImageFormat,
        CorruptImage,
        MissingExtent,
        NoOperatingSystem,
        EncryptedVolume,
        UnsupportedLayout,
        ManifestMismatch,
        BackendUnavailable,
        GuestPathError,
        InvalidDocument,
        OutputError,
        ExternalToolError,
        BuildFailed,
        DataVerificationFailed,
        VolumeNotEmpty,
        SecretsMissing,
        InsecureSecretsFile,
        StackNotHealthy,
        VerificationFailed,
        OutputEscape,
        NoSpace,
        ChainMemberOutside,
        ChainMemberNotRegular,
        ResourceBudgetExceeded,
        TimeBudgetExceeded,
        ManifestIncomplete,
        ConfigError,
        PushFailed,
        WrongKey,
        KeyFileRefused,
        KeysNeedTls,
        FleetNotFound,
        FleetSourceInvalid,
        FleetSourceOutside,
        FleetBusy,
        FleetInUse,
        FleetMembersFailed,
        FleetSchemaTooNew,
        FilesToProvide,
    )
}
