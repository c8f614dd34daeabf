from __future__ import annotations

import re
from pathlib import Path

import pytest

from migrate.errors import InvalidDocument, UsageError
from migrate.model.plan import Plan
from migrate.plan import PlanOptions, build_options, choose_base_image, make_plan
from tests.graph.conftest import FIXTURES, check_golden, load_fixture

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {name: make_plan(load_fixture(name)) for name in FIXTURES}


@pytest.mark.parametrize("name", FIXTURES)
def test_plan_golden(name: str, plans: dict[str, Plan]) -> None:
    check_golden(GOLDEN / f"{name}.plan.yaml", plans[name].to_yaml())


@pytest.mark.parametrize("name", FIXTURES)
def test_every_decision_has_a_reason(name: str, plans: dict[str, Plan]) -> None:
    def walk(value: object, where: str) -> None:
        if isinstance(value, dict):
            if "reason" in value:
                assert value["reason"], f"{where}: empty reason"
            for k, v in value.items():
                walk(v, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")

    data = plans[name].model_dump(mode="json")
    walk(data, "plan")
    for c in data["containers"]:
        for key in ("base", "packages", "user", "command", "healthcheck", "deploy"):
            assert c[key]["reason"], (c["name"], key)


def test_flagship_plan(plans: dict[str, Plan]) -> None:
    p = plans["flagship-debian12"]
    assert [c.name for c in p.containers] == ["nginx", "postgres", "redis", "shop"]
    dropped = {d.service: d.reason for d in p.dropped}
    assert {"cron", "getty@tty1", "ssh", "systemd-networkd"} <= set(dropped) and all(dropped.values())
    tcp = {port.service for port in load_fixture("flagship-debian12").ports if port.port}
    assert set(dropped) & tcp == {"ssh"}  # the one network server left out is the VM's remote login
    shop = p.container("shop")
    env = {e.name: e for e in shop.environment}
    assert env["DATABASE_URL"].value == "postgresql://shop:****@postgres:5432/shop"
    assert env["DATABASE_URL"].secret == "postgres_shop_password"
    assert env["REDIS_URL"].value == "redis://:****@redis:6379/0"
    assert env["REDIS_URL"].secret == "redis_password"
    assert (shop.user.uid, shop.user.gid) == (990, 990)
    assert shop.command.argv == ["/usr/bin/python3", "/opt/shop/app.py"]
    assert [(d.service, d.condition) for d in shop.depends_on] == [("postgres", "service_healthy"),
                                                                    ("redis", "service_healthy")]
    assert {v.name for v in p.volumes} == {"postgres-data", "redis-data", "shop-data"}
    assert {s.name for s in p.secrets} == {"postgres_shop_password", "redis_password"}
    redis = p.container("redis")
    assert redis.files[0].secret_fills[0].secret == "redis_password"
    assert "/run/secrets/redis_password" in redis.healthcheck.test[1]
    pg = p.container("postgres")
    assert pg.command.argv[0] == "/usr/lib/postgresql/15/bin/postgres" and "listen_addresses=*" in pg.command.argv
    assert pg.healthcheck.kind == "pg_isready"
    assert p.container("nginx").ports[0].publish and not shop.ports[0].publish
    assert {p.spec for p in shop.packages.items} >= {"python3=3.11.2-1+b1", "python3-psycopg2=2.9.5-1+b1"}
    assert all(c.deploy.limits.cpus and c.deploy.limits.memory_mib for c in p.containers)
    assert sum(c.deploy.limits.memory_mib for c in p.containers) <= 2048  # the VM's OVF: 2 vCPU, 2048 MiB
    assert sum(c.deploy.limits.cpus for c in p.containers) <= 2.0 + 1e-9
    labels = shop.labels
    assert labels["com.example.docker.source-vm"] == "shop-vm01"
    assert {"org.opencontainers.image.title", "com.example.docker.environment",
            "com.example.docker.ops-guide", "com.example.docker.test-script"} <= set(labels)
    # the jobs that work on the shop's data run in its container; the VM's housekeeping is only reported
    assert {j.command: j.run_in for j in p.jobs if j.run_in} == {
        "find /var/lib/shop/uploads -name '*.tmp' -mtime +7 -delete": "shop",
        "tar -czf /srv/backups/shop-uploads.tgz -C /var/lib/shop uploads": "shop"}


@pytest.mark.parametrize(("name", "image", "manager", "spec"), [
    ("flagship-debian12", "debian:bookworm-slim", "apt", "nginx=1.22.1-9+deb12u9"),
    ("rocky9", "rockylinux:9", "dnf", "nginx-1:1.20.1-14.el9_2.1"),
    ("leap15", "opensuse/leap:15.5", "zypper", "nginx=1.21.5-150400.3.3.1"),
    ("alpine319", "alpine:3.19", "apk", "nginx=1.24.0-r15"),
])
def test_distro_families(plans: dict[str, Plan], name: str, image: str, manager: str, spec: str) -> None:
    nginx = plans[name].container("nginx")
    assert nginx.base.image == image and nginx.base.package_manager == manager
    assert spec in {p.spec for p in nginx.packages.items}


def test_ubuntu_and_unknown_family() -> None:
    inv = load_fixture("flagship-debian12")
    inv.os.distro, inv.os.version, inv.os.codename = "ubuntu", "22.04", "jammy"
    assert choose_base_image(inv).image == "ubuntu:22.04"
    inv.os.family = "windows"
    with pytest.raises(InvalidDocument, match="os.family"):
        choose_base_image(inv)


def test_fitness_blockers(plans: dict[str, Plan]) -> None:
    rocky = plans["rocky9"]
    kinds = {b.kind for b in rocky.fitness.blockers}
    assert kinds == {"kernel-module"}
    billing = rocky.container("billing")
    assert "specific-bind" in {b.kind for b in billing.fitness.blockers}
    assert billing.fitness.score < 100 and rocky.fitness.score < billing.fitness.score
    assert [x.subject for x in rocky.external] == ["billing -> relay.corp.example:25"]
    alpine_redis = plans["alpine319"].container("redis")
    assert "unmounted-data" in {b.kind for b in alpine_redis.fitness.blockers}
    assert plans["flagship-debian12"].fitness.score == 100


def test_config_inside_a_data_directory_is_not_copied(plans: dict[str, Plan]) -> None:
    pg = plans["rocky9"].container("postgres")
    assert not pg.files
    assert any("data directory" in x.reason for x in pg.left_out)


def test_yaml_round_trip(plans: dict[str, Plan]) -> None:
    for p in plans.values():
        again = Plan.from_yaml(p.to_yaml())
        assert again == p.canonical()
        assert again.to_yaml() == p.to_yaml()
    assert "mode: '0640'" in plans["flagship-debian12"].to_yaml()


def _edit(p: Plan, old: str, new: str) -> str:
    text = p.to_yaml()
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("    uid: 990\n", "    uid: nine\n", r"containers\[shop\]\.user\.uid"),
    ("  - reason: 'connects-to (DATABASE_URL", "  - service: nosuch\n    reason: 'connects-to (DATABASE_URL",
     "duplicate key 'service'"),
    ("    service: postgres\n    condition", "    service: nosuch\n    condition",
     r"containers\[shop\]\.depends_on\[0\]\.service: no container named 'nosuch'"),
    ("    volume: shop-data\n", "    volume: elsewhere\n", r"containers\[shop\]\.volumes\[0\]\.volume"),
    ("    port: 8080\n", "    port: 70000\n", r"containers\[shop\]\.ports\[0\]\.port"),
    ("kind: plan\n", "kind: inventory\n", "expected 'plan'"),
])
def test_invalid_edits_are_reported_precisely(plans: dict[str, Plan], old: str, new: str,
                                              message: str | None) -> None:
    text = _edit(plans["flagship-debian12"], old, new)
    with pytest.raises(InvalidDocument) as err:
        Plan.from_yaml(text, source="plan.yaml")
    assert str(err.value).startswith("plan.yaml: ")
    if message:
        import re

        assert re.search(message, str(err.value)), str(err.value)


