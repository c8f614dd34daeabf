"""`migrate push STACK`: tag the stack's built images for the project's registry and push them.

The registry comes from ``--registry`` or the project config (``registry:`` in migrate.yaml); there is
no default, because pushing a client's application to a registry nobody chose is worse than
stopping. Images already named for that registry (the plan put it in their name) are pushed as they
are; others get a second tag ``<registry>/<name>:<tag>``. The Docker SDK streams the push; an error
in the stream (refused, unauthorised, unreachable) is a ``PushFailed`` naming the image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from migrate.config import ProjectConfig, load_project_config
from migrate.deploy import load_stack
from migrate.docker_engine import Engine
from migrate.errors import ConfigError, PushFailed, UsageError


@dataclass
class Pushed:
    service: str
    source: str  # the local image reference compose.yaml names
    target: str  # what was pushed
    digest: str | None = None  # the registry's manifest digest


@dataclass
class PushResult:
    registry: str
    images: list[Pushed] = field(default_factory=list)


def target_ref(image: str, registry: str) -> str:
    """``image`` in ``registry``: unchanged when it already names that registry."""
    registry = registry.rstrip("/")
    if image.startswith(registry + "/"):
        return image
    return f"{registry}/{image}"


def _split(ref: str) -> tuple[str, str]:
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        repo, _, tag = ref.rpartition(":")
        return repo, tag
    return ref, "latest"


def push_stack(outdir: Path, *, registry: str | None = None, services: list[str] | None = None,
               project: ProjectConfig | None = None, engine: Engine | None = None,
               progress: Callable[[str], None] = lambda _m: None) -> PushResult:
    project = project if project is not None else load_project_config(Path.cwd())
    registry = registry or project.registry
    if not registry:
        where = f" ({project.path})" if project.path else " (none found from the working directory)"
        raise ConfigError("no registry to push to: set `registry:` in migrate.yaml" + where
                          + " or pass --registry HOST[:PORT]")
    stack = load_stack(outdir)
    chosen = services or sorted(stack.services)
    unknown = [s for s in chosen if s not in stack.services]
    if unknown:
        raise UsageError(f"no such service in the stack: {', '.join(unknown)} "
                         f"(services: {', '.join(sorted(stack.services))})", path=str(stack.compose_file))
    engine = engine or Engine()
    todo = []
    for name in chosen:
        image = stack.services[name].image
        if not image:
            raise UsageError(f"service {name} names no image", path=str(stack.compose_file))
        if engine.image(image) is None:
            raise UsageError(f"image {image} of service {name} is not built (run `migrate build {outdir}`)")
        todo.append((name, image))
    result = PushResult(registry=registry)
    for name, image in todo:
        target = target_ref(image, registry)
        repo, tag = _split(target)
        if target != image:
            engine.api.tag(image, repo, tag)
        progress(f"pushing {target}")
        result.images.append(Pushed(service=name, source=image, target=target,
                                    digest=_push(engine, repo, tag, target)))
    return result


def _push(engine: Engine, repo: str, tag: str, target: str) -> str | None:
    from docker.errors import APIError

    digest = None
    try:
        for msg in engine.api.push(repo, tag=tag, stream=True, decode=True):
            if msg.get("error") or msg.get("errorDetail"):
                detail = msg.get("error") or (msg.get("errorDetail") or {}).get("message")
                raise PushFailed(f"pushing {target} failed: {detail}")
            aux = msg.get("aux") or {}
            digest = aux.get("Digest") or digest
    except APIError as exc:
        raise PushFailed(f"pushing {target} failed: {exc.explanation or exc}") from exc
    return digest
