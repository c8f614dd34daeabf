"""libguestfs's phony guests, built here from the upstream scripts, and what virt-inspector expects of them.

The scripts, their inputs and the expected XML are external reference data kept in
``<repo>/../shared/conformance/libguestfs-phony/`` (its README gives provenance and licence). They are
read from there, never copied into this repository. Each image is built the way upstream's
``phony-guests/Makefile.am`` builds it (generated inputs first: ``fedora.db`` from the SQL dump,
``fedora-static-bin`` with ``gcc -static``, the Windows hives merged into a copy of ``minimal-hive``),
with ``SRCDIR`` pointing at a scratch copy of the inputs and ``../binaries`` beside it, under
libguestfs's direct backend with TCG.

Building costs 30-150 s per image, so results are cached in ``~/.cache/migrate/phony/<name>-<key>/``
(``$MIGRATE_PHONY_CACHE`` overrides) where the key hashes the script, every input file it reads, the
layout and :data:`RECIPE_VERSION`; the build runs in a temporary directory renamed into place when
complete, under a file lock (the same :func:`migrate.samples._common.cached_entry` the samples use).

Two guests have no expected XML upstream (fedora-btrfs and fedora-md: upstream's inspector tests do
not cover them); for those the build also runs the local ``virt-inspector`` once and keeps its XML as
the reference. fedora-luks-on-lvm's expected XML names the root LUKS device ``luks-ROOTUUID``; upstream's
test fills in the UUID of the root LV's LUKS header, which the build records the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import defusedxml.ElementTree as DET

from migrate.image.guestfs_backend import guestfs_environment
from migrate.samples._common import SampleBuildError, cached_entry, run

REPO = Path(__file__).resolve().parents[2]
#: The reference data; CI checks it out beside the repository.
SHARED = REPO.parent / "shared" / "conformance" / "libguestfs-phony"
PHONY = SHARED / "phony-guests"
INSPECTOR = SHARED / "inspector"
BINARIES = SHARED / "binaries"

#: Bump when the way images are built changes in a way the hashed inputs do not show.
RECIPE_VERSION = 1

#: The passphrases upstream's make-fedora-img.pl formats the LUKS devices with (public test data), as the
#: ``--key DEVICE:key:PASSPHRASE`` values upstream's test-virt-inspector-*-luks*.sh give virt-inspector.
LUKS_KEYS = {
    "fedora-lvm-on-luks": ["/dev/sda2:key:FEDORA"],
    "fedora-luks-on-lvm": ["/dev/Volume-Group/Root:key:FEDORA-Root",
                           "/dev/Volume-Group/Logical-Volume-1:key:FEDORA-LV1",
                           "/dev/Volume-Group/Logical-Volume-2:key:FEDORA-LV2",
                           "/dev/Volume-Group/Logical-Volume-3:key:FEDORA-LV3"],
}


@dataclass(frozen=True)
class PhonyRecipe:
    """One phony guest: the upstream script, the files it reads and the disks it writes."""

    name: str
    script: str
    inputs: tuple[str, ...]  # files under phony-guests/ (generated ones are listed by their sources)
    binaries: tuple[str, ...]
    disks: tuple[str, ...]
    layout: str | None = None
    expected_xml: str | None = None  # inspector/<file>; None: the local virt-inspector's XML is kept
    generated: tuple[str, ...] = ()  # what Makefile.am generates first: fedora.db, fedora-static-bin, hives


_FEDORA_INPUTS = ("fedora-journal.tar.xz", "fedora-db.sql.xz", "fedora.c")
_FEDORA_GEN = ("fedora.db", "fedora-static-bin")
_BIN = ("bin-x86_64-dynamic",)


def _fedora(name: str, layout: str, disks: tuple[str, ...], xml: str | None) -> PhonyRecipe:
    return PhonyRecipe(name, "make-fedora-img.pl", _FEDORA_INPUTS, _BIN, disks, layout, xml, _FEDORA_GEN)


RECIPES: dict[str, PhonyRecipe] = {r.name: r for r in (
    PhonyRecipe("debian", "make-debian-img.sh", ("debian-packages", "debian-syslog"), _BIN, ("debian.img",),
                expected_xml="expected-debian.img.xml"),
    PhonyRecipe("ubuntu", "make-ubuntu-img.sh", ("debian-packages",), _BIN, ("ubuntu.img",),
                expected_xml="expected-ubuntu.img.xml"),
    PhonyRecipe("archlinux", "make-archlinux-img.sh", ("archlinux-package",), _BIN, ("archlinux.img",),
                expected_xml="expected-archlinux.img.xml"),
    PhonyRecipe("coreos", "make-coreos-img.sh", (), (), ("coreos.img",), expected_xml="expected-coreos.img.xml"),
    _fedora("fedora", "partitions", ("fedora.img",), "expected-fedora.img.xml"),
    _fedora("fedora-btrfs", "btrfs", ("fedora-btrfs.img",), None),
    _fedora("fedora-md", "partitions-md", ("fedora-md1.img", "fedora-md2.img"), None),
    _fedora("fedora-lvm-on-luks", "lvm-on-luks", ("fedora-lvm-on-luks.img",), "expected-fedora-lvm-on-luks.img.xml"),
    _fedora("fedora-luks-on-lvm", "luks-on-lvm", ("fedora-luks-on-lvm.img",), "expected-fedora-luks-on-lvm.img.xml"),
    PhonyRecipe("windows", "make-windows-img.sh", ("windows-software.reg", "windows-system.reg", "minimal-hive"),
                ("bin-win32.exe",), ("windows.img",), expected_xml="expected-windows.img.xml",
                generated=("windows-software", "windows-system")),
)}
NAMES = tuple(RECIPES)
#: The session fixture of each guest (tests/conformance/conftest.py); tests/conftest.py marks their users ``image``.
FIXTURES = {name: "phony_" + name.replace("-", "_") for name in NAMES}


class PhonyUnavailable(RuntimeError):
    """The reference data folder is absent (only then may the conformance tests skip)."""


def require_shared() -> None:
    if not PHONY.is_dir() or not INSPECTOR.is_dir() or not BINARIES.is_dir():
        raise PhonyUnavailable(f"the libguestfs phony-guest reference data is not here: {SHARED} is missing "
                               "(it lives beside the repository, in ../shared/conformance/)")


def phony_cache_dir() -> Path:
    env = os.environ.get("MIGRATE_PHONY_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "migrate" / "phony"


def recipe_key(recipe: PhonyRecipe) -> str:
    """Hash of the script, every input it reads, the layout and the recipe version."""
    h = hashlib.sha256()
    h.update(json.dumps([RECIPE_VERSION, recipe.name, recipe.layout, recipe.disks, recipe.generated]).encode())
    for rel in (recipe.script, *recipe.inputs):
        h.update(rel.encode() + b"\0" + (PHONY / rel).read_bytes())
    for rel in recipe.binaries:
        h.update(rel.encode() + b"\0" + (BINARIES / rel).read_bytes())
    return h.hexdigest()[:16]


def _env() -> dict[str, str]:
    guestfs_environment()
    env = {"LANG": "C", "LIBGUESTFS_BACKEND": "direct", "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"}
    return env


def _generate(recipe: PhonyRecipe, src: Path) -> None:
    """What upstream's Makefile.am makes before it runs the script."""
    if "fedora.db" in recipe.generated:
        sql = subprocess.run(["xzcat", PHONY / "fedora-db.sql.xz"], check=True, stdout=subprocess.PIPE).stdout
        run(["sqlite3", src / "fedora.db.t"], input=sql)
        os.rename(src / "fedora.db.t", src / "fedora.db")
    if "fedora-static-bin" in recipe.generated:
        run(["gcc", "-static", "-O2", "-o", src / "fedora-static-bin", PHONY / "fedora.c"])
    for hive, prefix in (("windows-software", "SOFTWARE"), ("windows-system", "SYSTEM")):
        if hive in recipe.generated:
            tmp = src / f"{hive}.t"
            shutil.copyfile(PHONY / "minimal-hive", tmp)
            tmp.chmod(0o644)
            run(["hivexregedit", "--merge", tmp, "--prefix", f"HKEY_LOCAL_MACHINE\\{prefix}", PHONY / f"{hive}.reg"])
            os.rename(tmp, src / hive)


