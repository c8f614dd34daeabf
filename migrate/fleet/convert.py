"""Fleet plan, convert and build: every inspected VM planned, every ready VM converted, images shared.

- ``plan_fleet``: each inspected member's stored inventory is planned with its guest open (the
  planner looks into config files); ``members/<name>/plan.yaml`` is written and the member's
  readiness set: ready = no blocker-severity item in its plan (VM-level or any container's), else
  blocked with each blocker as "kind: detail". A member whose plan fails is that member's failure
  (stage "plan"), never the fleet's.
- ``convert_fleet``: each ready member becomes a stack under ``members/<name>/stack`` (the same
  inspect → graph → plan → generate as ``migrate convert``; its plan.yaml, inventory.json and graph
  are kept in the stack). One failing member is one failed row. Plan and convert run one process
  per CPU; only the coordinating process writes the store.
- Keys (migrate.fleet.keys): plan and convert reopen each member's image, so an encrypted member
  needs its keys again (they are never stored). Each member's task carries only the keys that may
  open it, as a KeyStore whose repr is redacted; the task reaches its spawned pool process pickled
  over the pool's pipe (memory only: never argv, environment or a file), and a process holding keys
  writes no core file. A member with an encrypted volume and no key is its own failed row
  (EncryptedVolume, 15) saying how to give its key.
- ``build_fleet_stacks``: one base image per OS release for the whole fleet (``migrate base-image``
  for each distinct base the plans name), and each distinct service image built once: services whose
  build contexts are identical (same Dockerfile, same files, same modes, same build arguments: the
  same packages and the same files; comments and LABEL lines aside) share one image, built once and
  tagged with every stack's own image name, so each compose file runs as generated. Labels that
  differ between the stacks sharing an image (the source VM ...) are left off the shared image; the
  compose labels of each service still carry them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.errors import EncryptedVolume, MigrateError, ResourceBudgetExceeded, UsageError
from migrate.fsutil import atomic_write_text
from migrate.model.fleet import FleetMember, MemberError
from migrate.model.inventory import Inventory
from migrate.model.plan import Plan

if TYPE_CHECKING:
    from migrate.fleet.keys import FleetKeys
    from migrate.image.keys import KeyStore

Progress = Callable[[str], None]
PLANNABLE = ("inspected", "planned", "converted")
# one member's task for a pool process: (fleet dir, member JSON, backend, the member's keys or None)
MemberTask = tuple[str, str, str, "KeyStore | None"]


def _noop(_msg: str) -> None:
    pass


def member_error(exc: BaseException, stage: str) -> MemberError:
    """The error class and exit code `migrate plan/convert` would have given (one line, no guest content)."""
    from migrate.fleet.worker import error_dict

    d = error_dict(exc)
    return MemberError(error_class=d["error_class"], exit_code=d["exit_code"], message=d["message"],
                       stage=stage)  # type: ignore[arg-type]


def plan_blockers(plan: Plan) -> list[str]:
    """Every blocker-severity item of a plan, as "kind: detail" (VM-level first, then by container)."""
    out = [f"{b.kind}: {b.detail}" for b in plan.fitness.blockers if b.severity == "blocker"]
    for c in sorted(plan.containers, key=lambda c: c.name):
        out += [f"{b.kind}: {c.name}: {b.detail}" for b in c.fitness.blockers if b.severity == "blocker"]
    return out


@dataclass
class FleetStepResult:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # done by an earlier run and left as they are (again=False)
    seconds: float = 0.0


def _image_paths(member: FleetMember) -> list[Path]:
    if not member.image:
        raise UsageError(f"fleet member {member.name} has no disk image")
    return [Path(member.image)]


def plan_member(fleet_dir: Path, member: FleetMember, *, backend: str = "auto", options: object = None,
                keys: KeyStore | None = None) -> FleetMember:
    """Plan one inspected member (``keys``: those that may open its encrypted volumes); returns the member
    with plan_path, readiness and blockers set."""
    from migrate.graph import build_graph
    from migrate.inspect import open_vm
    from migrate.plan import make_plan

    if not member.inventory_path:
        raise UsageError(f"fleet member {member.name} has no inventory: run `migrate fleet inspect` first")
    inv = Inventory.load(Path(fleet_dir) / member.inventory_path)
    with open_vm(_image_paths(member), backend, keys=keys) as vm:
        plan = make_plan(inv, build_graph(inv), options, reader=vm.guest.rootfs)  # type: ignore[arg-type]
    rel = Path(member.inventory_path).parent / "plan.yaml"
    atomic_write_text(Path(fleet_dir) / rel, plan.to_yaml())
    blockers = plan_blockers(plan)
    return member.model_copy(update={"plan_path": str(rel), "readiness": "blocked" if blockers else "ready",
                                     "blockers": blockers, "state": "planned", "error": None})


def _unpack(task: tuple[str, ...] | MemberTask) -> tuple[Path, FleetMember, str, KeyStore | None]:
    root, doc, backend, *rest = task
    return Path(root), FleetMember.model_validate_json(doc), backend, rest[0] if rest else None  # type: ignore[return-value]


def key_hint(exc: Exception, member: FleetMember, step: str, keys: KeyStore | None) -> Exception:
    """An encrypted volume without a key, in a fleet step: say how to give this member's key to this step
    (keys are never stored, so a plan or convert needs them again after the inspect that used them)."""
    if not isinstance(exc, EncryptedVolume):
        return exc
    given = "none of the keys given applies to it" if keys else "no key was given"
    return EncryptedVolume(f"{exc.message} ({given}: keys are not stored, so `fleet {step}` needs them again: "
                           f"--key '{member.name}@all:file:KEYFILE' or --keys-from-stdin)", path=exc.path)


def _plan_task(task: MemberTask) -> str:
    """One member planned in a worker process; any failure becomes that member's error row."""
    root, m, backend, keys = _unpack(task)
    try:
        new = plan_member(root, m, backend=backend, keys=keys)
    except Exception as exc:  # noqa: BLE001 - one member's failure is its own row (InternalError for a bug)
        new = _plan_failed(m, key_hint(exc, m, "plan", keys))
    return new.model_dump_json()


