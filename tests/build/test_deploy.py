"""`migrate up` / `migrate down` on the fixture stack: secrets never prompted for, Compose and swarm,
healthy within the timeout, nothing left behind."""

from __future__ import annotations

import os
import urllib.request
import uuid

import pytest

from migrate.deploy import (
    InsecureSecretsFile,
    SecretsMissing,
    collect_secrets,
    down,
    leftovers,
    load_stack,
    up,
)
from tests.build.stack_fixture import SECRET, make_stack


def _secrets_file(tmp_path, mode=0o600):
    f = tmp_path / "secrets.env"
    f.write_text(f"# for the fixture\napi_token={SECRET}\n")
    os.chmod(f, mode)
    return f


def test_secrets_from_file_env_or_error(tmp_path) -> None:
    stack = load_stack(make_stack(tmp_path / "s", project="p1"))
    assert collect_secrets(stack, _secrets_file(tmp_path), environ={}) == {"api_token": SECRET}
    assert collect_secrets(stack, None, environ={"MIGRATE_SECRET_API_TOKEN": "x"}) == {"api_token": "x"}
    with pytest.raises(SecretsMissing, match="MIGRATE_SECRET_API_TOKEN"):
        collect_secrets(stack, None, environ={})
    with pytest.raises(InsecureSecretsFile):
        collect_secrets(stack, _secrets_file(tmp_path, 0o644), environ={})


def test_project_name_comes_from_compose_or_plan(tmp_path) -> None:
    out = make_stack(tmp_path / "s", project="fromcompose")
    assert load_stack(out).name == "fromcompose"


@pytest.fixture()
def built_stack(tmp_path, docker_engine, base_image):
    from migrate.build import build_stack

    project = f"migu{uuid.uuid4().hex[:8]}"
    out = make_stack(tmp_path / "stack", project=project, published=18000 + int(project[-3:], 16) % 1000)
    build_stack(out, base_image=base_image, engine=docker_engine)
    yield out, project
    down(out, volumes=True, engine=docker_engine)
    for svc in ("api", "front"):
        docker_engine.remove_image(f"{project}-{svc}:latest", force=True)


@pytest.mark.docker
@pytest.mark.parametrize("swarm", [False, True], ids=["compose", "swarm"])
def test_up_healthy_then_down_leaves_nothing(built_stack, tmp_path, docker_engine, swarm) -> None:
    out, project = built_stack
    if swarm and not docker_engine.swarm_active():
        pytest.skip("engine is not a swarm manager (scripts/setup-host.sh runs `docker swarm init`)")
    stack = load_stack(out)
    result = up(out, swarm=swarm, secrets_file=_secrets_file(tmp_path), timeout=180, engine=docker_engine)
    assert {s.service: s.state for s in result.services} == {"api": "healthy", "front": "healthy"}
    assert result.seconds_to_healthy > 0
    secret_file = out / "secrets/api_token.txt"
    assert secret_file.read_text() == SECRET + "\n" and (os.stat(out / "secrets").st_mode & 0o777) == 0o700
    # swarm without IPVS publishes in host mode (endpoint_mode dnsrr), which answers on the host port too
    port = stack.services["front"].ports[0]["published"]
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read()
    assert b"front" in body
    cid = docker_engine.containers([f"com.docker.{'stack.namespace' if swarm else 'compose.project'}={project}"])
    assert len(cid) == 2
    res = down(out, engine=docker_engine, volumes=False)
    assert res.leftovers == []
    assert not [x for x in leftovers(docker_engine, project, volumes=False)]
    assert docker_engine.volume(f"{project}_api-data") is not None  # volumes stay without --volumes
    res = down(out, engine=docker_engine, volumes=True)
    assert f"{project}_api-data" in res.removed_volumes and res.leftovers == []