def _build(recipe: PhonyRecipe, out: Path) -> None:
    src = out / "src"  # SRCDIR: the upstream files (symlinked) plus the generated ones
    src.mkdir()
    (out / "binaries").symlink_to(BINARIES)  # the scripts read $SRCDIR/../binaries
    for p in PHONY.iterdir():
        (src / p.name).symlink_to(p)
    t0 = time.monotonic()
    _generate(recipe, src)
    env = {**_env(), "SRCDIR": str(src)}
    if recipe.layout:
        env["LAYOUT"] = recipe.layout
    interpreter = "perl" if recipe.script.endswith(".pl") else "bash"
    run([interpreter, PHONY / recipe.script], env=env, cwd=src)
    meta: dict[str, object] = {"name": recipe.name, "layout": recipe.layout, "key": recipe_key(recipe)}
    for disk in recipe.disks:
        built = src / disk
        # The scripts write an empty file when libguestfs lacks btrfs or NTFS; that is not a guest.
        if not built.is_file() or built.stat().st_size == 0:
            raise SampleBuildError(f"phony guest {recipe.name}: {recipe.script} left no usable {disk} "
                                   "(does this libguestfs lack btrfs/ntfs support?)")
        os.rename(built, out / disk)
    meta["build_seconds"] = round(time.monotonic() - t0, 1)
    disks = [out / d for d in recipe.disks]
    if recipe.name == "fedora-luks-on-lvm":
        meta["root_luks_uuid"] = _luks_uuid(disks[0], "/dev/Volume-Group/Root")
    if recipe.expected_xml is None:
        t1 = time.monotonic()
        xml = run(["virt-inspector", *[a for d in disks for a in ("-a", str(d))]], env=_env()).stdout
        (out / "virt-inspector.xml").write_bytes(xml)
        meta["virt_inspector_seconds"] = round(time.monotonic() - t1, 1)
    meta["libguestfs"] = run(["guestfish", "--version"]).stdout.decode().strip()
    shutil.rmtree(src)
    (out / "binaries").unlink()
    (out / "build.json").write_text(json.dumps(meta, indent=2) + "\n")


