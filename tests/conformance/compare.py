"""Compare one ``migrate inspect`` result with virt-inspector's expected XML, field by field.

The two tools name some things differently; the translations live here, each with its reason, and
nothing else is forgiven: every other mismatch is a difference that must be listed (with its reason)
in tests/conformance/differences.py or the conformance test fails.

- distro: migrate's ``os.distro`` is the os-release ID (the planner picks base images by it);
  libguestfs has its own names. Where they differ (``archlinux`` for os-release's ``arch``) the
  expected name is translated (:data:`LIBGUESTFS_DISTRO`).
- version: virt-inspector prints 0.0 for "no version" (inspect_get_major_version returns 0 when it
  knows none), so an expected 0.0 with no product name matches an inventory without a version.
- package format/management: migrate records which package database it read (the analyzer that
  listed the packages), not a management tool; the tool is derived with libguestfs's own rule
  (deb -> apt, pacman -> pacman, rpm -> dnf from Fedora 22 / RHEL 8 on, yum before).
- mountpoints: a btrfs subvolume is ``btrfsvol:DEVICE/SUBVOL`` in libguestfs; migrate keeps the same
  fact as the mount's resolved device plus fstab's ``subvol=`` option, written here in libguestfs's form.
- md arrays: the kernel numbers them as it assembles them (md127 downwards), so the same array can be
  md126 in one appliance and md127 in another; an md device is matched by the filesystem on it.
- filesystems: virt-inspector also lists, with no type, a device fstab names that is not on the
  disks (Ubuntu's ``/dev/mapper/cryptswap1``, RHBZ#811872); migrate has it as an fstab mount without
  a resolved device, which counts as the same fact.
- applications: compared as ``name epoch:version-release`` (epoch omitted when 0, release omitted when
  empty), the form dpkg/rpm/pacman write; Windows programs as ``name version``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate.model.inventory import Inventory
from tests.conformance.phony import ExpectedApp, ExpectedInspection

LIBGUESTFS_DISTRO = {"archlinux": "arch"}
PACKAGE_FORMAT = {"dpkg": "deb", "rpm": "rpm", "pacman": "pacman", "apk": "apk"}
PACKAGE_ANALYZERS = {"packages_dpkg": "deb", "packages_rpm": "rpm", "packages_pacman": "pacman",
                     "packages_apk": "apk"}
# Absent filesystems libguestfs does not list as the OS's (volumes, RAID members, swap).
NOT_FILESYSTEMS = {None, "", "unknown", "LVM2_member", "crypto_LUKS", "linux_raid_member", "swap", "directory"}

FIELDS = ("inspect", "os_type", "distro", "version", "product_name", "arch", "hostname", "package_format",
          "package_management", "mountpoints", "filesystems", "applications")


@dataclass
class Outcome:
    """What one (image, backend) run produced: an inventory, or the error ``migrate inspect`` exits with."""

    inventory: Inventory | None
    error: str | None = None  # "exit N: message"
    seconds: float = 0.0


@dataclass
class Comparison:
    differences: dict[str, str] = field(default_factory=dict)  # field -> "expected ..., got ..."
    equal: list[str] = field(default_factory=list)
    recall: float | None = None
    precision: float | None = None
    expected_apps: int = 0
    found_apps: int = 0


def app_key(app: ExpectedApp, windows: bool) -> str:
    if windows:
        return f"{app.name} {app.version}"
    evr = (f"{app.epoch}:" if app.epoch else "") + app.version + (f"-{app.release}" if app.release else "")
    return f"{app.name} {evr}"


def package_management(fmt: str | None, distro: str | None, major: int | None) -> str | None:
    if fmt == "deb":
        return "apt"
    if fmt == "pacman" or fmt == "apk":
        return {"pacman": "pacman", "apk": "apk"}[fmt]
    if fmt == "rpm":
        if (distro == "fedora" and (major or 0) >= 22) or (distro in ("rhel", "centos", "rocky") and (major or 0) >= 8):
            return "dnf"
        return "yum"
    return None


def observed(inv: Inventory) -> dict[str, object]:
    """The inventory's facts in the expected XML's terms."""
    os_ = inv.os
    windows = os_.family == "windows"
    identified = os_.distro not in ("", "unknown") or windows
    fmt = next((PACKAGE_FORMAT[p.manager] for p in inv.packages), None)
    if fmt is None:  # an empty database still says which format the guest uses
        fmt = next((PACKAGE_ANALYZERS[r.name] for r in inv.analyzers
                    if r.name in PACKAGE_ANALYZERS and r.status == "ok"), None)
    mounts: dict[str, str] = {}
    for m in inv.mounts:
        if m.mountpoint.startswith("/") and m.resolved_device:
            subvol = next((o.partition("=")[2].strip("/") for o in m.options if o.startswith("subvol=")), None)
            mounts[m.mountpoint] = (f"btrfsvol:{m.resolved_device}/{subvol}" if subvol and m.fstype == "btrfs"
                                    else m.resolved_device)
    for fs in inv.filesystems:
        if fs.mountpoint and fs.mountpoint not in mounts and fs.fstype not in NOT_FILESYSTEMS:
            mounts[fs.mountpoint] = fs.device
    if windows:
        apps = {f"{p.name} {p.version}" for p in inv.windows_programs}
    else:
        apps = {f"{p.name} {p.version}" for p in inv.packages if p.state == "installed"}
    return {
        "os_type": ("windows" if windows else "linux") if identified else None,
        "distro": os_.distro if identified else None,
        "version": (os_.version_major, os_.version_minor) if os_.version_major is not None else None,
        "product_name": os_.product_name,
        "arch": os_.arch,
        "hostname": inv.network.hostname,
        "package_format": fmt,
        "package_management": package_management(fmt, os_.distro, os_.version_major),
        "mountpoints": mounts,
        "filesystems": {fs.device: (fs.fstype, fs.label, fs.uuid) for fs in inv.filesystems
                        if fs.fstype not in NOT_FILESYSTEMS},
        "applications": apps,
        "fstab_devices": {m.spec for m in inv.mounts} | {m.resolved_device for m in inv.mounts if m.resolved_device},
    }


def _match_md_names(got: dict[str, object], exp: ExpectedInspection) -> None:
    """Rename our md arrays to the expected names where the filesystem on them is the same one (type,
    label, UUID): the kernel numbers arrays as it assembles them (md127 downwards, in discovery order),
    so two appliances reading the same disks may call one array md126 and md127; it is not a guest fact."""
    fs_got = got["filesystems"]
    assert isinstance(fs_got, dict)
    alias: dict[str, str] = {}
    for dev, fs in exp.filesystems.items():
        if not dev.startswith("/dev/md"):
            continue
        for mine, facts in fs_got.items():
            if mine.startswith("/dev/md") and facts == (fs.type, fs.label, fs.uuid):
                alias[mine] = dev
    if not alias:
        return
    got["filesystems"] = {alias.get(d, d): f for d, f in fs_got.items()}
    mounts = got["mountpoints"]
    assert isinstance(mounts, dict)
    got["mountpoints"] = {mp: alias.get(d, d) for mp, d in mounts.items()}


def compare(outcome: Outcome, exp: ExpectedInspection) -> Comparison:
    out = Comparison(expected_apps=len(exp.applications))
    if outcome.inventory is None:
        out.differences["inspect"] = f"expected an inventory, got {outcome.error}"
        return out
    out.equal.append("inspect")
    got = observed(outcome.inventory)
    _match_md_names(got, exp)
    windows = exp.os_type == "windows"
    want_version = (exp.major_version, exp.minor_version) if exp.major_version is not None else None
    if want_version == (0, 0) and exp.product_name is None:
        want_version = None  # virt-inspector's 0.0 means "unknown"
    want: dict[str, object] = {
        "os_type": exp.os_type,
        "distro": LIBGUESTFS_DISTRO.get(exp.distro or "", exp.distro),
        "version": want_version,
        "product_name": exp.product_name,
        "arch": exp.arch,
        "hostname": exp.hostname,
        "package_format": exp.package_format,
        "package_management": exp.package_management,
        "mountpoints": exp.mountpoints,
    }
    for name, value in want.items():
        if got[name] == value:
            out.equal.append(name)
        else:
            out.differences[name] = f"expected {value!r}, got {got[name]!r}"
    # filesystems: every one libguestfs lists for the OS, with the same type, label and UUID
    fs_got = got["filesystems"]
    assert isinstance(fs_got, dict)
    bad = []
    for dev, fs in sorted(exp.filesystems.items()):
        mine = fs_got.get(dev)
        theirs = (fs.type, fs.label, fs.uuid)
        if mine is None and theirs == (None, None, None) and dev in got["fstab_devices"]:  # type: ignore[operator]
            continue  # an fstab device absent from the disks (Ubuntu's encrypted swap): listed by both
        if mine is None:
            bad.append(f"{dev} missing")
        elif (mine[0], mine[1], (mine[2] or "").lower() or None) != (theirs[0], theirs[1],
                                                                     (theirs[2] or "").lower() or None):
            bad.append(f"{dev}: expected {theirs}, got {mine}")
    if bad:
        out.differences["filesystems"] = "; ".join(bad)
    else:
        out.equal.append("filesystems")
    # applications: recall and precision over name epoch:version-release
    wanted = {app_key(a, windows) for a in exp.applications}
    found = got["applications"]
    assert isinstance(found, set)
    out.found_apps = len(found)
    common = wanted & found
    out.recall = len(common) / len(wanted) if wanted else 1.0
    out.precision = len(common) / len(found) if found else (1.0 if not wanted else 0.0)
    if wanted == found:
        out.equal.append("applications")
    else:
        missing, extra = sorted(wanted - found), sorted(found - wanted)
        out.differences["applications"] = (f"recall {len(common)}/{len(wanted)}, precision {len(common)}/{len(found)}"
                                           f"; missing {missing[:5]}{'...' if len(missing) > 5 else ''}"
                                           f"; extra {extra[:5]}{'...' if len(extra) > 5 else ''}")
    return out


def run_inspect(name: str, backend: str) -> Outcome:
    """``migrate inspect --backend BACKEND`` on the phony guest, in process (the CLI's own function),
    with upstream's passphrases for the encrypted guests (as ``--key`` would give them). A refusal
    is kept as the exit code and message the CLI would print."""
    import time

    from migrate.errors import MigrateError
    from migrate.image.keys import KeyStore, parse_key
    from migrate.inspect import inspect_images
    from tests.conformance.phony import LUKS_KEYS, phony_disks

    disks = phony_disks(name)
    keys = KeyStore([parse_key(k) for k in LUKS_KEYS.get(name, [])]) or None
    t0 = time.monotonic()
    try:
        inv = inspect_images(disks, backend, keys=keys)
    except MigrateError as exc:
        return Outcome(None, f"exit {exc.exit_code}: {exc}", time.monotonic() - t0)
    return Outcome(inv, None, time.monotonic() - t0)
