"""`migrate base-image`: tag parsing (pure) and the real image on the local engine (docker)."""

from __future__ import annotations

import os

import pytest

from migrate.baseimage import _slimify, parse_ref
from migrate.errors import UsageError


@pytest.mark.parametrize(
    ("ref", "suite", "slim"),
    [("debian:bookworm-slim", "bookworm", True), ("debian:12-slim", "bookworm", True),
     ("debian:bullseye", "bullseye", False), ("docker.io/library/debian:trixie-slim", "trixie", True)],
)
def test_parse_ref(ref: str, suite: str, slim: bool) -> None:
    spec = parse_ref(ref)
    assert (spec.suite, spec.slim) == (suite, slim)


@pytest.mark.parametrize("ref", ["ubuntu:22.04", "debian:potato2", "alpine:3.19", "debian"])
def test_parse_ref_refuses_what_debootstrap_cannot_make(ref: str) -> None:
    with pytest.raises(UsageError):
        parse_ref(ref)


def test_slimify_keeps_copyright_and_drops_docs(tmp_path) -> None:
    doc = tmp_path / "usr/share/doc/bash"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("c")
    (doc / "README.gz").write_text("r")
    (tmp_path / "usr/share/man/man1").mkdir(parents=True)
    (tmp_path / "usr/share/man/man1/ls.1.gz").write_text("m")
    (tmp_path / "var/cache/apt/archives").mkdir(parents=True)
    (tmp_path / "var/cache/apt/archives/x.deb").write_text("d")
    _slimify(tmp_path, slim=True)
    assert (doc / "copyright").exists() and not (doc / "README.gz").exists()
    assert not list((tmp_path / "usr/share/man").iterdir())
    assert not (tmp_path / "var/cache/apt/archives/x.deb").exists()
    assert "path-exclude /usr/share/doc/*" in (tmp_path / "etc/dpkg/dpkg.cfg.d/docker").read_text()


@pytest.mark.docker
def test_base_image_exists_and_runs(base_image: str) -> None:
    from migrate.baseimage import make_base_image
    from migrate.docker_engine import Engine

    engine = Engine()
    again = make_base_image(base_image, engine=engine)
    assert again.created is False  # the fixture made it (or it was there): no second debootstrap
    res = engine.run(base_image, ["sh", "-c", ". /etc/os-release; echo $VERSION_CODENAME; id -u"])
    assert res.exit_code == 0
    assert res.text.split() == ["bookworm", "0"]
    assert os.environ.get("MIGRATE_BASE_IMAGE", base_image) == base_image
