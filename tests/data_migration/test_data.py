"""`migrate data export/import` on a guest tree made here (a RootFS over a host directory) with the
awkward cases: numeric owners with no name on the host, a 0700 database directory, symlinks (absolute
and relative, dangling), a fifo, a socket, a nested persistent path, an empty file, a 3 MiB file."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid

import pytest

from migrate.data import MANIFEST, compare_volume, export_from_rootfs, import_data, verify_volumes
from migrate.model.base import Evidence
from migrate.model.data import DataManifest
from migrate.model.inventory import Inventory, PersistentPath
from migrate.rootfs import RootFS

EV = Evidence(analyzer="test", path="/")


def _pp(path: str, service: str | None, kind: str = "data") -> PersistentPath:
    return PersistentPath(path=path, service=service, kind=kind, reason="test", evidence=EV)


@pytest.fixture()
def guest(tmp_path):
    root = tmp_path / "guest"
    pg = root / "var/lib/postgresql/15/main"
    (pg / "base/1").mkdir(parents=True)
    (pg / "PG_VERSION").write_text("15\n")
    (pg / "base/1/1259").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (pg / "postmaster.opts").write_text("")
    for p in (pg, pg / "base", pg / "base/1", pg / "PG_VERSION", pg / "base/1/1259", pg / "postmaster.opts"):
        os.chown(p, 104, 110)
    os.chmod(pg, 0o700)
    os.chmod(pg / "base/1/1259", 0o600)
    os.symlink("/etc/ssl/certs/ssl-cert-snakeoil.pem", pg / "server.crt")  # dangling on purpose
    os.lchown(pg / "server.crt", 104, 110)
    shop = root / "var/lib/shop"
    (shop / "uploads/2024").mkdir(parents=True)
    (shop / "uploads/2024/a b.txt").write_text("hello\n")
    os.symlink("2024/a b.txt", shop / "uploads/latest")
    os.mkfifo(shop / "queue")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(shop / "app.sock"))
    s.close()
    (shop / "cache").mkdir()
    (shop / "cache/blob").write_text("nested")
    for dirpath, dirs, files in os.walk(shop):
        for n in dirs + files:
            os.lchown(os.path.join(dirpath, n), 990, 990)
    os.chown(shop, 990, 990)
    os.chmod(shop, 0o750)
    os.utime(shop / "uploads/2024/a b.txt", (1_600_000_000, 1_600_000_000))
    inv = Inventory(name="testvm", backend="dir", persistent_paths=[
        _pp("/var/lib/postgresql/15/main", "postgresql@15-main", "database"),
        _pp("/var/lib/shop", "shop", "uploads"), _pp("/var/lib/shop/cache", "shop")])
    return RootFS.from_directory(root), inv


def test_export_archives_and_manifest(guest, tmp_path) -> None:
    rootfs, inv = guest
    out = tmp_path / "export"
    manifest = export_from_rootfs(rootfs, inv, out)
    assert sorted(os.listdir(out)) == sorted([MANIFEST] + [v.archive for v in manifest.volumes])
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".export")]  # temp dir renamed away
    loaded = DataManifest.load(out / MANIFEST)
    assert loaded.kind == "data-manifest" and loaded.schema_version == 1
    by_path = {v.guest_path: v for v in loaded.volumes}
    pg = by_path["/var/lib/postgresql/15/main"]
    root = next(e for e in pg.entries if e.path == ".")
    assert (root.mode, root.uid, root.gid) == (0o700, 104, 110)
    big = next(e for e in pg.entries if e.path == "base/1/1259")
    host = rootfs.resolve("/var/lib/postgresql/15/main/base/1/1259")
    assert big.sha256 == hashlib.sha256((tmp_path / "guest" / host.lstrip("/")).read_bytes()).hexdigest()
    link = next(e for e in pg.entries if e.path == "server.crt")
    assert (link.kind, link.target) == ("symlink", "/etc/ssl/certs/ssl-cert-snakeoil.pem")
    shop = by_path["/var/lib/shop"]
    kinds = {e.path: e.kind for e in shop.entries}
    assert kinds["queue"] == "fifo" and kinds["uploads/latest"] == "symlink"
    assert "app.sock" not in kinds
    assert [(s.path, s.kind) for s in shop.skipped] == [("/var/lib/shop/app.sock", "socket")]
    assert shop.excluded == ["/var/lib/shop/cache"] and "cache/blob" not in kinds
    assert by_path["/var/lib/shop/cache"].files == 1
    assert next(e for e in shop.entries if e.path == "uploads/2024/a b.txt").mtime == 1_600_000_000
    names = [v.volume for v in loaded.volumes]
    assert len(set(names)) == 3 and all(v.naming for v in loaded.volumes)
    assert json.loads((out / MANIFEST).read_text()) == json.loads(loaded.to_json())


def test_export_replaces_previous_output_atomically(guest, tmp_path) -> None:
    rootfs, inv = guest
    out = tmp_path / "export"
    out.mkdir()
    (out / "stale.tar").write_text("old")
    export_from_rootfs(rootfs, inv, out)
    assert not (out / "stale.tar").exists()


def test_compare_reports_every_difference(guest, tmp_path) -> None:
    rootfs, inv = guest
    m = export_from_rootfs(rootfs, inv, tmp_path / "e")
    v = next(x for x in m.volumes if x.guest_path == "/var/lib/shop/cache")
    attrs = {"." : {"kind": "dir", "mode": "755", "uid": "990", "gid": "990", "size": "0", "mtime": "0", "target": ""},
             "extra": {"kind": "file", "mode": "644", "uid": "0", "gid": "0", "size": "1", "mtime": "0", "target": ""}}
    fields = {(x.path, x.field) for x in compare_volume(v, attrs, {})}
    assert ("blob", "missing") in fields and ("extra", "unexpected") in fields


@pytest.mark.docker
def test_import_seeds_and_verifies_volumes(guest, tmp_path, docker_engine, base_image) -> None:
    rootfs, inv = guest
    m = export_from_rootfs(rootfs, inv, tmp_path / "e")
    project = f"migtest{uuid.uuid4().hex[:8]}"
    try:
        report = import_data(tmp_path / "e", project, base_image=base_image, engine=docker_engine)
        assert report.ok, [x for v in report.volumes for x in v.mismatches]
        assert {v.docker_volume for v in report.volumes} == {f"{project}_{v.volume}" for v in m.volumes}
        pg = next(v for v in m.volumes if v.guest_path.startswith("/var/lib/postgresql"))
        vol = f"{project}_{pg.volume}"
        info = docker_engine.volume(vol)
        assert info["Labels"]["com.docker.compose.project"] == project
        res = docker_engine.run(base_image, ["stat", "-c", "%a %u %g", "/data"], mounts={vol: "/data"})
        assert res.text.split() == ["700", "104", "110"]
        # seeding is for before the first start: a second import refuses to overwrite
        from migrate.data import VolumeNotEmpty

        with pytest.raises(VolumeNotEmpty):
            import_data(tmp_path / "e", project, base_image=base_image, engine=docker_engine)
        # a change inside the volume is caught by the re-read
        docker_engine.run(base_image, ["sh", "-c", "echo tampered >> /data/PG_VERSION"], mounts={vol: "/data"})
        again = verify_volumes(tmp_path / "e", project, base_image=base_image, engine=docker_engine)
        bad = {(x.path, x.field) for v in again.volumes for x in v.mismatches}
        assert ("PG_VERSION", "sha256") in bad and ("PG_VERSION", "size") in bad
    finally:
        for v in m.volumes:
            docker_engine.remove_volume(f"{project}_{v.volume}", force=True)
