"""migrate.samples plumbing that needs no image: mirror discovery, cache keys, atomic cache entries."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from migrate.samples import SAMPLES, SampleBuildError, sample_cache_dir
from migrate.samples._common import cached_entry, debian_mirror


def test_mirror_from_deb822_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv("MIGRATE_DEBIAN_MIRROR", raising=False)
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\n# comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n"
    )
    (d / "other.list.disabled").write_text("deb http://wrong.example/x stable main\n")
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"
    monkeypatch.setenv("MIGRATE_DEBIAN_MIRROR", "http://override.example/debian")
    assert debian_mirror(tmp_path) == "http://override.example/debian"


def test_mirror_from_one_line_sources_list(tmp_path, monkeypatch):
    monkeypatch.delenv("MIGRATE_DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n"
    )
    assert debian_mirror(tmp_path) == "http://one.example/debian"
    (tmp_path / "sources.list").write_text("")
    with pytest.raises(SampleBuildError):
        debian_mirror(tmp_path)


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MIGRATE_SAMPLES_CACHE", str(tmp_path / "c"))
    assert sample_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("MIGRATE_SAMPLES_CACHE")
    assert sample_cache_dir() == Path.home() / ".cache" / "migrate" / "samples"


def test_recipes_and_stable_keys():
    assert set(SAMPLES) == {"flagship", "classic", "units", "corpus-lamp", "corpus-tomcat", "corpus-nginx-tls",
                            "corpus-lemp", "corpus-edge", "corpus-infra", "fleet", "windows"}
    keys = {name: r.key() for name, r in SAMPLES.items()}
    assert keys == {name: r.key() for name, r in SAMPLES.items()}
    assert len(set(keys.values())) == len(SAMPLES)


def test_failed_build_leaves_no_entry(tmp_path):
    def boom(tmp):
        (tmp / "half").write_text("x")
        raise RuntimeError("mid-build failure")

    with pytest.raises(RuntimeError):
        cached_entry(tmp_path, "thing-1", boom)
    assert not (tmp_path / "thing-1").exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_concurrent_builders_build_once(tmp_path):
    calls = []

    def make(tmp):
        calls.append(1)
        time.sleep(0.3)
        (tmp / "payload").write_text("done")

    results = []
    threads = [threading.Thread(target=lambda: results.append(cached_entry(tmp_path, "e", make))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sorted(built for _, built in results) == [False, False, True]
    assert (tmp_path / "e" / "payload").read_text() == "done"