def _luks_uuid(disk: Path, device: str) -> str:
    """What upstream's test-virt-inspector-luks-on-lvm.sh substitutes for ROOTUUID."""
    import guestfs

    g = guestfs.GuestFS(python_return_dict=True)
    try:
        g.add_drive_opts(str(disk), format="raw", readonly=True)
        g.launch()
        g.vgscan()
        g.vg_activate_all(True)
        return str(g.luks_uuid(device))
    finally:
        g.close()


def _entry(name: str) -> Path:
    require_shared()
    if name not in RECIPES:
        raise KeyError(f"no phony guest {name!r}; known: {', '.join(NAMES)}")
    recipe = RECIPES[name]
    entry, _ = cached_entry(phony_cache_dir(), f"{name}-{recipe_key(recipe)}", lambda tmp: _build(recipe, tmp),
                            progress=lambda msg: print(f"[phony] {msg}", flush=True))
    return entry


def phony_disks(name: str) -> list[Path]:
    """Every disk of the phony guest ``name`` in disk order (two for fedora-md), built on first use."""
    entry = _entry(name)
    return [entry / d for d in RECIPES[name].disks]


def phony_image(name: str) -> Path:
    """The (first) disk of the phony guest ``name``, built on first use; see :func:`phony_disks`."""
    return phony_disks(name)[0]


def build_info(name: str) -> dict[str, object]:
    """What the build recorded: seconds, libguestfs version, the root LUKS UUID where there is one."""
    return json.loads((_entry(name) / "build.json").read_text())


# --------------------------------------------------------------------------------------------------
# The expected inspection