def _plan_failed(m: FleetMember, exc: BaseException) -> FleetMember:
    return m.model_copy(update={"readiness": "failed", "error": member_error(exc, "plan"), "blockers": []})


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def plan_fleet(store: object, *, backend: str = "auto", workers: int | None = None,
               progress: Progress = _noop, again: bool = False, keys: FleetKeys | None = None) -> FleetStepResult:
    """Plan every inspected member of the fleet ``store`` (migrate.fleet.store.FleetStore) on ``workers``
    processes (default: one per CPU); the store is written by this process only. Members planned (or
    converted) already are kept as they are unless ``again``: a rerun after a kill plans only the rest
    (a re-inspected member is back in state inspected, so it is planned again; one whose plan failed
    is tried again). ``keys``: each member's task gets the ones that may open it (migrate.fleet.keys)."""
    t0 = time.monotonic()
    res = FleetStepResult()
    root = Path(store.root)  # type: ignore[attr-defined]
    _check_keys(store, keys)
    with store.hold("plan"):  # type: ignore[attr-defined]  # alone on the fleet, or FleetInUse
        sweep_debris(root)
        todo = []
        for m in sorted(store.members(), key=lambda m: m.name):  # type: ignore[attr-defined]
            if m.state in PLANNABLE and (again or m.state == "inspected" or m.readiness == "failed"):
                todo.append(_member_task(root, m, backend, keys))
            elif m.state in PLANNABLE:
                res.kept.append(m.name)
            else:
                res.skipped.append(m.name)
        _on_members(store, _plan_task, todo, workers, res, progress, "plan", failed=_plan_failed,
                    ok=lambda new: new.readiness != "failed", say=lambda new: new.readiness)
    res.seconds = round(time.monotonic() - t0, 2)
    return res


def _member_task(root: Path, m: FleetMember, backend: str, keys: FleetKeys | None) -> MemberTask:
    return (str(root), m.model_dump_json(), backend, keys.for_member(m.name) if keys else None)


def _check_keys(store: object, keys: FleetKeys | None) -> None:
    """Before anything runs: every MEMBER@ key names a member of this fleet; and this process, which
    holds keys from here on, writes no core file."""
    if keys:
        from migrate.fleet.worker import no_core_dumps

        keys.check_members(m.name for m in store.members())  # type: ignore[attr-defined]
        no_core_dumps()


