"""`migrate build` on the fixture stack: tags, labels, logs, the layer cache, a failing step."""

from __future__ import annotations

import uuid

import pytest

from migrate.build import BuildFailed, build_stack
from tests.build.stack_fixture import make_stack

pytestmark = pytest.mark.docker


@pytest.fixture()
def project(docker_engine):
    name = f"migb{uuid.uuid4().hex[:8]}"
    yield name
    for svc in ("api", "front"):
        docker_engine.remove_image(f"{name}-{svc}:latest", force=True)


def test_build_tags_labels_logs_and_cache(tmp_path, project, docker_engine, base_image) -> None:
    out = make_stack(tmp_path / "stack", project=project)
    events: list[tuple[str, str]] = []
    first = build_stack(out, base_image=base_image, engine=docker_engine,
                        progress=lambda s, e, d: events.append((s, e)))
    assert [s.service for s in first.services] == ["api", "front"]
    assert ("api", "start") in events and ("front", "done") in events and ("api", "step") in events
    for s in first.services:
        info = docker_engine.image(s.tag)
        assert info is not None and s.tag == f"{project}-{s.service}:latest"
        assert info.labels["org.opencontainers.image.title"] == s.service
        assert info.config["User"] == ("990:990" if s.service == "api" else "991:991")
        log = (out / ".migrate/build-logs" / f"{s.service}.log").read_text()
        assert "Step 1/" in log and f"BASE_IMAGE={base_image}" in log
    assert docker_engine.image(f"{project}-api:latest").labels["com.example.docker.service"] == "api"
    second = build_stack(out, base_image=base_image, engine=docker_engine)
    for s in second.services:  # every step that makes a layer comes from the cache
        assert s.cached_steps >= s.steps - 4, (s.service, s.cached_steps, s.steps)
        assert s.image_id == next(x.image_id for x in first.services if x.service == s.service)
    assert second.seconds < max(first.seconds, 5.0)


def test_failing_step_names_service_and_shows_output(tmp_path, project, docker_engine, base_image) -> None:
    out = make_stack(tmp_path / "stack", project=project, broken=True)
    with pytest.raises(BuildFailed) as info:
        build_stack(out, base_image=base_image, engine=docker_engine)
    err = info.value
    assert err.service == "front" and "RUN echo 'about to fail'" in err.step
    assert "about to fail" in str(err) and "returned a non-zero code" in str(err)
    assert err.exit_code == 23 and err.log.name == "front.log"