@dataclass(frozen=True)
class ExpectedApp:
    name: str
    epoch: int
    version: str
    release: str
    arch: str | None


@dataclass(frozen=True)
class ExpectedFilesystem:
    type: str | None
    label: str | None
    uuid: str | None


@dataclass
class ExpectedInspection:
    """One ``<operatingsystem>`` of virt-inspector's XML, as plain fields."""

    source: str  # the XML file it came from
    root: str
    os_type: str  # <name>: linux | windows ...
    distro: str | None
    product_name: str | None
    major_version: int | None
    minor_version: int | None
    arch: str | None
    hostname: str | None
    package_format: str | None
    package_management: str | None
    osinfo: str | None
    mountpoints: dict[str, str] = field(default_factory=dict)  # mountpoint -> device
    filesystems: dict[str, ExpectedFilesystem] = field(default_factory=dict)  # device -> fs
    applications: list[ExpectedApp] = field(default_factory=list)


def _text(el: object, tag: str) -> str | None:
    child = el.find(tag)  # type: ignore[attr-defined]
    return child.text if child is not None and child.text is not None else None


def _int(el: object, tag: str) -> int | None:
    value = _text(el, tag)
    return int(value) if value is not None else None


def parse_expected(xml: bytes, source: str, substitutions: dict[str, str] | None = None) -> ExpectedInspection:
    """The first operating system in a virt-inspector XML document (defusedxml: it is external input)."""
    text = xml.decode()
    for placeholder, value in (substitutions or {}).items():
        text = text.replace(placeholder, value)
    root = DET.fromstring(text)
    os_el = root.find("operatingsystem")
    if os_el is None:
        raise ValueError(f"{source}: no <operatingsystem>")
    exp = ExpectedInspection(
        source=source, root=_text(os_el, "root") or "", os_type=_text(os_el, "name") or "",
        distro=_text(os_el, "distro"), product_name=_text(os_el, "product_name"),
        major_version=_int(os_el, "major_version"), minor_version=_int(os_el, "minor_version"),
        arch=_text(os_el, "arch"), hostname=_text(os_el, "hostname"),
        package_format=_text(os_el, "package_format"), package_management=_text(os_el, "package_management"),
        osinfo=_text(os_el, "osinfo"))
    for mp in os_el.iterfind("mountpoints/mountpoint"):
        exp.mountpoints[mp.text or ""] = mp.get("dev", "")
    for fs in os_el.iterfind("filesystems/filesystem"):
        exp.filesystems[fs.get("dev", "")] = ExpectedFilesystem(_text(fs, "type"), _text(fs, "label"),
                                                                _text(fs, "uuid"))
    for app in os_el.iterfind("applications/application"):
        exp.applications.append(ExpectedApp(
            name=_text(app, "name") or "", epoch=_int(app, "epoch") or 0, version=_text(app, "version") or "",
            release=_text(app, "release") or "", arch=_text(app, "arch")))
    return exp


def expected(name: str) -> ExpectedInspection:
    """What virt-inspector reports on the phony guest ``name``: upstream's expected XML where there is
    one, else the local virt-inspector's output recorded at build time."""
    require_shared()
    recipe = RECIPES[name]
    if recipe.expected_xml is None:
        return parse_expected((_entry(name) / "virt-inspector.xml").read_bytes(), f"virt-inspector on {name}")
    subs = {}
    if name == "fedora-luks-on-lvm":
        subs["ROOTUUID"] = str(build_info(name)["root_luks_uuid"])
    return parse_expected((INSPECTOR / recipe.expected_xml).read_bytes(), str(INSPECTOR / recipe.expected_xml),
                          subs)


def main() -> None:
    """``python -m tests.conformance.phony [NAME...]``: build (or find) the images and print their paths."""
    import sys

    for name in sys.argv[1:] or NAMES:
        t0 = time.monotonic()
        disks = phony_disks(name)
        print(f"{name}: {' '.join(map(str, disks))} ({time.monotonic() - t0:.1f}s)", flush=True)


if __name__ == "__main__":
    main()
