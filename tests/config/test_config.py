"""The project config file (migrate.yaml): found from the working directory up to the repository root,
validated (unknown keys and bad values name the file and the key, exit 45), and used by the planner
for image names, OCI labels, org labels and base images."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from migrate.config import ProjectConfig, find_project_config, load_project_config
from migrate.errors import EXIT_CODES, ConfigError
from migrate.plan import build_options, make_plan
from tests.graph.conftest import INVENTORIES, load_fixture

FULL = """\
registry: registry.acme.example:5000
org: acme
tag: "2026.12"
labels:
  environment: production
  maintainer: ops@acme.example
image_labels:
  source: https://git.acme.example/migration/shop
  revision: 3f2a9c1
  authors: Platform team <platform@acme.example>
  licenses: Proprietary
base_images:
  "debian:12": registry.acme.example:5000/base/debian:bookworm-slim
  rocky: registry.acme.example:5000/base/rocky:9
cost_per_host:
  amount: 4200
  currency: EUR
  period: year
"""


def test_found_in_the_working_directory_or_a_parent_up_to_the_repo_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    deep = repo / "vms" / "shop"
    deep.mkdir(parents=True)
    assert find_project_config(deep) is None
    assert load_project_config(deep) == ProjectConfig()
    (tmp_path / "migrate.yaml").write_text("org: outside\n")  # above the repo root: not this project's
    assert find_project_config(deep) is None
    (repo / ".migrate.yaml").write_text("org: acme\n")
    assert find_project_config(deep) == repo / ".migrate.yaml"
    (deep / "migrate.yaml").write_text("org: shopteam\n")
    assert load_project_config(deep).org == "shopteam"
    (deep / ".migrate.yaml").write_text("org: other\n")
    with pytest.raises(ConfigError, match="both migrate.yaml and .migrate.yaml"):
        find_project_config(deep)


def test_every_setting_is_typed(tmp_path: Path) -> None:
    (tmp_path / "migrate.yaml").write_text(FULL)
    cfg = load_project_config(tmp_path)
    assert cfg.path == tmp_path / "migrate.yaml"
    assert cfg.registry == "registry.acme.example:5000" and cfg.tag == "2026.12"
    assert cfg.cost_per_host is not None and cfg.cost_per_host.amount == 4200.0
    assert cfg.cost_per_host.period == "year"
    assert cfg.base_image_for("debian", "12") == "registry.acme.example:5000/base/debian:bookworm-slim"
    assert cfg.base_image_for("rocky", "9.3") == "registry.acme.example:5000/base/rocky:9"
    assert cfg.base_image_for("alpine", "3.19.1") is None


@pytest.mark.parametrize(("text", "message"), [
    ("registy: r.example\n", r"unknown key 'registy' \(known: registry, org, tag"),
    ("image_labels:\n  sauce: x\n", r"unknown key 'image_labels.sauce' \(known: source, revision"),
    ("labels:\n  colour: blue\n", r"labels.colour"),
    ("tag: 'has space'\n", r"tag: 'has space' is not a valid value here"),
    ("cost_per_host:\n  amount: -1\n", r"cost_per_host.amount"),
    ("cost_per_host:\n  amount: 10\n  period: week\n", r"'week' is not one of"),
    ("- a list\n", r"expected a mapping"),
    ("org: [unclosed\n", r"not valid YAML"),
])
def test_bad_config_names_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "migrate.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_project_config(tmp_path)
    assert str(path) in str(info.value)


def test_exit_code_45_is_registered() -> None:
    assert EXIT_CODES["ConfigError"] == 45 and EXIT_CODES["PushFailed"] == 46


def test_plan_takes_names_labels_and_base_images_from_the_config(tmp_path: Path) -> None:
    (tmp_path / "migrate.yaml").write_text(FULL)
    options = build_options(project=load_project_config(tmp_path))
    plan = make_plan(load_fixture("flagship-debian12"), options=options)
    nginx = plan.container("nginx")
    assert nginx.image == "registry.acme.example:5000/acme/shop-vm01-nginx:2026.12"
    assert nginx.base.image == "registry.acme.example:5000/base/debian:bookworm-slim"
    assert "base_images in" in nginx.base.reason and "migrate.yaml" in nginx.base.reason
    oci = {k.removeprefix("org.opencontainers.image."): v for k, v in nginx.labels.items()
           if k.startswith("org.opencontainers.image.")}
    assert oci["version"] == "2026.12" and oci["source"] == "https://git.acme.example/migration/shop"
    assert oci["revision"] == "3f2a9c1" and oci["authors"].startswith("Platform team")
    assert oci["licenses"] == "Proprietary" and oci["title"] == "nginx" and oci["vendor"] == "acme"
    assert nginx.labels["com.acme.docker.environment"] == "production"
    # the command line still wins over the file
    options = build_options(org="other", labels=["environment=test"], project=load_project_config(tmp_path))
    plan = make_plan(load_fixture("flagship-debian12"), options=options)
    assert plan.container("nginx").image == "registry.acme.example:5000/other/shop-vm01-nginx:2026.12"
    assert plan.container("nginx").labels["com.other.docker.environment"] == "test"


def test_default_names_without_a_config() -> None:
    plan = make_plan(load_fixture("flagship-debian12"), options=build_options(project=ProjectConfig()))
    for c in plan.containers:
        assert re.fullmatch(rf"migrate/shop-vm01-{c.name}:plan-[0-9a-f]{{10}}", c.image), c.image
        assert c.labels["org.opencontainers.image.version"] == c.image.rsplit(":", 1)[1]
    again = make_plan(load_fixture("flagship-debian12"), options=build_options(project=ProjectConfig()))
    assert [c.image for c in again.containers] == [c.image for c in plan.containers], "tags are reproducible"
    # a new package version in the VM changes what the nginx image is built from: its tag, and only its
    inv = load_fixture("flagship-debian12")
    pinned = plan.container("nginx").packages.items[0].name
    next(p for p in inv.packages if p.name == pinned).version += "+local1"
    changed = {c.name: c.image for c in make_plan(inv, options=build_options(project=ProjectConfig())).containers}
    assert {n for n, img in changed.items() if img != plan.container(n).image} == {"nginx"}


def test_cli_bad_config_exit_45_without_output(tmp_path: Path, capsys, monkeypatch) -> None:
    from migrate.cli.main import main

    (tmp_path / ".git").mkdir()
    (tmp_path / "migrate.yaml").write_text("org: acme\nregistry_url: r.example\n")
    out = tmp_path / "plan.yaml"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["migrate", "plan", str(INVENTORIES / "flagship-debian12.json"), "-o", str(out)])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 45, err
    assert "migrate.yaml" in err and "registry_url" in err and "Traceback" not in err
    assert not out.exists()
