"""Issue 3's "done means" on the real flagship image: `migrate convert` yields the graph, four
multi-stage build contexts and a compose file both validators accept, with volumes, secrets and the
app's DATABASE_URL pointing at postgres by name; --secrets-out carries the VM's passwords over."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys

import pytest
import yaml

from migrate.model.graph import ServiceGraph
from tests.generate.dockerfile import parse

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def converted(flagship_images, tmp_path_factory):
    base = tmp_path_factory.mktemp("convert")
    out, secrets = base / "stack", base / "secrets.env"
    proc = subprocess.run([sys.executable, "-m", "migrate", "convert", str(flagship_images["qcow2"]), "-o", str(out),
                           "--secrets-out", str(secrets)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for value in flagship_images.facts["secrets"]:
        assert value not in proc.stdout + proc.stderr
    return out, secrets


def test_graph_edges(converted):
    out, _ = converted
    graph = ServiceGraph.load(out / "graph.json")
    edges = {(e.source, e.target) for e in graph.edges if e.kind == "connects-to"}
    svc = {n.label: n.id for n in graph.nodes if n.kind == "service"}
    assert (svc["nginx"], svc["shop"]) in edges
    assert (svc["shop"], svc["postgresql"]) in edges
    assert (svc["shop"], svc["redis-server"]) in edges


def test_four_multistage_build_contexts(converted):
    out, _ = converted
    compose = yaml.safe_load((out / "compose.yaml").read_text())
    built = {name for name, s in compose["services"].items() if "build" in s}
    assert {"nginx", "shop", "postgres", "redis"} <= built
    for name in ("nginx", "shop", "postgres", "redis"):
        instructions = parse((out / name / "Dockerfile").read_text())
        assert sum(i.name == "FROM" for i in instructions) >= 2, name
        user = [i.args for i in instructions if i.name == "USER"][-1]
        assert user.split(":")[0].isdigit(), (name, user)
        assert (out / name / ".dockerignore").is_file()


def test_compose_volumes_secrets_and_rewritten_url(converted):
    out, _ = converted
    compose = yaml.safe_load((out / "compose.yaml").read_text())
    assert {"postgres-data", "redis-data", "shop-data"} <= set(compose["volumes"])
    assert {"postgres_shop_password", "redis_password"} <= set(compose["secrets"])
    shop = compose["services"]["shop"]
    assert "@postgres:5432/shop" in shop["environment"]["DATABASE_URL"]
    assert "@redis:6379" in shop["environment"]["REDIS_URL"]
    assert all("deploy" in s and "labels" in s for s in compose["services"].values())


def test_both_validators_accept(converted):
    out, _ = converted
    compose = shutil.which("docker-compose") or os.path.join(os.path.dirname(sys.executable), "docker-compose")
    proc = subprocess.run([compose, "-f", "compose.yaml", "-f", "compose.debug.yaml", "config", "-q"], cwd=out,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(["docker", "stack", "config", "-c", "compose.yaml"], cwd=out, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_no_secret_in_any_generated_file_and_secrets_out(converted, flagship_images):
    out, secrets = converted
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for value in flagship_images.facts["secrets"]:
                assert value.encode() not in data, path
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in secrets.read_text().splitlines())
    assert values == {"postgres_shop_password": flagship_images.facts["passwords"]["postgresql"],
                      "redis_password": flagship_images.facts["passwords"]["redis"]}


def test_ova_converts_to_the_same_files_as_qcow2(converted, flagship_images, tmp_path):
    """The guest is opened once, OVA unpacking included, for both inspecting and reading configs
    (an OVA used to lose its config files: the second open did not unpack it)."""
    out, _ = converted
    ova_out = tmp_path / "stack"
    proc = subprocess.run([sys.executable, "-m", "migrate", "convert", str(flagship_images["ova"]), "-o",
                           str(ova_out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr

    def files(root):
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    qcow2_files, ova_files = files(out), files(ova_out)
    assert sorted(ova_files) == sorted(qcow2_files)
    # the OVA also carries the VM's sizing (its OVF descriptor): resource limits and their reasons, and the
    # inventory's source and sizing, are the only things allowed to differ; every build context is identical
    sized = {"compose.yaml", "plan.yaml", "README.md", "inventory.json"}
    for rel in sorted(set(qcow2_files) - sized):
        assert ova_files[rel] == qcow2_files[rel], rel

    def unsized_compose(data: bytes) -> dict:
        doc = yaml.safe_load(data)
        for svc in doc["services"].values():
            svc.get("deploy", {}).pop("resources", None)
        return doc

    def unsized_plan(data: bytes) -> dict:
        doc = yaml.safe_load(data)
        for c in doc["containers"]:
            for key in ("limits", "reservations", "reason"):
                c["deploy"].pop(key)
        return doc

    def unsized_inventory(data: bytes) -> dict:
        doc = json.loads(data)
        for key in ("analyzers", "images", "sizing"):  # analyzer timings, the source files, the OVF sizing
            doc.pop(key)
        return doc

    def unsized_readme(data: bytes) -> list[str]:
        return [line for line in data.decode().splitlines() if not line.startswith("- deploy:")]

    for rel, strip in (("compose.yaml", unsized_compose), ("plan.yaml", unsized_plan),
                       ("inventory.json", unsized_inventory), ("README.md", unsized_readme)):
        assert strip(ova_files[rel]) == strip(qcow2_files[rel]), rel
    ova_compose = yaml.safe_load(ova_files["compose.yaml"])
    assert all(svc["deploy"]["resources"]["limits"]["cpus"] for svc in ova_compose["services"].values()
               if "deploy" in svc)
    assert json.loads(ova_files["inventory.json"])["sizing"]["vcpus"] == flagship_images.facts["vm"]["cpus"]
