"""`migrate verify` on the running fixture stack, and the secret scan on an image that leaks."""

from __future__ import annotations

import io
import os
import uuid

import pytest
import yaml

from migrate.deploy import down, up
from migrate.verify import scan_images, verify_stack
from tests.build.stack_fixture import SECRET, make_stack

pytestmark = pytest.mark.docker


def test_secret_in_a_layer_is_found(docker_engine, base_image) -> None:
    tag = f"migleak{uuid.uuid4().hex[:8]}:latest"
    df = f"FROM {base_image}\nRUN mkdir -p /etc/app && echo 'password={SECRET}' > /etc/app/conf\n"
    list(docker_engine.api.build(fileobj=io.BytesIO(df.encode()), tag=tag, decode=True, rm=True))
    try:
        checks, sizes = scan_images(docker_engine, [tag], {"api_token": SECRET, "other": "never-there-123"})
        assert not checks[0].ok and "api_token" in checks[0].actual and "other" not in checks[0].actual
        assert sizes.unique_layer_bytes > 0 and sizes.sum_bytes == docker_engine.image(tag).size
        clean, _ = scan_images(docker_engine, [base_image], {"api_token": SECRET})
        assert clean[0].ok
    finally:
        docker_engine.remove_image(tag, force=True)


def test_verify_running_stack(tmp_path, docker_engine, base_image) -> None:
    from migrate.build import build_stack

    project = f"migv{uuid.uuid4().hex[:8]}"
    out = make_stack(tmp_path / "stack", project=project, published=19000 + int(project[-3:], 16) % 900)
    (out / "verify.yaml").write_text(yaml.safe_dump({"http": [
        {"service": "api", "port": 8080, "path": "/items", "status": 200, "content_type": "application/json",
         "json_keys": ["items", "count"]},
        {"service": "front", "port": 8081, "path": "/", "status": 200, "content_type": "text/html"}]}))
    (out / "graph.json").write_text('{"edges": [{"source": "service:front", "target": "service:api", '
                                    '"kind": "connects-to"}]}')
    secrets = tmp_path / "s.env"
    secrets.write_text(f"api_token={SECRET}\n")
    os.chmod(secrets, 0o600)
    build_stack(out, base_image=base_image, engine=docker_engine)
    try:
        up(out, secrets_file=secrets, engine=docker_engine, timeout=120)
        report = verify_stack(out, secrets_file=secrets, engine=docker_engine)
        assert report.ok, [c for c in report.failed]
        kinds = {(c.kind, c.service) for c in report.checks}
        assert {("tcp", "api"), ("http", "api"), ("http", "front"), ("edge", "front"), ("user", "api"),
                ("published_ports", "front"), ("secret_scan", None)} <= kinds
        assert next(c for c in report.checks if c.kind == "user" and c.service == "api").actual == "990"
        assert SECRET not in report.to_json()
        # a wrong expectation and an unexpected published port are failures: compose.yaml no longer declares
        # front's published port, but the running container still publishes it
        (out / "verify.yaml").write_text(yaml.safe_dump({"http": [
            {"service": "api", "port": 8080, "path": "/items", "status": 200, "json_keys": ["rows"]}]}))
        compose = yaml.safe_load((out / "compose.yaml").read_text())
        published = int(compose["services"]["front"]["ports"][0]["published"])
        del compose["services"]["front"]["ports"]
        (out / "compose.yaml").write_text(yaml.safe_dump(compose, sort_keys=False))
        bad = verify_stack(out, secrets_file=secrets, engine=docker_engine, scan=False)
        assert sorted(c.target for c in bad.failed) == ["GET http://api:8080/items", "front"]
        port_check = next(c for c in bad.failed if c.kind == "published_ports")
        assert (port_check.expected, port_check.actual) == ("none", str(published))
    finally:
        down(out, volumes=True, engine=docker_engine)
        for svc in ("api", "front"):
            docker_engine.remove_image(f"{project}-{svc}:latest", force=True)