def convert_member(fleet_dir: Path, member: FleetMember, *, backend: str = "auto",
                   keys: KeyStore | None = None) -> FleetMember:
    from migrate.generate import convert

    stack_rel = Path(member.inventory_path or f"members/{member.name}/inventory.json").parent / "stack"
    _result, plan = convert(_image_paths(member), Path(fleet_dir) / stack_rel, backend=backend, keys=keys)
    blockers = plan_blockers(plan)
    return member.model_copy(update={"stack_path": str(stack_rel), "state": "converted", "error": None,
                                     "readiness": "blocked" if blockers else "ready", "blockers": blockers})


def _convert_task(task: MemberTask) -> str:
    root, m, backend, keys = _unpack(task)
    try:
        new = convert_member(root, m, backend=backend, keys=keys)
    except Exception as exc:  # noqa: BLE001 - one member's failure is its own row (InternalError for a bug)
        new = _convert_failed(m, key_hint(exc, m, "convert", keys))
    return new.model_dump_json()


def _convert_failed(m: FleetMember, exc: BaseException) -> FleetMember:
    return m.model_copy(update={"error": member_error(exc, "convert")})


def convert_fleet(store: object, *, backend: str = "auto", members: list[str] | None = None,
                  workers: int | None = None, progress: Progress = _noop, again: bool = False,
                  keys: FleetKeys | None = None) -> FleetStepResult:
    """Convert every ready member (or the named ones) to a stack beside the others, on ``workers``
    processes (default: one per CPU); the store is written by this process only. A member converted
    already whose stack is there is kept as it is unless named or ``again``: a rerun after a kill
    converts only the rest (a member planned again is back in state planned, so it is converted again).
    ``keys``: each member's task gets the ones that may open it (migrate.fleet.keys)."""
    t0 = time.monotonic()
    res = FleetStepResult()
    root = Path(store.root)  # type: ignore[attr-defined]
    _check_keys(store, keys)
    with store.hold("convert"):  # type: ignore[attr-defined]  # alone on the fleet, or FleetInUse
        sweep_debris(root)
        todo = []
        for m in sorted(store.members(), key=lambda m: m.name):  # type: ignore[attr-defined]
            if (members is not None and m.name not in members) or m.readiness != "ready" or not m.image:
                res.skipped.append(m.name)
            elif (members is None and not again and m.state == "converted" and m.stack_path
                  and (root / m.stack_path / "compose.yaml").is_file()):
                res.kept.append(m.name)
            else:
                todo.append(_member_task(root, m, backend, keys))
        _on_members(store, _convert_task, todo, workers, res, progress, "convert", failed=_convert_failed,
                    ok=lambda new: new.state == "converted" and new.error is None,
                    say=lambda new: "stack written" if new.state == "converted" and new.error is None else "failed")
    res.seconds = round(time.monotonic() - t0, 2)
    return res


DEBRIS = (".stack.tmp-", ".stack.old-", ".plan.yaml.")  # generate's and atomic_write_text's temporary names


