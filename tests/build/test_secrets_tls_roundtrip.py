"""The issue's third failure on a real guest (corpus-nginx-tls: nginx with TLS in front of an app):
`convert --secrets-out` wrote the TLS private key as a multi-line value that `up --secrets-file` then
rejected ("line 2: expected NAME=value"). Now the key goes out base64-encoded, comes back byte for
byte as the stack's secret file, and the key file in the stack is a placeholder-only template outside
every build context."""

from __future__ import annotations

import stat
import subprocess
import sys

import pytest

from migrate.deploy import collect_secrets, load_stack, read_secrets_file, write_secret_files
from migrate.inspect import open_vm

pytestmark = pytest.mark.image
KEY = "/etc/ssl/private/notes.example.internal.key"


@pytest.fixture(scope="module")
def tls_guest():
    from tests.images_fixtures import _sample

    images = _sample("corpus-nginx-tls")
    image = images.files["qcow2"]
    with open_vm([image]) as vm:
        key = vm.guest.rootfs.read_text(KEY)
    assert key.startswith("-----BEGIN PRIVATE KEY-----") and key.count("\n") > 20
    return image, key


def test_tls_key_round_trips_from_convert_to_up(tls_guest, tmp_path) -> None:
    image, key = tls_guest
    out, secrets = tmp_path / "stack", tmp_path / "secrets.env"
    proc = subprocess.run([sys.executable, "-m", "migrate", "convert", str(image), "-o", str(out),
                           "--secrets-out", str(secrets)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert "BEGIN PRIVATE KEY" not in secrets.read_text()  # one line per secret, the key base64-encoded
    values = read_secrets_file(secrets)
    [name] = [n for n, v in values.items() if v == key]

    # what `migrate up --secrets-file` does before starting the stack
    stack = load_stack(out)
    written = write_secret_files(stack, collect_secrets(stack, secrets, environ={}))
    [secret_file] = [p for p in written if p.name == f"{name}.txt"]
    assert secret_file.read_text() == key

    marker = key.splitlines()[1].encode()  # a line of the key body
    for path in out.rglob("*"):
        if path.is_file() and path != secret_file:
            assert marker not in path.read_bytes(), path.relative_to(out)
    templates = [p for p in (out / "secret-templates").rglob("*") if p.is_file() and p.name.endswith(".key")]
    assert templates and all(p.read_text().strip() == f"@@MIGRATE_SECRET_{name}@@" for p in templates)


def test_secrets_out_inside_the_stack_is_refused(tls_guest, tmp_path) -> None:
    image, _key = tls_guest
    out = tmp_path / "stack"
    proc = subprocess.run([sys.executable, "-m", "migrate", "convert", str(image), "-o", str(out),
                           "--secrets-out", str(out / "secrets.env")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "--secrets-out must be outside the stack directory" in proc.stderr
    assert not (out / "secrets.env").exists()
