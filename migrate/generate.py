"""Plan (+ optional guest reader) -> a stack directory: build contexts, compose files, README.

The whole tree is produced in a temporary directory beside OUTDIR and swapped in at the end, so a
re-run never leaves stale files and a failure never leaves a half-written tree. Secret values are
never written: config lines that hold them are replaced by placeholders, and every output file is
scanned for the values seen while redacting before anything is swapped in.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from migrate.analyzers.base import SecretVault
from migrate.errors import FilesToProvide, InvalidDocument, MigrateError, OutputError, OutputEscape, UsageError
from migrate.fsutil import ConfinedDir, atomic_write_text, check_relpath, guest_relpath, safe_mode
from migrate.image.keys import KeyStore
from migrate.model.inventory import Inventory
from migrate.model.plan import Container, FileCopy, Plan
from migrate.plan import GuestReader
from migrate.planning.out_of_scope import stack_refusal
from migrate.render import (
    ENTRYPOINT,
    SECRET_TEMPLATE_DIR,
    FileFill,
    placeholder,
    render_compose,
    render_compose_debug,
    render_compose_override,
    render_dockerfile,
    render_entrypoint,
    render_template,
    secret_template_file,
)

MARKER = ".migrate-stack"
MAX_FILE = 64 * 1024 * 1024
MAX_TREE_FILES = 20_000
# folders below a copied tree's top: deeper ones are reported, not copied (a guest folder 1100 deep
# took 3.5 minutes to walk, then ended convert in RecursionError with the temporary stack left behind)
MAX_TREE_DEPTH = 64
MIN_SECRET_LEN = 6  # shorter values (a password "shop" that is also the database name) are redacted by key only
MAX_STACK_BYTES = 4 * 1024 * 1024 * 1024  # build contexts are not the place for more: volumes are


def _q(path: str) -> str:
    """A path for a RUN line of the Dockerfile: guest file names may hold spaces, quotes or `$(...)`."""
    return shlex.quote(path)


@dataclass
class GenerateResult:
    outdir: Path
    files: list[str] = field(default_factory=list)  # relative paths written, sorted
    missing: list[tuple[str, str, str]] = field(default_factory=list)  # (container, guest path, why)
    redacted: int = 0  # secret occurrences replaced by placeholders


class _Leak(Exception):
    pass


def redact_line_value(line_value: str, secret: str) -> tuple[str, str | None]:
    """The value with its secret part replaced by the placeholder, and the secret part itself.

    A URL with a password (``scheme://user:pw@host``) keeps everything but the password, because the
    Docker secret holds the password only; anything else is replaced whole (quotes kept)."""
    quote = ""
    value = line_value
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        quote, value = value[0], value[1:-1]
    try:
        parts = urlsplit(value)
        pw = parts.password if parts.scheme and "@" in parts.netloc else None
    except ValueError:
        pw = None
    if pw:
        userinfo, _, hostpart = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        new = value.replace(f"{user}:{pw}@{hostpart}", f"{user}:{placeholder(secret)}@{hostpart}", 1)
        return f"{quote}{new}{quote}", pw
    if not value or value.startswith("@@MIGRATE_SECRET_"):
        return line_value, None
    return f"{quote}{placeholder(secret)}{quote}", value


def redact(text: str, key: str, secret: str) -> tuple[str, list[str]]:
    """Replace the value of ``key`` (``key value``, ``key = value``, ``key: value``, ``export KEY=``)."""
    found: list[str] = []
    pattern = re.compile(rf"^(\s*(?:export\s+)?{re.escape(key)}(?:\s*[=:]\s*|\s+))(\S.*?)(\s*)$", re.M)

    def sub(m: re.Match[str]) -> str:
        new, value = redact_line_value(m.group(2), secret)
        if value:
            found.append(value)
        return m.group(1) + new + m.group(3)

    return pattern.sub(sub, text), found


def apply_edits(text: str, f: FileCopy) -> str:
    for e in f.edits:
        if e.pattern is not None:
            text = re.sub(e.pattern, e.replacement or "", text, flags=re.M)
        if e.append:
            if text and not text.endswith("\n"):
                text += "\n"
            text += f"# added by migrate: {e.reason}\n{e.append}\n"
    return text


class StackWriter:
    """Writes one stack below ``root`` and nowhere else: every path goes through ConfinedDir (no
    ``..``, no link followed, O_EXCL, no setuid/setgid/world-writable bits on the host), and every
    guest-derived part of a path is normalised from the guest's view first (migrate.fsutil)."""

    def __init__(self, plan: Plan, reader: GuestReader | None, root: Path,
                 known_secrets: dict[str, str | None] | None = None) -> None:
        """``known_secrets``: every secret value found in the guest -> its stack secret's name (None
        when no stack secret carries it): any file about to be written that holds one becomes a
        template rendered at start from /run/secrets, and no generated file may contain one."""
        self.plan = plan
        self.reader = reader
        self.root = root
        self.out = ConfinedDir(root)
        self.secret_values: set[str] = set()
        # a weak password that is also an identifier of the plan ("postgres" as password and user) cannot
        # be told apart from the name by value: it is left to the redaction by key
        plan_text = plan.to_yaml() if known_secrets else ""
        self.known = {v: n for v, n in (known_secrets or {}).items()
                      if len(v) >= MIN_SECRET_LEN and v not in plan_text}
        self.secret_values.update(self.known)
        self.templates: dict[str, list[str]] = {}  # container -> guest paths rendered from secret templates
        self.result = GenerateResult(outdir=root)
        self.bytes_written = 0

    def close(self) -> None:
        self.out.close()

    def write(self, rel: str, data: str | bytes, mode: int = 0o644) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self.bytes_written += len(raw)
        if self.bytes_written > MAX_STACK_BYTES:
            raise OutputError(f"the stack would hold more than {MAX_STACK_BYTES} bytes of files: copy the large "
                              "trees another way (a volume, `migrate data export`)", path=str(self.root))
        self.out.write_bytes(rel, raw, mode)

    def _context(self, c: Container) -> str:
        """The container's build-context directory: exactly one plain name below the stack root."""
        parts = check_relpath(c.name)
        if len(parts) != 1:
            raise OutputEscape("a container name must be one plain directory name", path=c.name)
        return parts[0]

    def _guest_rel(self, c: Container, guest: str) -> str:
        return f"{self._context(c)}/rootfs/{guest_relpath(guest)}"

    def redact_known(self, data: bytes) -> tuple[bytes, list[str], bool]:
        """``data`` with every known secret value that has a stack secret replaced by its
        placeholder (longest first, so a password inside a longer value is not split), the secrets
        used, and whether a value no stack secret carries is still in it."""
        used: list[str] = []
        for value in sorted(self.known, key=len, reverse=True):
            raw = value.encode("utf-8", "surrogateescape")
            name = self.known[value]
            if name and raw in data:
                data = data.replace(raw, placeholder(name).encode())
                used.append(name)
        unplaced = any(v.encode("utf-8", "surrogateescape") in data for v in self.known)
        return data, used, unplaced

    def write_template(self, c: Container, dest: str, data: bytes, mode: int, gid: int, names: list[str],
                       prepare: list[str], fills: list[FileFill]) -> None:
        """A file that holds secrets: its template (placeholders only) goes to OUTDIR/secret-templates,
        outside every build context, and compose mounts it as a config; the image only gets an empty
        file that the entrypoint (the service user) fills in at start-up from /run/secrets."""
        template = f"{SECRET_TEMPLATE_DIR}{dest}"
        self.write(secret_template_file(self._context(c), dest), data)
        self.templates.setdefault(c.name, []).append(dest)
        prepare.append(f"mkdir -p {_q('/rootfs' + os.path.dirname(dest))}")
        prepare.append(f"install -m {mode | 0o600:04o} -o {c.user.uid} -g {gid} /dev/null {_q('/rootfs' + dest)}")
        fills.append(FileFill(dest=dest, template=template,
                              fills=[{"placeholder": placeholder(n), "secret": n} for n in dict.fromkeys(names)]))

    def copy_config(self, c: Container, f: FileCopy, prepare: list[str], fills: list[FileFill]) -> None:
        assert self.reader is not None
        try:
            data = self.reader.read_bytes(f.source, max_bytes=MAX_FILE)
        except MigrateError as exc:
            self.result.missing.append((c.name, f.source, exc.message))
            return
        if f.edits or f.secret_fills:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                if f.secret_fills:
                    self.result.missing.append((c.name, f.source, "holds secrets but is not UTF-8 text"))
                    return
                text = None
            if text is not None:
                for fill in f.secret_fills:
                    text, values = redact(text, fill.key, fill.secret)
                    self.secret_values.update(v for v in values if len(v) >= 4)
                    self.result.redacted += len(values)
                text = apply_edits(text, f)
                data = text.encode()
        dest = "/" + guest_relpath(f.dest)
        uid = f.uid if f.uid is not None else 0
        gid = f.gid if f.gid is not None else 0
        mode = f.mode if f.mode is not None else 0o644
        data, by_value, unplaced = self.redact_known(data)
        if unplaced:
            self.result.missing.append((c.name, f.source, "holds a secret value that no stack secret carries: "
                                                          "not copied, provide it"))
            return
        if f.secret_fills or by_value:
            self.write_template(c, dest, data, mode, gid, [x.secret for x in f.secret_fills] + by_value,
                                prepare, fills)
        else:
            self.write(self._guest_rel(c, dest), data, mode=mode)
            prepare.append(f"chown {uid}:{gid} {_q('/rootfs' + dest)} && chmod {mode:04o} {_q('/rootfs' + dest)}")

    def copy_tree(self, c: Container, f: FileCopy, prepare: list[str], fills: list[FileFill]) -> None:
        assert self.reader is not None
        from migrate.planning.files import SYSTEM_DIRS

        source = "/" + guest_relpath(f.source)
        if source in SYSTEM_DIRS:
            # a guest path like WorkingDirectory=/opt/../etc must not ship /etc (its shadow file, keys)
            # into a build context and an image layer, whatever the plan says
            self.result.missing.append((c.name, f.source, f"{source} is a system directory: not copied whole "
                                                          "(it holds the guest's credentials)"))
            return
        if not self.reader.is_dir(f.source):
            self.result.missing.append((c.name, f.source, "not a directory in the guest"))
            return
        count = 0
        templated: list[tuple[str, bytes, int, int | None, list[str]]] = []
        excluded = set(f.exclude)
        top = "/" + guest_relpath(f.dest)
        special: list[str] = []
        for path, st in sorted(self.reader.walk(f.source, max_entries=MAX_TREE_FILES * 2, max_depth=MAX_TREE_DEPTH),
                               key=lambda x: x[0]):
            if path in excluded or any(path.startswith(e + "/") for e in excluded):
                continue
            rel_in_tree = path[len(f.source.rstrip("/")):]
            dest = top.rstrip("/") + "/" + guest_relpath(rel_in_tree)
            kind = getattr(st, "kind", "file")
            if kind == "dir":
                self.out.mkdir(self._guest_rel(c, dest))
                if rel_in_tree.count("/") >= MAX_TREE_DEPTH and next(iter(self.reader.walk(path, max_entries=1)), None):
                    self.result.missing.append((c.name, path, f"more than {MAX_TREE_DEPTH} folders deep: "
                                                              "what is below is not copied"))
                continue
            if kind != "file":
                continue
            count += 1
            if count > MAX_TREE_FILES:
                raise OutputError(f"more than {MAX_TREE_FILES} files under {f.source}: copy it another way",
                                  path=f.source)
            try:
                data = self.reader.read_bytes(path, max_bytes=MAX_FILE)
            except MigrateError as exc:  # one unreadable or oversized file is reported, the tree still copies
                self.result.missing.append((c.name, path, exc.message))
                continue
            mode = getattr(st, "mode", 0o644) & 0o7777
            data, by_value, unplaced = self.redact_known(data)
            if unplaced:
                self.result.missing.append((c.name, path, "holds a secret value that no stack secret carries: "
                                                          "not copied, provide it"))
                continue
            if by_value:  # an application file with a password in it (a PHP config in the web root)
                templated.append((dest, data, mode & 0o777, getattr(st, "gid", None), by_value))
                continue
            self.write(self._guest_rel(c, dest), data, mode=mode)
            if mode != safe_mode(mode):  # the image keeps the guest's mode; the host file never has it
                special.append(f"chmod {mode:04o} {_q('/rootfs' + dest)}")
        uid = f.uid if f.uid is not None else 0
        gid = f.gid if f.gid is not None else 0
        prepare.append(f"chown -R {uid}:{gid} {_q('/rootfs' + top)}")
        prepare.extend(special)
        for dest, data, mode, file_gid, names in templated:  # after the chown: the service user fills them in
            self.write_template(c, dest, data, mode, gid if file_gid is None else file_gid, names, prepare, fills)

    def container(self, c: Container) -> None:
        prepare: list[str] = []
        fills: list[FileFill] = []
        ctx = self.root / self._context(c)
        self.out.mkdir(f"{self._context(c)}/rootfs")
        if self.reader is not None:
            for f in c.files:
                if f.kind == "tree":
                    self.copy_tree(c, f, prepare, fills)
                else:
                    self.copy_config(c, f, prepare, fills)
        else:
            for f in c.files:
                self.result.missing.append((c.name, f.source, "no guest to read it from"))
        entry = render_entrypoint(c, fills)
        if entry is not None:
            self.write(self._guest_rel(c, ENTRYPOINT), entry, mode=0o755)
            prepare.append(f"chown 0:0 {_q('/rootfs' + ENTRYPOINT)} && chmod 0755 {_q('/rootfs' + ENTRYPOINT)}")
        if not any((ctx / "rootfs").iterdir()):
            self.write(f"{c.name}/rootfs/.keep", "")
        self.write(f"{c.name}/Dockerfile", render_dockerfile(self.plan, c, prepare, entrypoint=entry is not None))
        self.write(f"{c.name}/.dockerignore", render_template("dockerignore.j2", c=c))

    def stack(self) -> None:
        for c in self.plan.containers:
            self.container(c)
        self.write("compose.yaml", render_compose(self.plan, self.templates))
        self.write("compose.override.yaml", render_compose_override(self.plan))
        self.write("compose.debug.yaml", render_compose_debug(self.plan))
        for s in self.plan.secrets:
            self.write(f"{s.file}.example", f"# {s.name}: {s.reason}\n# Replace this file's content with the value "
                                            f"and save it as {s.file} (no comment lines).\n", mode=0o600)
        self.write(".gitignore", "# secret values never go into version control\nsecrets/*.txt\n")
        self.write("plan.yaml", self.plan.to_yaml())
        to_provide = [(c, item) for c in self.plan.containers for item in c.to_provide]
        to_provide += [(self.plan.container(name), _Item(subject=path, reason=why))
                       for name, path, why in self.result.missing]
        self.write("README.md", render_template(
            "README.md.j2", plan=self.plan, to_provide=to_provide, files_read=self.reader is not None,
            any_entrypoint=any(e.secret for c in self.plan.containers for e in c.environment)
            or any(f.secret_fills for c in self.plan.containers for f in c.files) or bool(self.templates)))
        self.write("test.sh", render_template("test.sh.j2", plan=self.plan), mode=0o755)
        self.write(MARKER, f"generated by migrate from {self.plan.source_vm}; safe to replace with "
                           "`migrate generate`\n")
        self.check_leaks()
        self.result.files = sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())

    def check_leaks(self) -> None:
        values = sorted(self.secret_values)
        if not values:
            return
        for p in sorted(self.root.rglob("*")):
            if not p.is_file():
                continue
            data = p.read_bytes()
            for v in values:
                if v.encode() in data:
                    raise OutputError(f"a secret value found in the guest would have been written to "
                                      f"{p.relative_to(self.root)}; nothing was written", path=str(p))