def sweep_debris(root: Path, prefixes: tuple[str, ...] = DEBRIS) -> list[Path]:
    """Remove what a killed plan/convert left in member folders: generate's temporary stack
    (``.stack.tmp-*``, ``.stack.old-*``) and atomic_write_text's temporary files (``.plan.yaml.*``).
    Only called while this run holds the fleet alone, so nothing else can be writing them. Links are
    unlinked, never followed."""
    removed: list[Path] = []
    members_dir = Path(root) / "members"
    try:
        folders = [e for e in os.scandir(members_dir) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return removed
    for folder in folders:
        with os.scandir(folder.path) as entries:
            for e in entries:
                if not e.name.startswith(prefixes):
                    continue
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(e.path)
                removed.append(Path(e.path))
    return removed


def _on_members(store: object, task: Callable[[MemberTask], str], todo: list[MemberTask],
                workers: int | None, res: FleetStepResult, progress: Progress, step: str, *,
                failed: Callable[[FleetMember, BaseException], FleetMember],
                ok: Callable[[FleetMember], bool], say: Callable[[FleetMember], str]) -> None:
    """Run ``task`` for each member of ``todo`` on spawned processes (one per CPU unless ``workers``);
    this process alone writes each result into the store, as it arrives (``res`` lists end up sorted).

    A pool process that dies (the OOM killer, a kill -9) breaks the whole pool, and the pool cannot say
    whose task killed it: the members without a result are then run again one at a time, each in a
    pool of its own, so the batch goes on and a member that kills its process again is that member's
    failed row (``failed``: ResourceBudgetExceeded), not the step's.

    A task may carry keys (its 4th item): it reaches the pool process pickled over the pool's pipe, never
    argv, environment or a file; the pool processes of a step with keys write no core file."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    if not todo:
        return
    ctx = multiprocessing.get_context("spawn")

    def record(doc: str) -> None:
        new = FleetMember.model_validate_json(doc)
        (res.done if ok(new) else res.failed).append(new.name)
        store.upsert_member(new)  # type: ignore[attr-defined]
        progress(f"{step} {new.name}: {say(new)}")

    n = min(workers or default_workers(), len(todo))
    init = (os.getpid(), any(len(item) > 3 and item[3] for item in todo))
    left = list(todo)
    try:
        with ProcessPoolExecutor(n, mp_context=ctx, initializer=_die_with, initargs=init) as pool:
            futures = {pool.submit(task, item): item for item in todo}
            for fut in as_completed(futures):
                doc = fut.result()  # BrokenProcessPool when a pool process died
                record(doc)
                left.remove(futures[fut])
    except BrokenProcessPool:
        sweep_debris(Path(store.root))  # type: ignore[attr-defined]  # the broken pool's processes are gone
        for item in left:
            progress(f"{step}: a {step} process died; {step} {FleetMember.model_validate_json(item[1]).name} alone")
            try:
                with ProcessPoolExecutor(1, mp_context=ctx, initializer=_die_with, initargs=init) as one:
                    doc = one.submit(task, item).result()
            except BrokenProcessPool:
                sweep_debris(Path(store.root))  # type: ignore[attr-defined]
                m = FleetMember.model_validate_json(item[1])
                doc = failed(m, ResourceBudgetExceeded(
                    f"the process running this member's {step} died (killed: out of memory or by a signal)",
                    path=m.image)).model_dump_json()
            record(doc)
    res.done.sort()
    res.failed.sort()


def _die_with(parent: int, no_core: bool = False) -> None:
    """A pool process dies with the coordinator (PR_SET_PDEATHSIG): a kill -9 of `fleet convert` leaves
    no process converting on behind the next run's back. (The pool starts its processes from the
    coordinator's main thread, which lives as long as the pool.) ``no_core``: its tasks carry keys, so
    it writes no core file (set before the first task, hence before any key is unpickled)."""
    import ctypes
    import signal

    if no_core:
        from migrate.fleet.worker import no_core_dumps

        no_core_dumps()

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the coordinator died before the line above
        os._exit(1)


# --------------------------------------------------------------------------------------------------
# shared images


_DIRECTIVE = re.compile(r"^#\s*(syntax|escape|check)\s*=", re.I)


def dockerfile_lines(text: str) -> list[str]:
    """The Dockerfile's logical lines (continuations joined), without comments (parser directives kept)."""
    out: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and stripped.startswith("#") and not (not out and _DIRECTIVE.match(stripped)):
            continue
        current = f"{current} {stripped}" if current else stripped
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        if current:
            out.append(current)
        current = ""
    if current:
        out.append(current)
    return out


def _is_label(line: str) -> bool:
    return line.split(None, 1)[0].upper() == "LABEL"


def label_pairs(line: str) -> list[tuple[str, str]]:
    pairs = []
    for token in shlex.split(line.split(None, 1)[1] if " " in line else ""):
        key, _, value = token.partition("=")
        pairs.append((key, value))
    return pairs


def image_body(text: str) -> str:
    """What decides the image's content: the instructions without comments and without LABEL (labels
    name the source VM and differ between clones whose images are otherwise identical)."""
    return "\n".join(ln for ln in dockerfile_lines(text) if not _is_label(ln))


def _label_ranges(lines: list[str]) -> list[tuple[int, int]]:
    """Line ranges [start, end) of the LABEL instructions (with their continuation lines)."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        start = i
        is_label = lines[i].strip().upper().startswith("LABEL ")
        while lines[i].rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
        i += 1
        if is_label:
            out.append((start, i))
    return out


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def shared_dockerfile(texts: list[str]) -> str:
    """The Dockerfile to build once for several stacks: the first one as written, each LABEL instruction
    keeping only the labels every stack gives the same value (labels are the only difference allowed)."""
    lines = texts[0].splitlines()
    labels = [[ln for ln in dockerfile_lines(t) if _is_label(ln)] for t in texts]
    out: list[str] = []
    pos = 0
    for k, (start, end) in enumerate(_label_ranges(lines)):
        out += lines[pos:start]
        pos = end
        mine = label_pairs(labels[0][k])
        common = [(key, v) for key, v in mine if all(k < len(o) and (key, v) in label_pairs(o[k]) for o in labels[1:])]
        if common:
            out.append("LABEL " + " \\\n      ".join(f"{key}={_quote(v)}" for key, v in common))
    out += lines[pos:]
    return "\n".join(out) + "\n"


def context_hash(context: Path, dockerfile: str, build_args: dict[str, str], target: str | None) -> str:
    """A hash of what decides an image: every file of the build context (path, type, mode, content or link
    target; the Dockerfile as :func:`image_body`), the build arguments and the target stage."""
    h = hashlib.sha256()
    h.update(f"dockerfile={dockerfile}\ntarget={target}\n".encode())
    for k in sorted(build_args):
        h.update(f"arg {k}={build_args[k]}\n".encode())
    root = Path(context)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                h.update(f"link {rel} -> {os.readlink(p)}\n".encode())
            elif rel == dockerfile:
                body = image_body(p.read_text(errors="replace")).encode()
                h.update(f"dockerfile {st.st_mode & 0o7777:o} {len(body)}\n".encode() + body)
            elif stat.S_ISREG(st.st_mode):
                h.update(f"file {rel} {st.st_mode & 0o7777:o} {st.st_size}\n".encode())
                with open(p, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
        for d in dirnames:
            h.update(f"dir {Path(dirpath, d).relative_to(root).as_posix()}\n".encode())
    return h.hexdigest()


@dataclass
class SharedImage:
    digest: str  # context hash
    tag: str  # the shared tag: migrate-fleet/<service>:<hash12>
    image_id: str | None
    users: list[tuple[str, str, str]]  # (member, service, the stack's own image name)
    built_for: str  # member whose context was built


@dataclass
class FleetBuildResult:
    base_images: list[str]
    stacks: int
    services: int
    images_built: int
    shared: list[SharedImage]
    failed: dict[str, str]  # member -> one line
    seconds: float
    errors: dict[str, MemberError] = field(default_factory=dict)  # member -> its row's error (stage "build")


def plan_shared_images(stacks: dict[str, Path], base_for: Callable[[str], str],
                       services: list[str] | None = None) -> dict[str, SharedImage]:
    """Group the buildable services of ``stacks`` (member -> stack dir) by context hash."""
    from migrate.build import image_tag
    from migrate.deploy import load_stack

    groups: dict[str, SharedImage] = {}
    for member in sorted(stacks):
        stack = load_stack(stacks[member])
        for svc in sorted(stack.services.values(), key=lambda s: s.name):
            if svc.build_context is None or (services is not None and svc.name not in services):
                continue
            args = {**svc.build_args, "BASE_IMAGE": base_for(member)}
            digest = context_hash(svc.build_context, svc.dockerfile, args, svc.build_target)
            own = image_tag(stack, svc)
            g = groups.get(digest)
            if g is None:
                groups[digest] = SharedImage(digest, f"migrate-fleet/{svc.name}:{digest[:12]}", None,
                                             [(member, svc.name, own)], member)
            else:
                g.users.append((member, svc.name, own))
    return groups


def build_fleet_stacks(fleet_dir: Path, members: list[FleetMember], *, engine: object = None,
                       services: list[str] | None = None, progress: Progress = _noop,
                       store: object = None) -> FleetBuildResult:
    """Build the images of every converted member's stack: one base per OS release, each distinct service
    image once (see the module docstring). ``services``: only the services of these names.

    With ``store``, each member's row records the outcome as plan and convert do (:func:`record_builds`):
    a failed build is the member's error (stage "build"), a later successful build clears it."""
    from migrate.baseimage import make_base_image
    from migrate.build import build_service
    from migrate.deploy import load_stack
    from migrate.docker_engine import Engine

    t0 = time.monotonic()
    eng = engine if engine is not None else Engine()
    stacks = {m.name: Path(fleet_dir) / m.stack_path for m in members if m.stack_path and m.state == "converted"}
    base_of: dict[str, str] = {}
    for name, d in stacks.items():
        plan = Plan.load(d / "plan.yaml")
        bases = sorted({c.base.image for c in plan.containers})
        base_of[name] = bases[0] if bases else "debian:bookworm-slim"
    for ref in sorted(set(base_of.values())):
        progress(f"base image {ref}")
        make_base_image(ref, engine=eng)  # type: ignore[arg-type]
    groups = plan_shared_images(stacks, base_of.__getitem__, services)
    failed: dict[str, str] = {}
    errors: dict[str, MemberError] = {}
    built = 0
    for digest in sorted(groups, key=lambda d: (groups[d].tag, d)):
        g = groups[digest]
        member, svc_name, _own = g.users[0]
        stack = load_stack(stacks[member])
        svc = stack.services[svc_name]
        common = dict(svc.build_labels)
        for m2, s2, _ in g.users[1:]:
            other = load_stack(stacks[m2]).services[s2].build_labels
            common = {k: v for k, v in common.items() if other.get(k) == v}
        texts = [(load_stack(stacks[m2]).services[s2].build_context / svc.dockerfile).read_text()  # type: ignore[operator]
                 for m2, s2, _ in g.users]
        progress(f"build {g.tag} for {len(g.users)} stack(s)")
        with tempfile.TemporaryDirectory(prefix=".shared-", dir=fleet_dir) as tmp:
            ctx = Path(tmp) / "context"
            assert svc.build_context is not None
            shutil.copytree(svc.build_context, ctx, symlinks=True)
            (ctx / svc.dockerfile).write_text(shared_dockerfile(texts))
            shared = replace(svc, image=g.tag, build_labels=common, build_context=ctx)
            try:
                result = build_service(eng, stack, shared, base_image=base_of[member])  # type: ignore[arg-type]
            except MigrateError as exc:
                for m2, _s2, _ in g.users:
                    failed[m2] = f"{svc_name}: {exc}".splitlines()[0]
                    err = member_error(exc, "build")
                    err.message = f"{svc_name}: {err.message}".splitlines()[0]
                    errors.setdefault(m2, err)
                continue
        built += 1
        g.image_id = result.image_id
        for _m2, _s2, own in g.users:
            eng.docker("tag", g.tag, own)  # type: ignore[attr-defined]
    n_services = sum(len(g.users) for g in groups.values())
    result = FleetBuildResult(sorted(set(base_of.values())), len(stacks), n_services, built,
                              sorted(groups.values(), key=lambda g: g.tag), failed, round(time.monotonic() - t0, 2),
                              errors)
    if store is not None:
        record_builds(store, sorted(stacks), result, whole=services is None)
    return result


def record_builds(store: object, built: list[str], result: FleetBuildResult, *, whole: bool = True) -> list[str]:
    """Write the build's outcome into the rows of the members whose stacks were built (``built``): a
    failed one gets its error (stage "build": error class, exit code, the service and first line), so
    `fleet status`, the report and `fleet run --strict` see it; one that built clears an earlier build
    error (only when ``whole``: every service of its stack was built, not a ``services`` subset). Errors
    of other stages are left alone. Returns the members whose row changed."""
    changed = []
    rows = []
    for name in built:
        m = store.get(name)  # type: ignore[attr-defined]  # the row as it is now, not the caller's copy
        if m is None:
            continue
        if name in result.errors:
            if m.error is not None and m.error.stage != "build":
                continue  # an earlier step's failure says more
            rows.append(m.model_copy(update={"error": result.errors[name]}))
        elif whole and m.error is not None and m.error.stage == "build":
            rows.append(m.model_copy(update={"error": None}))
        else:
            continue
        changed.append(name)
    if rows:
        store.upsert_members(rows)  # type: ignore[attr-defined]
    return changed
