"""The secrets file that `convert --secrets-out` writes and `up --secrets-file` reads: multi-line
values (a real PEM private key made by openssl here) survive the round trip byte for byte, plain
NAME=value files written by hand or by older versions still read the same, and nothing about a bad
file is ever quoted back."""

from __future__ import annotations

import os
import subprocess

import pytest

from migrate.deploy import (
    InsecureSecretsFile,
    UsageError,
    collect_secrets,
    format_secrets_file,
    load_stack,
    read_secrets_file,
    write_secret_files,
)
from tests.build.stack_fixture import make_stack


@pytest.fixture(scope="module")
def pem_key(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("pem") / "key.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
                    str(path)], check=True, capture_output=True)
    text = path.read_text()
    assert text.startswith("-----BEGIN PRIVATE KEY-----\n") and text.count("\n") > 20
    return text


def _write(path, text: str, mode: int = 0o600):
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_multiline_values_round_trip_exactly(tmp_path, pem_key) -> None:
    values = {"nginx_tls_key": pem_key, "postgres_password": "s3cr=t with spaces inside",
              "odd": " leading and trailing ", "crlf": "a\r\nb", "looks_encoded": "base64:notreally",
              "unicode": "pässwörd-✓", "empty": ""}
    text = format_secrets_file(values)
    assert "BEGIN PRIVATE KEY" not in text  # no line of the key can be taken for NAME=value
    assert "postgres_password=s3cr=t with spaces inside\n" in text  # simple values stay readable
    assert all(line.startswith("#") or "=" in line for line in text.splitlines())
    assert read_secrets_file(_write(tmp_path / "s.env", text)) == values


def test_plain_files_from_older_versions_and_hand_written_ones_still_read(tmp_path) -> None:
    f = _write(tmp_path / "old.env", "# comment\n\napi_token=abc=def\npostgres_password=p@ss:word\n")
    assert read_secrets_file(f) == {"api_token": "abc=def", "postgres_password": "p@ss:word"}


def test_bad_files_are_refused_without_quoting_them(tmp_path, pem_key) -> None:
    raw = _write(tmp_path / "raw.env", f"nginx_tls_key={pem_key}")  # the multi-line value, unencoded
    with pytest.raises(UsageError) as exc:
        read_secrets_file(raw)
    assert exc.value.message.startswith("line 2: expected NAME=value") and "MII" not in str(exc.value)
    bad = _write(tmp_path / "bad.env", "k=base64:!!not-base64-SECRETMARK!!\n")
    with pytest.raises(UsageError, match="line 1: k: the value after base64: is not valid base64") as exc:
        read_secrets_file(bad)
    assert "SECRETMARK" not in str(exc.value)
    with pytest.raises(InsecureSecretsFile):
        read_secrets_file(_write(tmp_path / "open.env", "k=v\n", 0o640))


def test_up_writes_the_multiline_secret_file_exactly(tmp_path, pem_key) -> None:
    """collect_secrets + write_secret_files are what `migrate up` does before compose/stack deploy."""
    stack = load_stack(make_stack(tmp_path / "s", project="pemtest"))
    f = _write(tmp_path / "s.env", format_secrets_file({"api_token": pem_key}))
    values = collect_secrets(stack, f, environ={})
    assert values == {"api_token": pem_key}
    written = write_secret_files(stack, values)
    assert [p.read_text() for p in written] == [pem_key]