@dataclass
class _Item:
    subject: str
    reason: str


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def missing_files_error(missing: list[tuple[str, str, str]], *, files_read: bool) -> FilesToProvide:
    """One error naming every file the stack still lacks, and the two ways on."""
    lines = [f"  {c}: {path} ({why})" for c, path, why in missing]
    how = ("the VM's files were read: fix the plan (or the guest) for these" if files_read else
           "no guest was given: add the VM's disk images with --image IMAGE")
    return FilesToProvide(f"{len(missing)} file(s) the plan needs could not be taken from the guest; {how}, "
                          "or accept a stack without them with --allow-missing-files (they are listed in "
                          "its README):\n" + "\n".join(lines))


def generate(plan: Plan, outdir: Path, reader: GuestReader | None = None, *,
             extra_files: dict[str, str] | None = None,
             known_secrets: dict[str, str | None] | None = None,
             allow_missing: bool = True) -> GenerateResult:
    """Write the stack for ``plan`` to ``outdir`` (replacing a stack generated there before).
    ``extra_files`` (relative path -> text) go into the same atomic swap (convert's inventory.json).
    ``known_secrets``: the secret values found in the guest (``secret_values_of``), so that files
    holding them become templates and no generated file can contain one. ``allow_missing=False``:
    raise FilesToProvide, and leave ``outdir`` as it was, when a file of the plan could not be
    taken from the guest (a stack without the application's files builds, but is not the VM)."""
    refusal = stack_refusal(plan)
    if refusal:  # a guest no Linux container can run (Windows): its plan is the deliverable, not a stack
        raise InvalidDocument(refusal, path="plan")
    outdir = Path(outdir).absolute()
    if outdir.exists():
        if not outdir.is_dir():
            raise OutputError("exists and is not a directory", path=str(outdir))
        if any(outdir.iterdir()) and not (outdir / MARKER).exists():
            raise OutputError("exists, is not empty and was not generated by migrate: refusing to replace it",
                              path=str(outdir))
    try:
        outdir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.tmp-", dir=outdir.parent))
    except OSError as exc:
        raise OutputError(f"cannot create a directory beside it: {exc.strerror}", path=str(outdir)) from exc
    try:
        writer = StackWriter(plan.canonical(), reader, tmp, known_secrets)
        try:
            for rel, text in sorted((extra_files or {}).items()):
                writer.write(rel, text)
            writer.stack()
        finally:
            writer.close()
        if writer.result.missing and not allow_missing:
            raise missing_files_error(writer.result.missing, files_read=reader is not None)
        os.chmod(tmp, 0o755)
        if outdir.exists():
            if not _exchange(tmp, outdir):
                old = outdir.with_name(f".{outdir.name}.old-{os.getpid()}")
                os.rename(outdir, old)
                os.rename(tmp, outdir)
                tmp = old
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.rename(tmp, outdir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write the stack: {exc.strerror}", path=str(exc.filename or outdir)) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result = writer.result
    result.outdir = outdir
    return result


# --- inputs -----------------------------------------------------------------------------------------


@dataclass
class Source:
    """What a command was given: an inventory (from JSON or a fresh inspection), or a plan; and a
    reader for guest files when there is a guest to read."""

    inventory: Inventory | None = None
    plan: Plan | None = None
    reader: GuestReader | None = None
    notes: list[str] = field(default_factory=list)
    guest_inventory: Inventory | None = None  # the images' own inventory when a document came with them

    @property
    def inspected(self) -> Inventory | None:
        """The inventory of the guest that was opened (to know its secret values), if one was."""
        return self.guest_inventory or (self.inventory if self.reader is not None else None)


def input_kind(path: Path) -> str:
    """inventory | plan | image, from the name and (for JSON) the document's kind."""
    name = path.name.lower()
    if name.endswith((".yaml", ".yml")):
        return "plan"
    if name.endswith(".json"):
        try:
            head = json.loads(path.read_text())
        except (OSError, ValueError):
            return "inventory"  # Inventory.load reports the problem precisely
        return "plan" if isinstance(head, dict) and head.get("kind") == "plan" else "inventory"
    return "image"


@contextmanager
def open_source(paths: list[Path], *, backend: str = "auto", rootfs: Path | None = None,
                progress: Callable[[str], None] | None = None, vault: SecretVault | None = None,
                images: list[Path] | None = None, keys: KeyStore | None = None) -> Iterator[Source]:
    """Load an inventory/plan document or inspect disk images; keep the guest open for reading files
    until the block ends. ``rootfs`` is an extracted guest tree to read files from instead.

    ``images`` (or disk images given after the one document): the guest to read a document's files
    from, so that plan -> edit -> generate takes the application from the VM. The images are
    inspected too, into ``guest_inventory``: their secret values must be known to keep them out of
    the stack, whatever the (edited) plan says. ``keys`` open encrypted (LUKS) volumes of the images;
    they stay in memory (never in the inventory, the plan or the stack)."""
    if not paths:
        raise UsageError("give an inventory (.json), a plan (plan.yaml) or disk images")
    kinds = [input_kind(Path(p)) for p in paths]
    documents = [Path(p) for p, k in zip(paths, kinds, strict=True) if k != "image"]
    disks = [Path(p) for p, k in zip(paths, kinds, strict=True) if k == "image"]
    if documents and disks:
        if len(documents) != 1 or kinds[0] == "image":
            raise UsageError("give one inventory or plan document first, then the VM's disk images (or use "
                             "--image), or only disk images", path=str(paths[0]))
        images = [*disks, *(images or [])]
        disks = []
    if images and not documents:
        raise UsageError("--image goes with a plan or inventory document; disk images alone are SOURCE")
    if images and rootfs is not None:
        raise UsageError("give the guest either as --image or as --rootfs, not both")
    src = Source()
    with ExitStack() as stack:
        if disks:
            from migrate.inspect import inventory_of, open_vm

            vm = stack.enter_context(open_vm(disks, backend, progress=progress, keys=keys))
            src.inventory = inventory_of(vm, progress=progress, vault=vault)
            if rootfs is None:
                src.reader = vm.guest.rootfs
        elif len(documents) != 1:
            raise UsageError("give one inventory or plan document, or only disk images")
        elif input_kind(documents[0]) == "plan":
            src.plan = Plan.load(documents[0])
        else:
            src.inventory = Inventory.load(documents[0])
        if images:
            from migrate.inspect import inventory_of, open_vm

            vm = stack.enter_context(open_vm([Path(p) for p in images], backend, progress=progress,
                                                keys=keys))
            src.guest_inventory = inventory_of(vm, progress=progress, vault=vault)
            src.reader = vm.guest.rootfs
            expected = src.plan.source_vm if src.plan is not None else src.inventory.name  # type: ignore[union-attr]
            if src.guest_inventory.name != expected:
                src.notes.append(f"the images are VM {src.guest_inventory.name!r}, the document was made from "
                                 f"{expected!r}: files are read from the images as given")
        if rootfs is not None:
            from migrate.rootfs import RootFS

            if not Path(rootfs).is_dir():
                raise UsageError("--rootfs must be a directory holding an extracted guest", path=str(rootfs))
            src.reader = stack.enter_context(RootFS.from_directory(rootfs))
        yield src


def convert(paths: list[Path], outdir: Path, *, backend: str = "auto", rootfs: Path | None = None,
            org: str | None = None, labels: list[str] | None = None, labels_config: Path | None = None,
            base_image: str | None = None, progress: Callable[[str], None] | None = None,
            secrets_out: Path | None = None, allow_missing: bool = True,
            keys: KeyStore | None = None) -> tuple[GenerateResult, Plan]:
    """inspect -> graph -> plan -> generate; the intermediate documents are written into OUTDIR.

    ``secrets_out``: also write the secret values found in the guest, in the clear, as NAME=value
    lines (mode 0600) for ``migrate up --secrets-file``: the migrated data (e.g. PostgreSQL's role
    passwords) keeps working with the VM's own credentials. Refused inside OUTDIR."""
    from migrate.graph import build_graph, to_mermaid
    from migrate.plan import build_options, make_plan

    options = build_options(org=org, labels=labels, labels_config=labels_config, base_image=base_image)
    vault = SecretVault()
    if secrets_out is not None and Path(secrets_out).resolve().is_relative_to(Path(outdir).resolve()):
        raise UsageError("--secrets-out must be outside the stack directory (it holds passwords in the clear)",
                         path=str(secrets_out))
    with open_source(paths, backend=backend, rootfs=rootfs, progress=progress, vault=vault,
                     keys=keys) as src:
        if src.inventory is None:
            raise UsageError("convert needs disk images or an inventory; for a plan use `migrate generate`")
        if progress:
            progress("graph and plan")
        graph = build_graph(src.inventory)
        plan = make_plan(src.inventory, graph, options, reader=src.reader)
        if progress:
            progress("generating")
        extra = {"inventory.json": src.inventory.to_json(), "graph.json": graph.to_json(),
                 "graph.mmd": to_mermaid(graph)}
        result = generate(plan, outdir, src.reader, extra_files=extra,
                          known_secrets=secret_values_of(plan, src.inventory, vault), allow_missing=allow_missing)
    if secrets_out is not None:
        write_secrets_file(plan, src.inventory, vault, Path(secrets_out))
    return result, plan


def secret_values_of(plan: Plan, inventory: Inventory, vault: SecretVault) -> dict[str, str | None]:
    """Every secret value the inspection found -> the stack secret that carries it (None: none does,
    e.g. a password hash): what generate must keep out of every file it writes."""
    by_ref: dict[str, str] = {}
    refs = {s.id: s.value_ref for s in inventory.secrets}
    for secret in sorted(plan.secrets, key=lambda x: x.name):
        for i in secret.found_as:
            if refs.get(i):
                by_ref.setdefault(refs[i], secret.name)
    out: dict[str, str | None] = {v: None for v in vault.values()}
    for ref, name in by_ref.items():
        with contextlib.suppress(KeyError):  # an inventory loaded from JSON: its values were not seen here
            out[vault.value(ref)] = name
    return out


def write_secrets_file(plan: Plan, inventory: Inventory, vault: SecretVault, path: Path) -> Path:
    """Every stack secret whose value was found in the guest, in the format ``migrate up
    --secrets-file`` reads (``deploy.format_secrets_file``: multi-line values such as PEM keys are
    base64-encoded), mode 0600, atomic."""
    from migrate.deploy import format_secrets_file

    refs = {s.id: s.value_ref for s in inventory.secrets}
    values = {}
    for secret in plan.secrets:
        ref = next((refs[i] for i in secret.found_as if refs.get(i)), None)
        if ref is not None:
            values[secret.name] = vault.value(ref)
    return atomic_write_text(path, format_secrets_file(values), mode=0o600)
