"""The localhost bridges the plan chooses work on a real Docker engine under Compose (issue 13 item 4).

The plan comes from the flagship inventory with two client connections the plan cannot rewrite (a Unix
socket and a hard-coded 127.0.0.1:6379 in the application's code). The client container runs the
entrypoint generated for it (render_entrypoint) with the distribution's socat; the compose file is the
one generated from that plan (compose_document), reduced to the three services involved, with the
servers' commands replaced by small socat servers that answer on the same socket path and port. From
inside the client, the code's view of localhost must reach the siblings."""

from __future__ import annotations

import io
import tarfile
import time
import uuid

import pytest
import yaml

from migrate.model.base import Evidence
from migrate.model.inventory import Connection
from migrate.plan import make_plan
from migrate.render import compose_document, render_entrypoint
from tests.graph.conftest import load_fixture

pytestmark = pytest.mark.docker


def bridged_plan():
    inv = load_fixture("flagship-debian12")
    app = Evidence(analyzer="t", path="/opt/shop/app.py")
    inv.connections += [
        Connection(from_service="shop", scheme="postgresql", host="localhost", port=5432, database="shop",
                   url_redacted="postgresql://localhost/shop", via="psycopg2.connect()",
                   unix_socket="/var/run/postgresql/.s.PGSQL.5432", evidence=app),
        Connection(from_service="shop", scheme="redis", host="127.0.0.1", port=6379,
                   url_redacted="redis://127.0.0.1:6379", via="redis.Redis()", evidence=app)]
    return make_plan(inv)


def test_socket_volume_and_forwarder_reach_the_siblings(tmp_path, docker_engine, base_image) -> None:
    plan = bridged_plan()
    shop = plan.container("shop")
    entry = render_entrypoint(shop, [])
    assert entry is not None and "socat TCP-LISTEN:6379,bind=127.0.0.1" in entry
    tag = f"migbridge{uuid.uuid4().hex[:8]}:latest"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        files = {"Dockerfile": (f"FROM {base_image}\nRUN apt-get update && DEBIAN_FRONTEND=noninteractive "
                                "apt-get install -y --no-install-recommends socat && rm -rf /var/lib/apt/lists/*\n"
                                "COPY entrypoint /usr/local/bin/migrate-entrypoint\n"
                                'ENTRYPOINT ["/usr/local/bin/migrate-entrypoint"]\n').encode(),
                 "entrypoint": entry.encode()}
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    list(docker_engine.api.build(fileobj=context, custom_context=True, tag=tag, decode=True, rm=True))
    doc = compose_document(plan)
    keep = {"shop", "postgres", "redis"}
    services = {}
    for name in keep:
        svc = {k: v for k, v in doc["services"][name].items() if k in ("volumes", "networks")}
        svc["image"] = tag
        services[name] = svc
    # the servers: answer on the socket path and the port the plan has them listen on
    sock_dir = next(v.target for v in plan.container("postgres").volumes if v.volume == "postgres-socket")
    services["postgres"]["entrypoint"] = ["socat", f"UNIX-LISTEN:{sock_dir}/.s.PGSQL.5432,fork,mode=777",
                                          "SYSTEM:echo SOCKET-OK"]
    services["redis"]["entrypoint"] = ["socat", "TCP-LISTEN:6379,fork,reuseaddr", "SYSTEM:echo TCP-OK"]
    services["shop"]["command"] = ["sleep", "300"]
    project = f"migbr{uuid.uuid4().hex[:8]}"
    compose = {"name": project, "services": services,
               "volumes": {k: {} for k in doc["volumes"] if any(
                   v.get("source") == k for s in services.values() for v in s.get("volumes", []))},
               "networks": {n: {} for n in doc["networks"]}}
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(compose, sort_keys=False))
    try:
        res = docker_engine.compose("-p", project, "-f", str(path), "up", "-d", cwd=tmp_path)
        assert res.returncode == 0, res.output
        cid = docker_engine.containers([f"com.docker.compose.project={project}",
                                        "com.docker.compose.service=shop"])[0]["Id"]
        probes = {"TCP-OK": ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/6379 && timeout 5 cat <&3"],
                  "SOCKET-OK": ["socat", "-", "UNIX-CONNECT:/var/run/postgresql/.s.PGSQL.5432"]}
        for want, argv in probes.items():
            got = ""
            for _ in range(40):  # the servers and the forwarder start in the background
                got = docker_engine.exec(cid, argv).text.strip()
                if got == want:
                    break
                time.sleep(0.5)
            assert got == want, (argv, got)
    finally:
        docker_engine.compose("-p", project, "-f", str(path), "down", "-v", "-t", "1", cwd=tmp_path)
        docker_engine.remove_image(tag, force=True)
