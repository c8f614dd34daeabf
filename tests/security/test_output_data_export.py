"""Issue 8 D5/D12: `migrate data export` writes holes sparsely, checks free space before writing,
and SIGTERM cleans up its temporary folder like SIGINT does."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import pytest

from migrate.errors import EXIT_CODES
from tests.security.output_cases import dense_file, sparse_file, webroot_guest
from tests.security.tmpfs import small_tmpfs

TiB = 1 << 40
GiB = 1 << 30
MiB = 1 << 20


def migrate(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_sparse_files_are_archived_sparsely(tmp_path):
    guest = tmp_path / "guest"
    web = webroot_guest(guest)
    sparse_file(web / "tera.bin", TiB, [(0, b"head")])  # 1 TiB, 4 KiB of data: over the hole budget
    sparse_file(web / "giga.bin", GiB, [(5 * MiB, b"middle" * 1000), (GiB - 4096, b"tail")])
    out = tmp_path / "data"
    t0 = time.monotonic()
    proc = migrate("data", "export", str(guest), "-o", str(out))
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 30, elapsed
    manifest = json.loads((out / "manifest.json").read_text())
    (vol,) = manifest["volumes"]
    archive = out / vol["archive"]
    assert archive.stat().st_size < 1 * MiB  # not GBs
    tera = [s for s in vol["skipped"] if s["path"] == "/var/www/html/tera.bin"]
    assert tera and "budget" in tera[0]["reason"]
    giga = next(e for e in vol["entries"] if e["path"] == "giga.bin")
    h = hashlib.sha256()
    with open(web / "giga.bin", "rb") as fh:
        for block in iter(lambda: fh.read(MiB), b""):
            h.update(block)
    assert giga["size"] == GiB and giga["sha256"] == h.hexdigest()
    # GNU tar (what the seeding container runs) recreates the file, holes included
    dest = tmp_path / "extracted"
    dest.mkdir()
    subprocess.run(["tar", "-C", str(dest), "-xpf", str(archive)], check=True)
    st = (dest / "giga.bin").stat()
    assert st.st_size == GiB and st.st_blocks * 512 < 16 * MiB
    with open(dest / "giga.bin", "rb") as fh:
        fh.seek(5 * MiB)
        assert fh.read(6000) == b"middle" * 1000
        fh.seek(GiB - 4096)
        assert fh.read(4) == b"tail"
    with tarfile.open(archive) as tar:  # and Python's reader agrees on the names
        assert "./giga.bin" in tar.getnames()


@pytest.fixture
def small_fs(tmp_path):
    """A real 8 MiB filesystem (tmpfs) to run out of space on."""
    with small_tmpfs(tmp_path / "small", "8m") as mnt:
        yield mnt


def test_export_checks_free_space_before_writing(tmp_path, small_fs):
    guest = tmp_path / "guest"
    web = webroot_guest(guest)
    dense_file(web / "big.bin", 16 * MiB)
    proc = migrate("data", "export", str(guest), "-o", str(small_fs / "data"))
    assert proc.returncode == EXIT_CODES["NoSpace"] == 36, proc.stderr
    assert "Traceback" not in proc.stderr and "free" in proc.stderr
    assert os.listdir(small_fs) == []  # nothing written, no temporary folder left
    (web / "big.bin").unlink()
    dense_file(web / "small.bin", 1 * MiB)
    proc = migrate("data", "export", str(guest), "-o", str(small_fs / "data"))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_export_removes_the_temporary_folder(tmp_path, sig):
    guest = tmp_path / "guest"
    web = webroot_guest(guest)
    dense_file(web / "big.bin", 768 * MiB)
    out_parent = tmp_path / "exports"
    out_parent.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "migrate", "data", "export", str(guest), "-o",
                             str(out_parent / "data")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until the archive is being written
            tmps = [p for p in out_parent.iterdir() if p.name.endswith(".tmp")]
            if any(f.stat().st_size > 4 * MiB for t in tmps for f in t.iterdir() if f.is_file()):
                break
            if proc.poll() is not None:
                pytest.fail(f"export ended before the signal: {proc.stderr.read().decode()}")
            time.sleep(0.02)
        else:
            pytest.fail("the export never started writing")
        os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    assert list(out_parent.iterdir()) == [], "the temporary export folder was left behind"
    shutil.rmtree(guest)


@pytest.mark.docker
def test_sparse_member_seeds_a_real_volume_sparsely(tmp_path, docker_engine, base_image):
    """The seeding container's GNU tar restores the holes, and the volume verifies against the manifest."""
    import uuid

    from migrate.data import import_data

    guest = tmp_path / "guest"
    web = webroot_guest(guest)
    sparse_file(web / "giga.bin", 256 * MiB, [(3 * MiB, b"middle" * 1000)])
    proc = migrate("data", "export", str(guest), "-o", str(tmp_path / "e"))
    assert proc.returncode == 0, proc.stderr
    project = f"migsec{uuid.uuid4().hex[:8]}"
    manifest = json.loads((tmp_path / "e" / "manifest.json").read_text())
    try:
        report = import_data(tmp_path / "e", project, base_image=base_image, engine=docker_engine)
        assert report.ok, [x for v in report.volumes for x in v.mismatches]
        vol = f"{project}_{manifest['volumes'][0]['volume']}"
        res = docker_engine.run(base_image, ["stat", "-c", "%s %b %B", "/data/giga.bin"], mounts={vol: "/data"})
        size, blocks, unit = (int(x) for x in res.text.split())
        assert size == 256 * MiB and blocks * unit < 8 * MiB  # holes, not 256 MiB of zeros
    finally:
        for v in manifest["volumes"]:
            docker_engine.remove_volume(f"{project}_{v['volume']}", force=True)


