"""``migrate build OUTDIR``: build every service image of a generated stack on the Docker engine.

Each service's ``build:`` context from compose.yaml is sent to the engine's build API (the SDK's
low-level ``APIClient.build``, streamed and decoded), tagged with the service's ``image:`` and
labelled from ``build.labels``; ``BASE_IMAGE`` points at the local base image (``migrate
base-image``). The engine's layer cache is used, so a rebuild with no change only re-checks the
steps. Every message of every build is kept in ``OUTDIR/.migrate/build-logs/<service>.log``; a
failing build raises :class:`BuildFailed` naming the service, the step and the step's output.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from migrate.deploy import Stack, StackService, load_stack
from migrate.docker_engine import DockerError, Engine
from migrate.errors import (
    BuildFailed,  # noqa: F401 - raised here, defined with the others
    UsageError,
)

LOG_DIR = ".migrate/build-logs"
STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


# (service, event, detail): event is "start", "step" (detail "3/12 RUN ..."), "done", "failed"
BuildProgress = Callable[[str, str, str], None]


@dataclass
class ServiceBuild:
    service: str
    tag: str
    image_id: str
    seconds: float
    steps: int
    cached_steps: int
    size_bytes: int
    log: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class BuildResult:
    project: str
    base_image: str
    seconds: float
    services: list[ServiceBuild]

    @property
    def total_cached(self) -> int:
        return sum(s.cached_steps for s in self.services)


def _noop(*_a: str) -> None:
    pass


def image_tag(stack: Stack, svc: StackService) -> str:
    return svc.image or f"{stack.name}-{svc.name}:latest"


def build_service(engine: Engine, stack: Stack, svc: StackService, *, base_image: str, nocache: bool = False,
                  progress: BuildProgress = _noop) -> ServiceBuild:
    if svc.build_context is None:
        raise UsageError(f"service {svc.name} has no build context in compose.yaml", path=str(stack.compose_file))
    if not (svc.build_context / svc.dockerfile).is_file():
        raise UsageError(f"service {svc.name}: {svc.dockerfile} missing in {svc.build_context}",
                         path=str(stack.compose_file))
    tag = image_tag(stack, svc)
    log_path = stack.dir / LOG_DIR / f"{svc.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    args = {**svc.build_args, "BASE_IMAGE": base_image}
    labels = dict(svc.build_labels)
    if svc.dockerfile and svc.build_args.get("BASE_IMAGE") is not None:  # a generated stack: OCI build labels
        from migrate.oci import build_labels
        base = engine.image(base_image)
        labels.update(build_labels(base_image, base.id if base else None))
    progress(svc.name, "start", tag)
    t0 = time.monotonic()
    step, total, cached = "before the first step", 0, 0
    step_output: list[str] = []
    image_id: str | None = None
    with open(log_path, "w") as log:
        log.write(f"# migrate build {svc.name}: context {svc.build_context}, dockerfile {svc.dockerfile}, "
                  f"tag {tag}, BASE_IMAGE={base_image}\n")
        try:
            for msg in engine.build(context=svc.build_context, dockerfile=svc.dockerfile, tag=tag, buildargs=args,
                                    labels=labels, nocache=nocache, target=svc.build_target):
                if "stream" in msg:
                    text = msg["stream"]
                    log.write(text)
                    for line in text.splitlines():
                        m = STEP_RE.match(line.strip())
                        if m:
                            total = int(m.group(2))
                            step = f"step {m.group(1)}/{m.group(2)} ({m.group(3)[:100]})"
                            step_output = []
                            progress(svc.name, "step", f"{m.group(1)}/{m.group(2)} {m.group(3)[:60]}")
                        elif "Using cache" in line:
                            cached += 1
                        else:
                            step_output.append(line)
                elif "error" in msg:
                    err = msg.get("errorDetail", {}).get("message") or msg["error"]
                    log.write(f"ERROR: {err}\n")
                    step_output.append(err)
                    progress(svc.name, "failed", step)
                    log.flush()
                    raise BuildFailed(svc.name, step, "\n".join(step_output), log_path)
                elif "aux" in msg and isinstance(msg["aux"], dict) and "ID" in msg["aux"]:
                    image_id = msg["aux"]["ID"]
                elif "status" in msg:
                    log.write(f"{msg['status']} {msg.get('progress', '')}\n")
        except BuildFailed:
            raise
        except Exception as exc:  # the engine refused the request (bad context, daemon gone ...)
            log.write(f"ERROR: {exc}\n")
            progress(svc.name, "failed", step)
            raise BuildFailed(svc.name, step, f"{exc}", log_path) from exc
    info = engine.image(tag)
    if info is None:
        raise DockerError(f"build of {svc.name} reported success but {tag} is not on the engine")
    seconds = time.monotonic() - t0
    progress(svc.name, "done", f"{seconds:.1f}s, {cached}/{total} steps cached")
    return ServiceBuild(svc.name, tag, image_id or info.id, round(seconds, 2), total, cached, info.size,
                        str(log_path), info.labels)


def build_stack(outdir: Path, *, base_image: str = "debian:bookworm-slim", services: list[str] | None = None,
                nocache: bool = False, engine: Engine | None = None, progress: BuildProgress = _noop) -> BuildResult:
    stack = load_stack(outdir)
    engine = engine or Engine()
    if engine.image(base_image) is None:
        raise UsageError(f"base image {base_image} is not on this engine: `migrate base-image {base_image}` makes it "
                         "from the Debian mirror, or `docker pull` it where a registry is reachable")
    wanted = [s for s in stack.services.values() if s.build_context is not None]
    if services:
        unknown = sorted(set(services) - {s.name for s in wanted})
        if unknown:
            raise UsageError(f"no buildable service named {', '.join(unknown)} in {stack.compose_file}")
        wanted = [s for s in wanted if s.name in services]
    t0 = time.monotonic()
    results = [build_service(engine, stack, s, base_image=base_image, nocache=nocache, progress=progress)
               for s in wanted]
    return BuildResult(stack.name, base_image, round(time.monotonic() - t0, 2), results)

