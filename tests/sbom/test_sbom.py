"""CycloneDX SBOMs of VMs and generated images: validated against the spec's JSON schema with
cyclonedx-python-lib's strict validator, package URLs per the purl spec, deterministic, secret-free.

The VM documents come from the real flagship inventory fixture (and the hand-made rpm/apk ones,
the only rpm/apk inventories this machine can make, see docs/testing.md); the image documents from
stacks generated from them with the planted-password guest of tests/generate/guest.py, and, end to
end, from `migrate convert --sbom` on the real flagship VM image."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from migrate.generate import generate
from migrate.model.plan import Plan
from migrate.plan import make_plan
from migrate.rootfs import RootFS
from migrate.sbom import SPEC, inventory_bom, plan_boms, stack_bom
from tests.generate.guest import PASSWORDS, make_guest
from tests.graph.conftest import INVENTORIES, load_fixture

EPOCH = {"SOURCE_DATE_EPOCH": "1700000000"}
INVENTORY_FILE = INVENTORIES / "flagship-debian12.json"


def valid(text: str) -> dict:
    error = JsonStrictValidator(SPEC).validate_str(text)
    assert error is None, f"not valid CycloneDX {SPEC.to_version()}: {error}"
    return json.loads(text)


def test_spec_is_the_newest_the_library_writes() -> None:
    from cyclonedx.schema import SchemaVersion

    assert max(SchemaVersion, key=lambda v: v.value) == SPEC and SPEC.to_version() >= "1.6"


def test_vm_sbom_debian_purls_and_evidence() -> None:
    inv = load_fixture("flagship-debian12")
    doc = valid(inventory_bom(inv, environ=EPOCH))
    assert doc["specVersion"] == SPEC.to_version() and doc["bomFormat"] == "CycloneDX"
    by_name = {c["name"]: c for c in doc["components"]}
    installed = {p.name: p for p in inv.packages if p.state == "installed"}
    assert set(by_name) == set(installed)
    nginx = installed["nginx"]
    purl = PackageURL.from_string(by_name["nginx"]["purl"])
    assert (purl.type, purl.namespace, purl.name, purl.version) == ("deb", "debian", "nginx", nginx.version)
    assert purl.qualifiers == {"arch": nginx.arch, "distro": "debian-12"}
    assert by_name["nginx"]["purl"].startswith("pkg:deb/debian/nginx@1.22.1-9%2B")  # '+' encoded, per the spec
    props = {p["name"]: p["value"] for p in by_name["nginx"]["properties"]}
    assert props["migrate:evidence"] == "/var/lib/dpkg/status"
    meta = doc["metadata"]
    assert meta["component"]["name"] == inv.name and meta["component"]["type"] == "operating-system"
    assert meta["timestamp"].startswith("2023-11-14T22:13:20")
    assert meta["tools"]["components"][0]["name"] == "migrate"


@pytest.mark.parametrize(("fixture", "purl_start", "qualifier"), [
    ("rocky9", "pkg:rpm/rocky/", "distro=rocky-9.3"),
    ("leap15", "pkg:rpm/opensuse-leap/", "distro=opensuse-leap-15.5"),
    ("alpine319", "pkg:apk/alpine/", "distro=alpine-3.19.1"),
])
def test_vm_sbom_rpm_and_apk_purls(fixture: str, purl_start: str, qualifier: str) -> None:
    doc = valid(inventory_bom(load_fixture(fixture), environ=EPOCH))
    purls = [c["purl"] for c in doc["components"]]
    assert purls and all(p.startswith(purl_start) and qualifier in p and "arch=x86_64" in p for p in purls)


def test_rpm_epoch_becomes_a_qualifier() -> None:
    inv = load_fixture("rocky9")
    inv.packages[0].version = "2:" + inv.packages[0].version
    doc = valid(inventory_bom(inv, environ=EPOCH))
    purl = next(c["purl"] for c in doc["components"] if c["name"] == inv.packages[0].name)
    assert "epoch=2" in purl and "@2:" not in purl and "%3A" not in purl.split("?")[0]


def test_deterministic_serial_and_settable_timestamp() -> None:
    inv = load_fixture("flagship-debian12")
    a, b = inventory_bom(inv, environ=EPOCH), inventory_bom(inv, environ=EPOCH)
    assert a == b
    other = inventory_bom(inv, environ={"SOURCE_DATE_EPOCH": "0"})
    assert json.loads(other)["serialNumber"] == json.loads(a)["serialNumber"], "the serial derives from content"
    inv.packages = inv.packages[1:]
    assert json.loads(inventory_bom(inv, environ=EPOCH))["serialNumber"] != json.loads(a)["serialNumber"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> tuple[Plan, Path]:
    guest = make_guest(tmp_path_factory.mktemp("guest"))
    with RootFS.from_directory(guest) as fs:
        plan = make_plan(load_fixture("flagship-debian12"), reader=fs)
        out = generate(plan, tmp_path_factory.mktemp("stack") / "shop", fs).outdir
    return plan, out


def test_image_sboms_packages_and_hashed_files(stack: tuple[Plan, Path]) -> None:
    plan, outdir = stack
    docs = plan_boms(plan, outdir, environ=EPOCH)
    assert set(docs) == {c.name for c in plan.containers}
    for c in plan.containers:
        doc = valid(docs[c.name])
        meta = doc["metadata"]["component"]
        assert meta["type"] == "container" and f"{meta['name']}:{meta['version']}" == c.image
        comps = doc["components"]
        pinned = {(x["name"], x["version"]) for x in comps if x["type"] == "library"}
        assert pinned == {(p.name, p.version) for p in c.packages.items}
        assert any(x["type"] == "container" and x["name"] == c.base.image for x in comps)
        files = {x["name"]: x for x in comps if x["type"] == "file"}
        for f in c.files:
            assert any(n == f.dest or n.startswith(f.dest.rstrip("/") + "/") for n in files), f.dest
        for name, x in files.items():
            if x.get("hashes"):
                data = (outdir / c.name / "rootfs" / name.lstrip("/")).read_bytes()
                assert x["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256(data).hexdigest()}]
    nginx = {x["name"]: x for x in json.loads(docs["nginx"])["components"]}
    page = nginx["/var/www/shop/index.html"]
    assert {"name": "migrate:guest-source", "value": "/var/www/shop/index.html"} in page["properties"]


def test_stack_sbom_nests_each_image(stack: tuple[Plan, Path]) -> None:
    plan, outdir = stack
    doc = valid(stack_bom(plan, outdir, environ=EPOCH))
    images = {c["bom-ref"]: c for c in doc["components"]}
    assert set(images) == {f"image:{c.image}" for c in plan.containers}
    assert all(c.get("components") for c in images.values())


def test_no_secret_in_any_sbom(stack: tuple[Plan, Path]) -> None:
    plan, outdir = stack
    texts = [*plan_boms(plan, outdir, environ=EPOCH).values(), stack_bom(plan, outdir, environ=EPOCH),
             inventory_bom(load_fixture("flagship-debian12"), environ=EPOCH)]
    for text in texts:
        for secret in PASSWORDS:
            assert secret not in text


def _cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migrate", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600, env={**os.environ, **EPOCH})


def _main(capsys, *args: str | Path) -> tuple[int, str, str]:
    """The real CLI entry point in this process (exit codes mapped by migrate.cli.main), quicker than a
    subprocess per call; the end-to-end test below runs the command as a process."""
    from migrate.cli.main import main

    argv = sys.argv
    sys.argv = ["migrate", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = argv
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_sbom_sources_and_errors(stack: tuple[Plan, Path], tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH["SOURCE_DATE_EPOCH"])
    plan, outdir = stack
    inv_file = tmp_path / "inventory.json"
    inv_file.write_text(load_fixture("flagship-debian12").to_json())
    code, out, err = _main(capsys, "sbom", inv_file, "-o", tmp_path / "vm.cdx.json", "--json")
    assert code == 0, err
    assert json.loads(out)["describes"] == "the VM shop-vm01"
    assert (tmp_path / "vm.cdx.json").read_text() == inventory_bom(load_fixture("flagship-debian12"), environ=EPOCH)
    code, _, err = _main(capsys, "sbom", outdir, "-s", "nginx", "-o", tmp_path / "nginx.cdx.json")
    assert code == 0, err
    assert valid((tmp_path / "nginx.cdx.json").read_text())["metadata"]["component"]["name"].endswith("-nginx")
    code, _, err = _main(capsys, "sbom", outdir / "plan.yaml", "-o", tmp_path / "stack.cdx.json")
    assert code == 0, err
    assert (tmp_path / "stack.cdx.json").read_text() == stack_bom(plan, outdir, environ=EPOCH)
    code, _, err = _main(capsys, "sbom", outdir, "-s", "nope", "-o", tmp_path / "x.json")
    assert code == 2 and "no such service" in err and not (tmp_path / "x.json").exists()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = _main(capsys, "sbom", bad, "-o", tmp_path / "y.json")
    assert code == 20 and "bad.json" in err and "Traceback" not in err
    assert not (tmp_path / "y.json").exists()


def test_convert_sbom_on_the_real_flagship(flagship_images, tmp_path: Path) -> None:
    """End to end on the real VM image: every document valid, one per image plus the VM's, no secret
    of the guest in any of them."""
    out = tmp_path / "stack"
    r = _cli("convert", flagship_images["qcow2"], "-o", out, "--sbom")
    assert r.returncode == 0, r.stderr
    plan = Plan.load(out / "plan.yaml")
    written = sorted(p.name for p in (out / "sbom").iterdir())
    assert written == sorted([f"{c.name}.cdx.json" for c in plan.containers] + ["_vm.cdx.json"])
    for f in (out / "sbom").iterdir():
        text = f.read_text()
        valid(text)
        for secret in flagship_images.facts["secrets"]:
            assert secret not in text, f"{f.name} holds a secret of the guest"
    vm = json.loads((out / "sbom" / "_vm.cdx.json").read_text())
    assert any(c["purl"].startswith("pkg:deb/debian/postgresql-15@") for c in vm["components"])
    shop = json.loads((out / "sbom" / "shop.cdx.json").read_text())
    assert any(c["type"] == "file" and c.get("hashes") for c in shop["components"])
    inv_sbom = tmp_path / "vm.cdx.json"
    r = _cli("inspect", flagship_images["qcow2"], "--sbom", inv_sbom)
    assert r.returncode == 0, r.stderr
    assert valid(inv_sbom.read_text()) == vm, "inspect --sbom and convert --sbom describe the same VM alike"


def test_built_image_lists_every_package(docker_engine, base_image: str) -> None:
    """--built: the image's own package database (here the real local Debian base image) gives the
    whole list, the plan's pins marked with their reason, the rest as installed by resolution/base."""
    from migrate.model.plan import PinnedPackage
    from migrate.sbom import container_bom, installed_in_image

    rows = installed_in_image(docker_engine, base_image, "apt")
    names = {r[0] for r in rows}
    assert {"dpkg", "bash", "libc6", "base-files"} <= names and len(rows) == len(names)
    plan = make_plan(load_fixture("flagship-debian12"))
    c = plan.container("redis")
    c.image = base_image
    bash = next(r for r in rows if r[0] == "bash")
    c.packages.items = [PinnedPackage(name="bash", version=bash[1], spec=f"bash={bash[1]}", reason="test pin")]
    doc = valid(container_bom(plan, c, installed=rows, environ=EPOCH))
    libs = {x["name"]: x for x in doc["components"] if x["type"] == "library"}
    assert set(libs) == names
    assert {"name": "migrate:reason", "value": "test pin"} in libs["bash"]["properties"]
    assert any(p["name"] == "migrate:installed-by" for p in libs["libc6"]["properties"])
    libc = PackageURL.from_string(libs["libc6"]["purl"])
    assert libc.qualifiers == {"arch": "amd64", "distro": "debian-12"} and libc.namespace == "debian"


@pytest.mark.docker
def test_cli_built_needs_the_images(tmp_path: Path, capsys, docker_engine) -> None:
    plan = make_plan(load_fixture("flagship-debian12"))
    for c in plan.containers:
        c.image = f"migrate-test/never-built-{c.name}:x"
    (tmp_path / "plan.yaml").write_text(plan.to_yaml())
    code, _, err = _main(capsys, "sbom", tmp_path / "plan.yaml", "--built", "-o", tmp_path / "s.json")
    assert code == 2 and "is not built" in err and not (tmp_path / "s.json").exists()
    code, _, err = _main(capsys, "sbom", INVENTORY_FILE, "--built", "-o", tmp_path / "s.json")
    assert code == 2 and "--built apply to a plan" in err