def test_not_yaml() -> None:
    with pytest.raises(InvalidDocument, match="plan.yaml: not valid YAML"):
        Plan.from_yaml("a: [", source="plan.yaml")


def test_options_and_labels_config(tmp_path: Path) -> None:
    cfg = tmp_path / "labels.yaml"
    cfg.write_text("org: acme\nlabels:\n  environment: production\n  maintainer: ops@acme.example\n  geo: eu-west\n")
    opts = build_options(labels_config=cfg, labels=["environment=prod"])
    assert opts.org == "acme" and opts.labels == {"environment": "prod", "maintainer": "ops@acme.example",
                                                  "geo": "eu-west"}
    p = make_plan(load_fixture("flagship-debian12"), options=opts)
    labels = p.container("shop").labels
    assert labels["com.acme.docker.environment"] == "prod"
    assert labels["com.acme.docker.geo"] == "eu-west"
    assert re.fullmatch(r"acme/shop-vm01-shop:plan-[0-9a-f]{10}", p.container("shop").image)
    with pytest.raises(UsageError):
        build_options(labels=["colour=blue"])
    cfg.write_text("org: acme\nlabels:\n  colour: blue\n")
    with pytest.raises(InvalidDocument, match="colour"):
        build_options(labels_config=cfg)


def test_base_image_override() -> None:
    p = make_plan(load_fixture("rocky9"), options=PlanOptions(base_image="almalinux:9"))
    assert {c.base.image for c in p.containers} == {"almalinux:9"}
    assert "set by the user" in p.containers[0].base.reason


