"""Swarm without IPVS: services reach each other only with endpoint_mode dnsrr and host-mode ports
(measured here: a VIP answers "No route to host"). The real swarm deploy is in tests/e2e."""

from pathlib import Path

import yaml

from migrate.deploy import _host_mode_port, load_stack, swarm_compose_file


def test_host_mode_ports():
    assert _host_mode_port("80:8080") == {"target": 8080, "published": 80, "protocol": "tcp", "mode": "host"}
    assert _host_mode_port("127.0.0.1:5432:5432/tcp")["host_ip"] == "127.0.0.1"
    assert _host_mode_port({"target": 80, "published": 8000}) == {"target": 80, "published": 8000, "mode": "host"}


def test_dnsrr_rewrite(tmp_path):
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump({
        "name": "demo",
        "services": {"web": {"image": "example/web:1", "ports": ["80:80"], "deploy": {"replicas": 2}},
                     "db": {"image": "example/db:1"}},
    }))
    stack = load_stack(tmp_path)
    path, mode = swarm_compose_file(stack, "dnsrr")
    data = yaml.safe_load(path.read_text())
    assert mode == "dnsrr" and "name" not in data
    assert data["services"]["web"]["deploy"] == {"replicas": 2, "endpoint_mode": "dnsrr"}
    assert data["services"]["web"]["ports"][0]["mode"] == "host"
    assert data["services"]["db"]["deploy"]["endpoint_mode"] == "dnsrr"
    path, mode = swarm_compose_file(stack, "vip")
    assert mode == "vip" and "endpoint_mode" not in yaml.safe_load(path.read_text())["services"]["web"]["deploy"]


def test_stack_paths_are_absolute_for_a_relative_outdir(tmp_path, monkeypatch):
    """Compose runs with cwd = the stack directory; a relative -f path would point nowhere
    (found by `make demo`, which passes out/demo/stack)."""
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "compose.yaml").write_text(yaml.safe_dump({"services": {"web": {"image": "x:1"}}}))
    monkeypatch.chdir(tmp_path)
    stack = load_stack(Path("stack"))
    assert stack.dir.is_absolute() and stack.compose_file.is_absolute()