@pytest.mark.parametrize("archive", ["../../../../etc/hostname", "/etc/hostname", "link.tar"])
def test_import_refuses_archives_outside_the_export(tmp_path, archive):
    guest = tmp_path / "guest"
    webroot_guest(guest)
    export = tmp_path / "e"
    proc = migrate("data", "export", str(guest), "-o", str(export))
    assert proc.returncode == 0, proc.stderr
    os.symlink("/etc/hostname", export / "link.tar")
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["volumes"][0]["archive"] = archive
    (export / "manifest.json").write_text(json.dumps(manifest))
    proc = migrate("data", "import", str(export), "--project", "migsecnever")
    assert proc.returncode == EXIT_CODES["InvalidDocument"], proc.stderr
    assert "manifest.json" in proc.stderr and "Traceback" not in proc.stderr


def test_persistent_path_resolving_to_a_system_directory_is_not_exported(tmp_path):
    """An inventory (edited, or from an analyzer that kept a climbing path) whose persistent path
    resolves to /etc: the export never archives the guest's /etc."""
    from tests.security.output_cases import write

    guest = tmp_path / "guest"
    webroot_guest(guest)
    write(guest, "/etc/shadow", "root:$6$SHADOW-MARKER$x:19000:0:99999:7:::\n", 0o640)
    inv_path = tmp_path / "inventory.json"
    assert migrate("inspect", str(guest), "-o", str(inv_path)).returncode == 0
    inv = json.loads(inv_path.read_text())
    web = next(p for p in inv["persistent_paths"] if p["path"] == "/var/www/html")
    inv["persistent_paths"].append({**web, "path": "/var/www/../../etc"})
    inv_path.write_text(json.dumps(inv))
    out = tmp_path / "data"
    proc = migrate("data", "export", str(guest), "-o", str(out), "--inventory", str(inv_path))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [v["guest_path"] for v in manifest["volumes"]] == ["/var/www/html"]
    assert [(x["path"], "system directory" in x["reason"]) for x in manifest["not_exported"]] == [
        ("/var/www/../../etc", True)]
    assert not [p for p in out.iterdir() if b"SHADOW-MARKER" in p.read_bytes()]


def test_sparse_files_in_a_real_ext4_image_export_sparsely(tmp_path):
    """The same through the native ext4 reader (its extent list marks holes): the 1 TiB file in an
    ext4 image made with `mkfs.ext4 -d` is no longer 'about 1 TB to write'."""
    if not shutil.which("mkfs.ext4"):
        pytest.skip("mkfs.ext4 not installed")
    tree = tmp_path / "tree"
    web = webroot_guest(tree)
    (tree / "usr/bin").mkdir(parents=True)
    sparse_file(web / "tera.bin", TiB, [(0, b"head")])
    sparse_file(web / "giga.bin", GiB, [(5 * MiB, b"middle" * 1000)])
    disk = tmp_path / "disk.raw"
    with open(disk, "wb") as fh:
        fh.truncate(64 * MiB)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(disk)], check=True, capture_output=True)
    out = tmp_path / "data"
    proc = migrate("data", "export", str(disk), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    (vol,) = manifest["volumes"]
    assert (out / vol["archive"]).stat().st_size < 1 * MiB
    giga = next(e for e in vol["entries"] if e["path"] == "giga.bin")
    h = hashlib.sha256()
    with open(web / "giga.bin", "rb") as fh:
        for block in iter(lambda: fh.read(MiB), b""):
            h.update(block)
    assert giga["sha256"] == h.hexdigest()
    assert [s["path"] for s in vol["skipped"]] == ["/var/www/html/tera.bin"]


def test_zero_blocks_become_holes_where_the_reader_cannot_tell(tmp_path):
    """XFS (read natively, no hole information): a file of zeros written as data is scanned and
    archived sparsely, with the hash of its whole content."""
    if not shutil.which("mkfs.xfs"):
        pytest.skip("mkfs.xfs not installed")
    from tests.security.output_cases import xfs_image

    tree = tmp_path / "tree"
    web = webroot_guest(tree)
    (tree / "usr/bin").mkdir(parents=True)
    with open(web / "zeros.bin", "wb") as fh:  # dense: 40 MiB of written zeros, then data, then zeros
        fh.write(bytes(40 * MiB) + b"data-in-the-middle" * 1000 + bytes(40 * MiB))
    disk = xfs_image(tree, tmp_path / "disk.img")
    out = tmp_path / "data"
    proc = migrate("data", "export", str(disk), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    (vol,) = manifest["volumes"]
    assert (out / vol["archive"]).stat().st_size < 4 * MiB
    entry = next(e for e in vol["entries"] if e["path"] == "zeros.bin")
    assert entry["sha256"] == hashlib.sha256((web / "zeros.bin").read_bytes()).hexdigest()
    dest = tmp_path / "x"
    dest.mkdir()
    subprocess.run(["tar", "-C", str(dest), "-xpf", str(out / vol["archive"])], check=True)
    assert (dest / "zeros.bin").read_bytes() == (web / "zeros.bin").read_bytes()