def test_debian_wrapper_unit_with_the_role_is_planned() -> None:
    """inspect may attribute PostgreSQL to Debian's postgresql.service wrapper (/bin/true, no user)."""
    inv = load_fixture("flagship-debian12")
    inv.services = [s for s in inv.services if s.name != "postgresql@15-main"]
    wrapper = next(s for s in inv.services if s.name == "postgresql")
    wrapper.role = "postgresql"
    for item in [*inv.ports, *inv.configs, *inv.persistent_paths]:
        if item.service == "postgresql@15-main":
            item.service = "postgresql"
    # the template unit itself, as inspect reports it, and the analyzers' name for unit files
    inv.services.append(wrapper.model_copy(update={"name": "postgresql@", "role": None, "state": "disabled",
                                                   "exec_start": ["/usr/bin/pg_ctlcluster", "%i", "start"]}))
    for c in inv.configs:
        if c.kind == "unit":
            c.kind = "systemd-unit"
    p = make_plan(inv)
    assert "postgresql@" in {d.service for d in p.dropped}
    shop = p.container("shop")
    assert "Requires=postgresql.service" in shop.depends_on[0].reason
    assert not any(f.source.endswith(".service") for f in shop.files)
    pg = p.container("postgres")
    assert pg is not None and pg.source_service == "postgresql"
    assert pg.command.argv[:3] == ["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/15/main"]
    assert (pg.user.name, pg.user.uid, pg.user.gid) == ("postgres", 102, 106)
    assert "drops privileges" in pg.user.reason
    assert [d.service for d in p.container("shop").depends_on] == ["postgres", "redis"]


@pytest.mark.parametrize(("schedule", "seconds"), [
    ("*/15 * * * *", 900), ("* * * * *", 60), ("@hourly", 3600), ("0 * * * *", 3600), ("5 */6 * * *", 21600),
    ("15 3 * * *", None), ("*/7 * * * *", None), ("0 4 * * 0", None), ("@daily", None), ("", None),
])
def test_cron_interval(schedule: str, seconds: int | None) -> None:
    from migrate.plan import cron_interval

    assert cron_interval(schedule) == seconds
