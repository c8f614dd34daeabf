"""PHP's ini files for one SAPI (mod_php's ``apache2``, ``fpm``, ``cli``) and the extensions they load.

A PHP page that calls ``mysqli_connect`` needs mysqli.so, which another package ships (php8.2-mysql);
the only evidence of that in the guest is an ``extension=mysqli.so`` line in an ini file the SAPI reads
(Debian: /etc/php/<version>/<sapi>/php.ini and conf.d/*.ini, links into mods-available). Each extension
becomes a LoadedModule with the shared object it names, located the way PHP does: ``extension_dir`` when
an ini file sets it, else the distribution's compiled-in directory found in the guest.
"""

from __future__ import annotations

import posixpath
import re

from migrate.analyzers._support import read_text
from migrate.analyzers.base import Analyzer, Context
from migrate.model.inventory import Findings, LoadedModule

# where distributions put the ini files of a SAPI ({v}: version such as 8.2, {vn}: 82)
INI_LAYOUTS = ("/etc/php/{v}/{sapi}", "/etc/php{vn}", "/etc/php{v}")
RHEL_INI = ("/etc/php.ini", "/etc/php.d")
# compiled-in extension_dir of Debian (API number), RHEL, Alpine
EXTENSION_DIRS = ("/usr/lib/php/2*", "/usr/lib64/php/modules", "/usr/lib/php/modules", "/usr/lib/php*/modules")
MAX_INI_FILES = 200


def _ini_sources(ctx: Context, sapi: str, version: str | None) -> list[str]:
    fs = ctx.rootfs
    versions = [version] if version else sorted({p.split("/")[3] for p in fs.glob(f"/etc/php/*/{sapi}")})
    files: list[str] = []
    for v in versions:
        for layout in INI_LAYOUTS:
            base = layout.format(v=v, vn=v.replace(".", ""), sapi=sapi)
            if fs.is_dir(base):
                files += [f"{base}/php.ini"] if fs.is_file(f"{base}/php.ini") else []
                files += [p for p in fs.glob(f"{base}/conf.d/*.ini") if fs.is_file(p)]
                break
    if not files:
        if fs.is_file(RHEL_INI[0]):
            files.append(RHEL_INI[0])
        files += [p for p in fs.glob(f"{RHEL_INI[1]}/*.ini") if fs.is_file(p)]
    return files[:MAX_INI_FILES]


def php_ini_files(ctx: Context, analyzer: Analyzer, f: Findings, *, sapi: str,
                  version: str | None = None) -> tuple[list[str], list[LoadedModule]]:
    """(the ini files the SAPI reads, the extensions they load). Ini files that are links (conf.d →
    mods-available) are listed with their target too, so the package that owns the target is found."""
    fs = ctx.rootfs
    used: list[str] = []
    found: list[tuple[str, str, int, bool]] = []  # (value, file, line, zend)
    ext_dir: str | None = None
    for path in _ini_sources(ctx, sapi, version):
        text = read_text(ctx, analyzer, path, f, max_bytes=1024 * 1024)
        if text is None:
            continue
        used.append(path)
        if fs.is_symlink(path):
            real = fs.resolve(path)
            if real != path:
                used.append(real)
        for lineno, line in enumerate(text.splitlines(), 1):
            m = re.match(r"^\s*(zend_extension|extension|extension_dir)\s*=\s*[\"']?([^\"';\s]+)", line)
            if not m:
                continue
            if m.group(1) == "extension_dir":
                ext_dir = m.group(2)
            else:
                found.append((m.group(2), path, lineno, m.group(1) == "zend_extension"))
    dirs = [ext_dir] if ext_dir else [d for pattern in EXTENSION_DIRS for d in fs.glob(pattern) if fs.is_dir(d)]
    modules: list[LoadedModule] = []
    for value, path, lineno, zend in found:
        name = posixpath.basename(value).removesuffix(".so")
        if value.startswith("/"):
            candidates = [value]
        else:
            so = value if value.endswith(".so") else f"{value}.so"
            candidates = [f"{d}/{so}" for d in dirs]
        where = next((c for c in candidates if fs.exists(c)), None)
        modules.append(LoadedModule(kind="php", name=name, path=where, evidence=analyzer.evidence(
            path, f"{'zend_extension' if zend else 'extension'}={value} (line {lineno})"
                  + ("" if where else " (shared object not found)"))))
    return used, modules
