"""Secrets that a file needs filled in at start-up, on a real engine and real guests.

- The round trip of a multi-line value (a PEM private key made by openssl): the secrets file that
  `convert --secrets-out` writes, read back by `up` and written to the stack's secret file, then
  rendered into a config file by the generated entrypoint inside a container of the local base
  image: byte for byte the key.
- The flagship VM converted for real: no secret value found in the guest (every value the inspection
  saw, not only the ones the test planted) in any generated file, templates live outside every build
  context, and after `docker build` no layer of any image holds one.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from types import SimpleNamespace

import pytest

from migrate.deploy import collect_secrets, format_secrets_file, load_stack, write_secret_files
from migrate.render import SECRET_TEMPLATE_DIR, FileFill, placeholder, render_template
from tests.build.stack_fixture import make_stack


@pytest.fixture(scope="module")
def pem_key(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("pem") / "key.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                    str(path)], check=True, capture_output=True)
    return path.read_text()


@pytest.mark.docker
def test_multiline_secret_rendered_by_the_entrypoint(tmp_path, pem_key, docker_engine, base_image) -> None:
    stack = load_stack(make_stack(tmp_path / "s", project="pemrender"))
    secrets_env = tmp_path / "secrets.env"
    secrets_env.write_text(format_secrets_file({"api_token": pem_key}))  # what convert --secrets-out writes
    os.chmod(secrets_env, 0o600)
    [secret_file] = write_secret_files(stack, collect_secrets(stack, secrets_env, environ={}))
    key_dest, conf_dest = "/etc/ssl/private/site.key", "/etc/app/app.conf"
    fills = [FileFill(dest=key_dest, template=SECRET_TEMPLATE_DIR + key_dest,
                      fills=[{"placeholder": placeholder("api_token"), "secret": "api_token"}]),
             FileFill(dest=conf_dest, template=SECRET_TEMPLATE_DIR + conf_dest,
                      fills=[{"placeholder": placeholder("db"), "secret": "db"}])]
    web = SimpleNamespace(name="web", forwarders=[])
    entry = render_template("entrypoint.sh.j2", c=web, env_fills=[], file_fills=fills)
    put = {
        "usr/local/bin/migrate-entrypoint": entry.encode(),
        # the whole key file was the secret: its template is the placeholder alone (generate.redact_known)
        f"{SECRET_TEMPLATE_DIR.lstrip('/')}{key_dest}": placeholder("api_token").encode(),
        f"{SECRET_TEMPLATE_DIR.lstrip('/')}{conf_dest}": f"user = app\npassword = {placeholder('db')}\n".encode(),
        "run/secrets/api_token": secret_file.read_bytes(),
        "run/secrets/db": b"s3cr3t-db\r\n",  # written on Windows: the CR of a one-line secret goes
        "etc/ssl/private/.keep": b"", "etc/app/.keep": b"",
    }
    res = docker_engine.run(base_image, ["sh", "/usr/local/bin/migrate-entrypoint", "sh", "-c",
                                         f"cat {key_dest}; echo =SEP=; cat {conf_dest}"], put=put, put_path="/")
    assert res.exit_code == 0, res.stderr.decode(errors="replace")
    key, _, conf = res.stdout.decode().partition("=SEP=\n")
    assert key == pem_key
    assert conf == "user = app\npassword = s3cr3t-db\n"


# --- the flagship, converted and built for real -------------------------------------------------------


@pytest.fixture(scope="module")
def flagship_converted(flagship_images, tmp_path_factory):
    """The stack convert writes, and every secret value an inspection of the same guest finds."""
    from migrate.analyzers.base import SecretVault
    from migrate.generate import convert
    from migrate.inspect import inventory_of, open_vm

    vault = SecretVault()
    with open_vm([flagship_images["qcow2"]]) as vm:
        inventory_of(vm, vault=vault)
    values = sorted(v for v in vault.values() if len(v) >= 4)
    assert set(flagship_images.facts["secrets"]) <= set(values)
    out = tmp_path_factory.mktemp("leak") / "shop-vm01"
    convert([flagship_images["qcow2"]], out)
    return out, values


@pytest.mark.image
def test_no_secret_value_in_any_generated_file(flagship_converted) -> None:
    out, values = flagship_converted
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 20
    for path in files:
        data = path.read_bytes()
        for value in values:
            assert value.encode() not in data, f"a guest secret value is in {path.relative_to(out)}"
    templates = [p for p in (out / "secret-templates").rglob("*") if p.is_file()]
    assert templates and all(b"@@MIGRATE_SECRET_" in p.read_bytes() for p in templates)
    contexts = [p.parent for p in out.glob("*/Dockerfile")]
    assert contexts and not any(list(ctx.rglob("secret-templates")) for ctx in contexts)


def _layer_files(image_tar: bytes):
    """(layer, path, content) of every regular file in every layer of a `docker save` archive."""
    with tarfile.open(fileobj=io.BytesIO(image_tar)) as outer:
        for member in outer.getmembers():
            if not member.name.endswith("layer.tar"):
                continue
            layer = outer.extractfile(member)
            assert layer is not None
            with tarfile.open(fileobj=io.BytesIO(layer.read())) as inner:
                for m in inner.getmembers():
                    if m.isfile():
                        f = inner.extractfile(m)
                        yield member.name, m.name, f.read() if f else b""


@pytest.mark.docker
@pytest.mark.image
def test_no_secret_value_in_any_image_layer(flagship_converted, docker_engine, base_image) -> None:
    from migrate.build import build_stack

    out, values = flagship_converted
    result = build_stack(out, base_image=base_image, engine=docker_engine)
    tags = load_stack(out).image_tags()
    assert tags
    checked = 0
    for service, tag in sorted(tags.items()):
        image_tar = b"".join(docker_engine.api.get_image(tag))
        for layer, path, data in _layer_files(image_tar):
            checked += 1
            for value in values:
                assert value.encode() not in data, f"{service}: a guest secret value is in {path} ({layer})"
    assert checked > 1000, result


def test_value_redaction_on_a_guest_tree(tmp_path) -> None:
    """generate with the values an inspection found: a value no key-based rule finds (planted in the
    application tree /opt/shop) makes that file a template outside the build context; a weak
    password that is also an identifier of the plan ("postgres") is left to the key-based redaction
    instead of making every file that names the server fail the leak check; a value no stack secret
    carries keeps its file out of the stack (listed as missing)."""
    from migrate.generate import generate
    from migrate.plan import make_plan
    from migrate.rootfs import RootFS
    from tests.generate.guest import REDIS_PASSWORD, make_guest
    from tests.graph.conftest import load_fixture

    guest = make_guest(tmp_path / "guest")
    (guest / "opt/shop/settings.py").write_text(f"CACHE = {{'password': '{REDIS_PASSWORD}'}}\n")
    (guest / "opt/shop/notes.txt").write_text("the old admin hash: hash-only-Zq9x7w\n")
    known = {REDIS_PASSWORD: "redis_password", "postgres": "postgres_shop_password", "hash-only-Zq9x7w": None}
    with RootFS.from_directory(guest) as fs:
        plan = make_plan(load_fixture("flagship-debian12"), reader=fs)
        assert any(f.source == "/opt/shop" and f.kind == "tree" for c in plan.containers for f in c.files)
        result = generate(plan, tmp_path / "out", fs, known_secrets=known)
    out = tmp_path / "out"
    for p in out.rglob("*"):
        if p.is_file():
            assert REDIS_PASSWORD.encode() not in p.read_bytes() and b"hash-only-Zq9x7w" not in p.read_bytes(), p
    template = out / "secret-templates/shop/opt/shop/settings.py"
    assert template.read_text() == "CACHE = {'password': '@@MIGRATE_SECRET_redis_password@@'}\n"
    assert not (out / "shop/rootfs/opt/shop/settings.py").exists()
    assert (out / "shop/rootfs/opt/shop/app.py").exists()
    entry = (out / "shop/rootfs/usr/local/bin/migrate-entrypoint").read_text()
    assert "/usr/local/share/migrate/secret-templates/opt/shop/settings.py" in entry
    compose = (out / "compose.yaml").read_text()
    assert "postgres" in compose and "./secret-templates/shop/opt/shop/settings.py" in compose
    assert ("shop", "/opt/shop/notes.txt") in {(c, p) for c, p, _ in result.missing}
