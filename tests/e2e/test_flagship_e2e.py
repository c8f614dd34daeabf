"""The whole chain on the flagship VM, on a real engine: convert -> base image -> build -> data
export/import -> up (Compose, then swarm) -> verify -> down, asserting what the VM did: nginx
reaches the app, the app returns the migrated PostgreSQL rows, Redis answers with its password, the
uploads in the data volume match the guest's checksums, no secret in any image, nothing left over."""

from __future__ import annotations

import json
import os
import time

import pytest

from migrate.build import build_stack
from migrate.data import export_data, import_data, read_volume
from migrate.deploy import down, leftovers, load_stack, up
from migrate.model.inventory import Inventory
from migrate.verify import Prober, detect_mode, http_get, verify_stack

pytestmark = [pytest.mark.docker, pytest.mark.image]


@pytest.fixture(scope="module")
def converted(flagship_images, tmp_path_factory, docker_engine, base_image):
    from migrate.generate import convert

    out = tmp_path_factory.mktemp("e2e") / "shop-vm01"
    t0 = time.monotonic()
    convert([flagship_images["qcow2"]], out)
    t_convert = time.monotonic() - t0
    facts = flagship_images.facts
    secrets = out.parent / "secrets.env"
    stack = load_stack(out)
    lines = [f"{n}={facts['passwords']['redis'] if 'redis' in n else facts['passwords']['postgresql']}"
             for n in stack.secrets]
    secrets.write_text("\n".join(lines) + "\n")
    os.chmod(secrets, 0o600)
    build = build_stack(out, base_image=base_image, engine=docker_engine)
    export = out.parent / "data"
    manifest = export_data([flagship_images["qcow2"]], export, inventory=Inventory.load(out / "inventory.json"))
    print(json.dumps({"convert_s": round(t_convert, 1), "build_s": build.seconds}))
    yield out, secrets, export, manifest, facts
    down(out, volumes=True, engine=docker_engine)


@pytest.mark.parametrize("swarm", [False, True], ids=["compose", "swarm"])
def test_flagship_end_to_end(converted, docker_engine, base_image, swarm) -> None:
    out, secrets, export, manifest, facts = converted
    if swarm and not docker_engine.swarm_active():
        pytest.fail("the engine is not a swarm manager: scripts/setup-host.sh runs `docker swarm init`")
    stack = load_stack(out)
    project = stack.name
    report = import_data(export, project, mode="swarm" if swarm else "compose", stack_dir=out,
                         base_image=base_image, engine=docker_engine)
    assert report.ok, [(v.volume, v.mismatches[:5]) for v in report.volumes if not v.ok]
    try:
        result = up(out, swarm=swarm, secrets_file=secrets, timeout=420, engine=docker_engine)
        assert all(s.ready for s in result.services)
        vr = verify_stack(out, secrets_file=secrets, engine=docker_engine)
        assert not vr.failed, [c.model_dump() for c in vr.failed]
        for value in facts["secrets"]:
            assert value not in vr.to_json()
        assert {c.kind for c in vr.checks} >= {"tcp", "http", "edge", "secret_scan", "user", "redis_ping"}
        assert any(c.kind == "pg_isready" and c.ok for c in vr.checks)
        assert any(c.kind == "redis_ping" and c.ok and "password" in (c.detail or "") for c in vr.checks)
        # HTTP through nginx reaches the app, which reads the migrated rows from PostgreSQL
        p = Prober(docker_engine, project, detect_mode(docker_engine, project), list(stack.services))
        status, headers, body = http_get(p, p.first("shop"), "nginx", 80, "/api/items")
        assert status == 200, body[:500]
        assert len(json.loads(body)["items"]) == facts["database"]["rows"]
        # the uploads volume holds the guest's files, byte for byte
        shop_vol = stack.volume_for_path("/var/lib/shop")
        attrs, hashes = read_volume(docker_engine, base_image, f"{project}_{shop_vol}")
        for guest_path, digest in facts["data_files"].items():
            assert hashes[guest_path.removeprefix("/var/lib/shop/")] == digest
        assert all(c.ok for c in vr.checks if c.kind == "secret_scan")
    finally:
        res = down(out, volumes=True, engine=docker_engine)
    assert res.leftovers == [] and leftovers(docker_engine, project, volumes=True) == []
