"""Package closure from evidence: the packages a container installs are the ones that own the files
its service really uses, as the guest's own package database says (design.md §8).

No list of package names per server kind: the service's files are collected from the inventory and
the guest, each with why it is used —

- the ExecStart executable, found through systemd's PATH and the guest's symlinks (alternatives
  under /etc/alternatives and the /usr-merge aliases included), and its ``#!`` interpreter (an ELF
  interpreter is libc, which every base image has);
- the container's own command when the planner runs a daemon's foreground form instead of a
  wrapper unit's ExecStart (Debian's postgresql.service runs /bin/true);
- every path named on the command line that is a file (JARs, WARs, scripts, config files), and a
  Python module given by name (``gunicorn app:app --chdir /srv/app``);
- the unit file, the service's config files and the files its analyzers say it uses
  (``Service.uses_files``, ``Service.modules``);
- what application code loads: Python ``import``, Node ``require``, Perl ``use`` resolved where each
  runtime looks, and the shared libraries (ELF DT_NEEDED) of a program outside the packaged /usr tree;
- links and archives in the directories the unit's environment names (``CATALINA_BASE/lib/x.jar``
  pointing into a library package);
- files the configuration references, followed a few levels: absolute paths and include globs
  (``IncludeOptional mods-enabled/*.load``, ``include /etc/nginx/modules-enabled/*.conf``), paths
  relative to the config's directories (``load_module modules/x.so``), and the ``conf.d``-style
  directories that a used executable or shared object has compiled in (libphp's
  ``/etc/php/8.2/apache2/conf.d`` is how ``php8.2-mysql``'s ``mysqli.ini`` is found);

— and each is looked up in the package file lists (``migrate.pkgdb``). Each package comes back with
the files that made it needed; files no package owns are reported as copied, not installed. Every
read is bounded; the walk has a file budget.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import time
import weakref
from dataclasses import dataclass, field

from migrate.errors import GuestPathError, MigrateError
from migrate.model.inventory import Inventory, Service
from migrate.model.plan import Packages, PinnedPackage
from migrate.pkgdb import PackageDB, load_package_db
from migrate.rootfs import RootFS

SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # systemd's default for services
MAX_USED_FILES = 2000
MAX_CONFIG_READ = 1024 * 1024
MAX_BINARY_READ = 64 * 1024 * 1024
MAX_DEPTH = 4
MAX_REFS_PER_FILE = 400
MAX_GLOB_MATCHES = 200
MAX_ENV_DIR_ENTRIES = 5000
MAX_BINARY_TOTAL = 512 * 1024 * 1024  # bytes of executables/libraries scanned per service
MAX_SECONDS = 20.0  # per service: a hostile guest cannot make the walk run away

PATH_TOKEN = re.compile(r"""(?<![\w$%{])(/?[A-Za-z0-9_.+@-]+(?:/[A-Za-z0-9_.+@*?-]+)+/?|/[A-Za-z0-9_.+@*?-]+)""")
BINARY_ETC = re.compile(rb"/etc/[A-Za-z0-9_.+-]+(?:/[A-Za-z0-9_.+-]+)*")
PY_MODULE_ARG = re.compile(r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?::[\w.()]+)?")
NODE_REQUIRE = re.compile(r"""(?:require\(\s*|\bfrom\s+|^\s*import\s+)['"]([^'"\s]+)['"]""", re.M)
NODE_DIRS = ("/usr/share/nodejs", "/usr/lib/nodejs", "/usr/local/lib/node_modules", "/usr/lib/node_modules")
PERL_USE = re.compile(r"^\s*(?:use|require)\s+([A-Z][\w]*(?:::\w+)*)", re.M)
PERL_INC = ("/etc/perl", "/usr/local/lib/*/perl/5.*", "/usr/local/share/perl/5.*", "/usr/lib/*/perl5/5.*",
            "/usr/share/perl5", "/usr/lib/*/perl/5.*", "/usr/share/perl/5.*")
PY_IMPORT = re.compile(r"^\s*(?:from\s+([A-Za-z_]\w*)[\w.]*\s+import\b|import\s+([A-Za-z_]\w*))", re.M)
# variable data that no package ships and no image needs (FHS): logs, caches, runtime files
REGENERATED = ("/var/log/", "/var/cache/", "/var/tmp/", "/run/", "/tmp/", "/proc/", "/sys/", "/dev/")
EXECUTABLE_WHY = ("the ExecStart executable", "run by the container's command")
TEXT_SUFFIXES = (".conf", ".cnf", ".ini", ".load", ".xml", ".properties", ".yml", ".yaml", ".json", ".cfg")


@dataclass
class UsedFile:
    path: str  # guest path as the evidence spells it
    why: str  # "the ExecStart executable", "named by /etc/apache2/mods-enabled/php8.2.load" ...


@dataclass
class ClosurePackage:
    name: str
    version: str
    reasons: list[str] = field(default_factory=list)
    in_base: bool = False  # Essential/required: every base image of the distribution has it


@dataclass
class Closure:
    packages: dict[str, ClosurePackage] = field(default_factory=dict)
    unowned: list[UsedFile] = field(default_factory=list)
    used: list[UsedFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    complete: bool = True
    exe_owners: set[str] = field(default_factory=set)  # packages that ship the executable that runs


_DB_CACHE: weakref.WeakKeyDictionary[RootFS, PackageDB | None] = weakref.WeakKeyDictionary()


def package_db(rootfs: RootFS) -> PackageDB | None:
    """The guest's package index, built once per open guest (the planner asks per container) and
    dropped with the guest."""
    if rootfs in _DB_CACHE:
        return _DB_CACHE[rootfs]
    db = load_package_db(rootfs)
    _DB_CACHE[rootfs] = db
    return db


# --- finding the files a service uses ---------------------------------------------------------------


def elf_needed(data: bytes) -> tuple[list[str], list[str]]:
    """DT_NEEDED sonames and DT_RUNPATH/DT_RPATH directories of a 64- or 32-bit little-endian ELF
    file, every offset checked against the data (a hostile binary yields nothing, never an error)."""
    import struct

    if len(data) < 64 or data[:4] != b"\x7fELF" or data[5] != 1:
        return [], []
    is64 = data[4] == 2
    try:
        if is64:
            phoff, = struct.unpack_from("<Q", data, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        else:
            phoff, = struct.unpack_from("<I", data, 0x1C)
            phentsize, phnum = struct.unpack_from("<HH", data, 0x2A)
        loads, dynamic = [], None
        for i in range(min(phnum, 256)):
            off = phoff + i * phentsize
            if is64:
                p_type, _f, p_offset, p_vaddr, _pa, p_filesz = struct.unpack_from("<IIQQQQ", data, off)
            else:
                p_type, p_offset, p_vaddr, _pa, p_filesz = struct.unpack_from("<IIIII", data, off)
            if p_type == 1:
                loads.append((p_vaddr, p_offset, p_filesz))
            elif p_type == 2:
                dynamic = (p_offset, p_filesz)
        if dynamic is None:
            return [], []
        entries: list[tuple[int, int]] = []
        size = 16 if is64 else 8
        for off in range(dynamic[0], min(dynamic[0] + dynamic[1], len(data) - size + 1), size):
            tag, val = struct.unpack_from("<qQ" if is64 else "<iI", data, off)
            if tag == 0:
                break
            entries.append((tag, val))
        strtab = next((v for t, v in entries if t == 5), None)
        if strtab is None:
            return [], []
        base = next((o + strtab - v for v, o, n in loads if v <= strtab < v + n), None)
        if base is None:
            return [], []

        def string(at: int) -> str:
            start = base + at
            end = data.find(b"\0", start, start + 4096)
            return data[start:end].decode("utf-8", "replace") if 0 <= start < len(data) and end > 0 else ""

        needed = [string(v) for t, v in entries if t == 1][:256]
        runpath = [d for t, v in entries if t in (15, 29) for d in string(v).split(":") if d][:32]
        return [n for n in needed if n and "/" not in n], runpath
    except struct.error:
        return [], []


LIB_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib")
# FHS: what a package manager installs lives below /usr (and /etc, /var); an executable elsewhere
# (/opt, /usr/local, /srv, a home) is local software whose libraries nobody else will pull in
PACKAGED_PREFIXES = ("/usr/bin/", "/usr/sbin/", "/usr/lib", "/usr/libexec/", "/usr/share/", "/bin/", "/sbin/",
                     "/lib")


def _which(rootfs: RootFS, name: str, path_var: str) -> str | None:
    for d in path_var.split(":"):
        if d.startswith("/"):
            candidate = posixpath.join(d, name)
            if rootfs.is_file(candidate):
                return candidate
    return None


def _is_file(rootfs: RootFS, path: str) -> bool:
    try:
        return rootfs.is_file(path)
    except GuestPathError:
        return False


def _shebang(rootfs: RootFS, path: str, path_var: str) -> str | None:
    """The interpreter a ``#!`` script names (``env X`` resolved through PATH); None for ELF."""
    try:
        head = rootfs.open(path).pread(0, 256)
    except GuestPathError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
    if not words:
        return None
    if posixpath.basename(words[0]) == "env":
        args = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        return _which(rootfs, args[0], path_var) if args else None
    return words[0]


class _Collector:
    def __init__(self, rootfs: RootFS, path_var: str, db: PackageDB | None = None) -> None:
        self.rootfs = rootfs
        self.path_var = path_var
        self.used: dict[str, UsedFile] = {}
        self.queue: list[tuple[str, int]] = []
        self.over_budget = False
        self.virtualenv: str | None = None
        self.binary_bytes = 0
        self.db = db
        self.globbed: set[str] = set()
        self.deadline = time.monotonic() + MAX_SECONDS

    def packaged(self, path: str) -> bool:
        """Whether a package ships ``path`` (the guest's file lists; without them, the FHS rule that
        package managers install below /usr)."""
        if self.db is None:
            return path.startswith(PACKAGED_PREFIXES)
        try:
            real = self.rootfs.resolve(path)
        except GuestPathError:
            real = path
        return bool(self.db.owners(path) or self.db.owners(real))

    def _first_line(self, path: str) -> bytes:
        try:
            return self.rootfs.open(path).pread(0, 256).split(b"\n", 1)[0]
        except GuestPathError:
            return b""

    def add(self, path: str, why: str, depth: int = 0) -> None:
        path = posixpath.normpath(path)
        if path in self.used or not path.startswith("/"):
            return
        if len(self.used) >= MAX_USED_FILES or time.monotonic() > self.deadline:
            self.over_budget = True
            return
        if not _is_file(self.rootfs, path):
            return
        self.used[path] = UsedFile(path, why)
        self.queue.append((path, depth))

    def add_glob(self, pattern: str, why: str, depth: int) -> None:
        if pattern in self.globbed:  # conf.d files that include their own directory: expanded once
            return
        self.globbed.add(pattern)
        matches = self.rootfs.glob(pattern)
        if len(matches) > MAX_GLOB_MATCHES:
            self.over_budget = True
        for match in matches[:MAX_GLOB_MATCHES]:
            self.add(match, why, depth)

    def executable(self, argv0: str, why: str) -> None:
        argv0 = argv0.lstrip("-@+!:")
        path = argv0 if argv0.startswith("/") else _which(self.rootfs, argv0, self.path_var)
        if not path:
            return
        self.add(path, why)
        interp = _shebang(self.rootfs, path, self.path_var)
        if interp:
            self.add(interp, f"the interpreter of {path} (#! line)")

    # -- following references ----------------------------------------------------------------------
    def _dirs_of(self, path: str) -> list[str]:
        """Directories a relative reference in ``path`` may be relative to: the file's directory and
        its parents (as written and with symlinks resolved), up to below the top level."""
        out: list[str] = []
        starts = [posixpath.dirname(path)]
        with contextlib.suppress(GuestPathError):
            starts.append(posixpath.dirname(self.rootfs.resolve(path)))
        for d in starts:
            while d.count("/") >= 2 and d not in out:
                out.append(d)
                d = posixpath.dirname(d)
        return out

    def follow_text(self, path: str, depth: int) -> None:
        try:
            text = self.rootfs.read_text(path, max_bytes=MAX_CONFIG_READ)
        except GuestPathError:
            return
        if "\0" in text[:4096]:
            return
        refs = 0
        for line in text.splitlines():
            stripped = line.strip()
            if not stripped or stripped[0] in "#;" or stripped.startswith("//"):
                continue
            for token in PATH_TOKEN.findall(stripped):
                refs += 1
                if refs > MAX_REFS_PER_FILE:
                    return
                self._reference(path, token.rstrip("/"), depth)

    def _reference(self, source: str, token: str, depth: int) -> None:
        why = f"named by {source}"
        candidates = [token] if token.startswith("/") else [posixpath.join(d, token) for d in self._dirs_of(source)]
        for cand in candidates:
            if any(ch in posixpath.dirname(cand) for ch in "*?["):
                continue  # only the last component may be a pattern (conf.d/*.conf): no walk of the guest
            if any(ch in cand for ch in "*?"):
                if self.rootfs.is_dir(posixpath.dirname(cand)):
                    self.add_glob(cand, why, depth + 1)
                    return
            elif self.rootfs.exists(cand):
                if self.rootfs.is_dir(cand):
                    if cand.endswith(".d") or posixpath.basename(cand).endswith(("-enabled", ".d")):
                        self.add_glob(cand + "/*", why, depth + 1)
                else:
                    self.add(cand, why, depth + 1)
                return

    def follow_needed(self, path: str, depth: int) -> None:
        """The shared libraries a local (unpackaged) program links against, found where the dynamic
        loader looks (its RUNPATH, $ORIGIN included, then the system library directories)."""
        try:
            f = self.rootfs.open(path)
        except GuestPathError:
            return
        if f.stat.size > MAX_BINARY_READ or self.binary_bytes + f.stat.size > MAX_BINARY_TOTAL:
            return
        self.binary_bytes += f.stat.size
        needed, runpath = elf_needed(f.pread(0, f.stat.size))
        dirs = [d.replace("$ORIGIN", posixpath.dirname(path)).replace("${ORIGIN}", posixpath.dirname(path))
                for d in runpath] + list(LIB_DIRS)
        for soname in needed:
            hit = next((c for c in (posixpath.join(d, soname) for d in dirs if d.startswith("/"))
                        if _is_file(self.rootfs, c)), None)
            if hit:
                self.add(hit, f"the library {soname} that {path} links against", depth + 1)

    def follow_binary(self, path: str, depth: int) -> None:
        """Configuration directories a program or library has compiled in (``/etc/x/conf.d``)."""
        try:
            f = self.rootfs.open(path)
        except GuestPathError:
            return
        if f.stat.size > MAX_BINARY_READ or self.binary_bytes + f.stat.size > MAX_BINARY_TOTAL:
            return
        self.binary_bytes += f.stat.size
        data = f.pread(0, f.stat.size)
        for raw in sorted(set(BINARY_ETC.findall(data)))[:MAX_REFS_PER_FILE]:
            cand = raw.decode("ascii").rstrip("/.")
            if cand.endswith(".d") and self.rootfs.is_dir(cand):
                self.add_glob(cand + "/*", f"in {cand}, the configuration directory compiled into {path}", depth + 1)

    def python_dirs(self, script: str) -> list[str]:
        """Where ``import x`` finds x for a script: its own directory, a virtualenv's site-packages,
        then the system's (stdlib, dist-packages, /usr/local) — as Python's sys.path has them."""
        dirs = [posixpath.dirname(script)]
        if self.virtualenv:
            dirs += self.rootfs.glob(posixpath.join(self.virtualenv, "lib/python3*/site-packages"))
        for pattern in ("/usr/local/lib/python3*/dist-packages", "/usr/lib/python3/dist-packages",
                        "/usr/lib/python3.*"):
            dirs += [d for d in self.rootfs.glob(pattern) if self.rootfs.is_dir(d)]
        return dirs

    def follow_python(self, path: str, depth: int) -> None:
        """The modules a Python file imports, found where Python would find them: a module in
        dist-packages is a package's file (python3-psycopg2 for ``import psycopg2``)."""
        try:
            text = self.rootfs.read_text(path, max_bytes=MAX_CONFIG_READ)
        except GuestPathError:
            return
        names = sorted({a or b for a, b in PY_IMPORT.findall(text)})[:MAX_REFS_PER_FILE]
        dirs = self.python_dirs(path)
        for name in names:
            for d in dirs:
                base = posixpath.join(d, name)
                hits = [posixpath.join(base, "__init__.py")] if self.rootfs.is_dir(base) else []
                hits += [base + ".py"] + self.rootfs.glob(base + ".*.so")[:4] + self.rootfs.glob(base + ".so")
                found = [h for h in hits if _is_file(self.rootfs, h)]
                for h in found:
                    self.add(h, f"module {name}, imported by {path}", depth + 1)
                if found:
                    break

    def follow_requires(self, path: str, depth: int, lang: str) -> None:
        """Node ``require('x')``/``import ... from 'x'`` and Perl ``use X::Y``: the module found where
        the runtime looks (the script's node_modules, then Debian's /usr/share/nodejs ...; Perl's @INC
        directories) is a package's file; built-in modules are found nowhere and ignored."""
        try:
            text = self.rootfs.read_text(path, max_bytes=MAX_CONFIG_READ)
        except GuestPathError:
            return
        if lang == "node":
            names = sorted({n.split("/")[0] if not n.startswith("@") else "/".join(n.split("/")[:2])
                            for n in NODE_REQUIRE.findall(text) if not n.startswith((".", "/", "node:"))})
            d = posixpath.dirname(path)
            dirs = []
            while d.count("/") >= 1 and len(dirs) < 8:
                dirs.append(posixpath.join(d, "node_modules"))
                d = posixpath.dirname(d) if d != "/" else ""
                if not d:
                    break
            dirs += list(NODE_DIRS)
            for name in names[:MAX_REFS_PER_FILE]:
                for base in (posixpath.join(x, name) for x in dirs):
                    hit = next((h for h in (posixpath.join(base, "package.json"), base + ".js")
                                if _is_file(self.rootfs, h)), None)
                    if hit:
                        self.add(hit, f"module {name}, required by {path}", depth + 1)
                        break
        else:
            inc = [d for pattern in PERL_INC for d in self.rootfs.glob(pattern)] + [posixpath.dirname(path)]
            for name in sorted(set(PERL_USE.findall(text)))[:MAX_REFS_PER_FILE]:
                rel = name.replace("::", "/") + ".pm"
                hit = next((h for h in (posixpath.join(d, rel) for d in inc) if _is_file(self.rootfs, h)), None)
                if hit:
                    self.add(hit, f"module {name}, used by {path}", depth + 1)

    def environment_dir(self, top: str, why: str) -> None:
        """A directory the unit's environment or WorkingDirectory names (CATALINA_BASE=/var/lib/tomcat10):
        the links in it to packaged files (lib/postgresql.jar -> /usr/share/java/postgresql.jar) and
        the archives (JAR, WAR) the service loads from it. Shallow and bounded: content is copied
        or moved as data by other steps; here only what brings a package counts."""
        if top in ("/", "/tmp", "/var/tmp", "/run", "/dev", "/proc", "/sys") or not self.rootfs.is_dir(top):
            return
        seen = 0
        base_depth = top.rstrip("/").count("/")
        try:
            for path, st in self.rootfs.walk(top, max_entries=MAX_ENV_DIR_ENTRIES):
                seen += 1
                if path.count("/") - base_depth > 3:
                    continue
                if st.kind == "symlink":
                    try:
                        target = self.rootfs.resolve(path)
                    except GuestPathError:
                        continue
                    self.add(path, f"a link in {top}, {why}")
                    self.add(target, f"linked from {path} in {top}, {why}")
                elif st.kind == "file" and path.endswith((".jar", ".war", ".ear")):
                    self.add(path, f"an archive in {top}, {why}")
        except GuestPathError:
            self.over_budget = True

    def python_modules(self, argv: list[str], dirs: list[str], where: str) -> None:
        """A Python program given a module on its command line (``gunicorn app:app``, ``python3 -m
        app``, ``uwsgi --module app``): the module's file, found in the command's directories, is
        the application, and its imports are followed like a script's."""
        interp = _shebang(self.rootfs, self.used[argv[0]].path, self.path_var) if argv[0] in self.used else None
        if "python" not in posixpath.basename(argv[0]) and "python" not in posixpath.basename(interp or ""):
            return
        for arg in argv[1:]:
            m = PY_MODULE_ARG.fullmatch(arg.partition("=")[2] if arg.startswith("--") and "=" in arg else arg)
            if not m or arg.startswith("-"):
                continue
            rel = m.group(1).replace(".", "/")
            for d in dirs:
                for cand in (posixpath.join(d, rel + ".py"), posixpath.join(d, rel, "__init__.py")):
                    if _is_file(self.rootfs, cand):
                        self.add(cand, f"the Python module {m.group(1)} on the {where} command line")

    def walk(self) -> None:
        while self.queue and time.monotonic() <= self.deadline:
            path, depth = self.queue.pop(0)
            if depth >= MAX_DEPTH:
                continue
            try:
                head = self.rootfs.open(path).pread(0, 4)
            except GuestPathError:
                continue
            # what a packaged file loads is its package's dependencies (the resolver's job): the code
            # and the programs of the application itself are followed
            local = not self.packaged(path)
            if path.endswith(".py") or (head[:2] == b"#!" and b"python" in self._first_line(path)):
                if local:
                    self.follow_python(path, depth)
            elif path.endswith((".js", ".mjs", ".cjs")) or (head[:2] == b"#!" and b"node" in self._first_line(path)):
                if local:
                    self.follow_requires(path, depth, "node")
            elif path.endswith((".pl", ".pm")) or (head[:2] == b"#!" and b"perl" in self._first_line(path)):
                if local:
                    self.follow_requires(path, depth, "perl")
            elif head == b"\x7fELF":
                if local:
                    self.follow_needed(path, depth)
                if path.endswith(".so") or ".so." in path or depth == 0 or "/sbin/" in path or "/bin/" in path:
                    self.follow_binary(path, depth)
            elif path.endswith(TEXT_SUFFIXES) or path.startswith("/etc/"):
                self.follow_text(path, depth)
        if self.queue:
            self.over_budget = True  # stopped by the deadline


def used_files(inv: Inventory, s: Service, rootfs: RootFS, command: list[str] | None = None,
               db: PackageDB | None = None) -> tuple[list[UsedFile], bool]:
    """The files service ``s`` uses, each with why; False when the file budget cut the walk short.
    ``command``: the container's own command when the planner runs something else than ExecStart
    (the foreground form of a daemon behind a wrapper unit)."""
    path_var = s.environment.get("PATH") or SYSTEMD_PATH
    col = _Collector(rootfs, path_var, db)
    col.virtualenv = s.virtualenv
    argvs = []
    if s.exec_start or s.executable:
        argvs.append(([s.executable or s.exec_start[0], *s.exec_start[1:]], "ExecStart"))
    if command:
        argvs.append((command, "the container's command"))
    for argv, where in argvs:
        col.executable(argv[0], EXECUTABLE_WHY[0] if where == "ExecStart" else EXECUTABLE_WHY[1])
        dirs = [d for d in (s.working_directory,) if d and d.startswith("/")]
        for arg in argv[1:]:
            for part in (arg, arg.partition("=")[2]):
                if part.startswith("/") and "*" not in part:
                    col.add(part, f"named on the {where} command line")
                    if rootfs.is_dir(part):
                        dirs.append(part)  # --chdir /srv/app, -w DIR: where relative module names live
        col.python_modules(argv, dirs, where)
    for key, value in sorted(s.environment.items()):
        if value.startswith("/") and ":" not in value and " " not in value:
            col.environment_dir(posixpath.normpath(value), f"which the unit's environment names ({key})")
    if s.working_directory and s.working_directory.startswith("/"):
        col.environment_dir(posixpath.normpath(s.working_directory), "the unit's WorkingDirectory")
    if s.interpreter and not s.interpreter.startswith("/"):
        col.executable(s.interpreter, f"the {s.interpreter} interpreter of the application")
    elif s.interpreter:
        col.executable(s.interpreter, "the application's interpreter")
    if s.script:
        col.add(s.script, "the application's script")
    if s.unit_path:
        col.add(s.unit_path, "the unit file")
    for c in inv.configs:
        if c.service == s.name:
            col.add(c.path, f"configuration of {s.name} ({c.kind or 'config'})")
    for m in s.modules:
        if m.path:
            col.add(m.path, f"the {m.kind} module {m.name} its configuration loads ({m.evidence.path})")
    for path in s.uses_files:
        col.add(path, "used by its enabled configuration (analyzer)")
    col.walk()
    return sorted(col.used.values(), key=lambda u: u.path), not col.over_budget


# --- ownership ---------------------------------------------------------------------------------------


def owners_with_links(db: PackageDB, rootfs: RootFS, path: str) -> tuple[list[tuple[str, str]], str]:
    """(package, what it ships) for ``path`` and every symlink on the way to the real file, and the
    real file's path. ``/usr/bin/java`` -> ``/etc/alternatives/java`` -> the JRE's binary: the
    JRE's package owns the file; the links belong to no package (update-alternatives made them)."""
    found: list[tuple[str, str]] = []
    current = path
    for _ in range(40):
        try:
            parent = rootfs.resolve(posixpath.dirname(current))
        except GuestPathError:
            parent = posixpath.dirname(current)
        spelled = {current, posixpath.join(parent, posixpath.basename(current))}
        st = rootfs.lstat(current)
        is_link = st is not None and st.kind == "symlink"
        for p in sorted(spelled):
            for pkg in db.owners(p):
                what = f"ships the link {p}" if is_link else f"owns {p}"
                if (pkg, what) not in found:
                    found.append((pkg, what))
        if not is_link:
            return found, current
        try:
            target = rootfs.readlink(current)
        except GuestPathError:
            return found, current
        current = posixpath.normpath(target if target.startswith("/") else posixpath.join(parent, target))
    return found, current


def closure_of(inv: Inventory, s: Service, rootfs: RootFS, db: PackageDB,
               command: list[str] | None = None) -> Closure:
    used, within_budget = used_files(inv, s, rootfs, command, db)
    out = Closure(used=used, complete=db.complete and within_budget, notes=list(db.notes))
    if not within_budget:
        out.notes.append(f"more than {MAX_USED_FILES} used files: the walk stopped there")
    installed = {p.name: p for p in inv.packages if p.state in ("installed", "")}
    for u in used:
        owners, real = owners_with_links(db, rootfs, u.path)
        owned_real = any(what.startswith("owns") for _, what in owners)
        for pkg, what in owners:
            if u.why in EXECUTABLE_WHY:
                out.exe_owners.add(pkg)
            meta = db.meta.get(pkg)
            version = installed[pkg].version if pkg in installed else (meta.version if meta else "")
            if not version:
                continue  # listed by a package the guest no longer has installed
            entry = out.packages.setdefault(pkg, ClosurePackage(pkg, version, in_base=bool(meta and meta.essential)))
            reason = f"{what}, {u.why}" if real == u.path or what.startswith("ships the link") \
                else f"{what} ({u.path} resolves to it), {u.why}"
            if reason not in entry.reasons:
                entry.reasons.append(reason)
        if not owned_real and not real.startswith(REGENERATED):
            out.unowned.append(UsedFile(real, u.why))
    return out


def _pin(manager: str, name: str, version: str) -> str:
    return f"{name}-{version}" if manager == "dnf" else f"{name}={version}"


def package_closure(inv: Inventory, s: Service, rootfs: object, manager: str, extra: list[str] | None = None,
                    command: list[str] | None = None) -> tuple[Packages, set[str]] | None:
    """The planner's packages decision for ``s`` from the closure, and the packages that ship the
    executable that runs (empty: nothing installs it, the planner's blocker); None when the guest's
    package database cannot answer (no guest to read, no database): the caller keeps its fallback.
    ``extra``: packages a healthcheck needs, added when the VM had them. ``command``: the container's
    command when it differs from ExecStart (a daemon's foreground form)."""
    if not isinstance(rootfs, RootFS):
        return None
    db = package_db(rootfs)
    if db is None or not db.meta and not db.owners_by_path:
        return None
    try:
        c = closure_of(inv, s, rootfs, db, command)
    except MigrateError:  # the guest could not be read as far as needed: the caller's fallback decides
        return None
    installed = {p.name: p for p in inv.packages if p.state in ("installed", "")}
    items: list[PinnedPackage] = []
    lines: list[str] = []
    for name in sorted(c.packages):
        p = c.packages[name]
        why = "; ".join(p.reasons[:4]) + (f"; and {len(p.reasons) - 4} more files" if len(p.reasons) > 4 else "")
        if p.in_base:
            lines.append(f"{name}: not installed, every {db.manager} base image has it (Essential/required); {why}")
            continue
        items.append(PinnedPackage(name=name, version=p.version, spec=_pin(manager, name, p.version), reason=why))
    for name in extra or []:
        if name in installed and name not in c.packages:
            v = installed[name].version
            items.append(PinnedPackage(name=name, version=v, spec=_pin(manager, name, v),
                                       reason="used by the healthcheck"))
    items.sort(key=lambda i: i.name)
    head = (f"the packages that own the files {s.name} uses, from the guest's {db.manager} file lists "
            f"({db.source}), pinned to the versions installed in the VM (they must still be in the "
            "repositories: point the build at a snapshot mirror if not); their dependencies come from the "
            "distribution's resolver at build time")
    if c.unowned:
        shown = ", ".join(sorted({u.path for u in c.unowned})[:12])
        more = len({u.path for u in c.unowned}) - 12
        lines.append(f"owned by no package (copied from the VM where the plan copies them, not installed): {shown}"
                     + (f" and {more} more" if more > 0 else ""))
    if not c.complete:
        lines.append("the answer may be incomplete: " + "; ".join(c.notes or ["a read budget was reached"]))
    if not items and (s.exec_start or s.executable):
        lines.append(f"no package owns {s.executable or s.exec_start[0]} or its files: add the ones it needs")
    return Packages(items=items, reason=head + (". " + ". ".join(lines) if lines else "")), set(c.exe_owners)
