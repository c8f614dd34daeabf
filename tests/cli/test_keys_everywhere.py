"""``--key`` / ``--keys-from-stdin`` on every command that opens disk images (issue 11 follow-up).

One small guest is built here with host tools (mkfs.ext4 -d, cryptsetup, sfdisk; ~3 s, no appliance):
a Debian-looking root inside LUKS1 that runs Redis with a password and a data directory. Each command
is run as a user runs it (a subprocess), with a fresh TMPDIR, and then every file it wrote -- the
stack, the export's archives, anything left in TMPDIR -- and its stdout and stderr (text and
``--log-format json``) are searched for the passphrase. The guest's own secret (the Redis password)
must stay out too, which shows the guest really was opened and read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import typer.main

from migrate.errors import EXIT_CODES
from tests.cli.conftest import ROOT
from tests.image.builders import guest_tree, make_disk, make_ext4, make_luks1
from tests.procwatch import Watch

PASSPHRASE = "Luks-Passphrase-K4-9f3e"
REDIS_PASSWORD = "Redis-Pw-In-Guest-77"
LUKS_UUID = "33333333-4444-5555-6666-777777777777"
IMAGE_COMMANDS = (("convert",), ("plan",), ("graph",), ("generate",), ("data", "export"), ("inspect",), ("sbom",))


# -- the options themselves (no image) ------------------------------------------------------------

def _params(path: tuple[str, ...]) -> dict[str, object]:
    from migrate.cli.main import app

    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    return {p.name: p for p in cmd.params}


def test_every_image_command_has_the_same_key_options(migrate_in_process):
    """Defined once (migrate/cli/keys.py): same flags, metavar, help and multiplicity everywhere; the
    help shows virt-inspector's syntax as typed (rich would render ":key:" as an emoji)."""
    for path in IMAGE_COMMANDS:
        code, out, _ = migrate_in_process(*path, "--help")
        flat = "".join(out.replace("│", "").split())
        assert code == 0 and "ID:key:PASSPHRASE" in flat and "ID:file:FILENAME" in flat, (path, out)
        assert "\N{KEY}" not in out
    seen = set()
    for path in IMAGE_COMMANDS:
        params = _params(path)
        key, stdin = params["key"], params["keys_from_stdin"]
        seen.add((tuple(key.opts), key.metavar, key.help, key.multiple, tuple(stdin.opts), stdin.help, stdin.is_flag))
    assert len(seen) == 1, seen
    [(opts, metavar, _help, multiple, stdin_opts, _shelp, is_flag)] = seen
    assert opts == ("--key",) and metavar == "SELECTOR" and multiple
    assert stdin_opts == ("--keys-from-stdin",) and is_flag


def test_key_file_refused_before_anything_is_written(tmp_path, migrate_in_process):
    """A key file under /dev (it would read without end) is exit 39 on every command, before any output
    exists; no image is opened."""
    for path in IMAGE_COMMANDS:
        out = tmp_path / "-".join(path)
        code, _, err = migrate_in_process(*path, str(tmp_path / "no-such.img"), "-o", str(out),
                                          "--key", "/dev/sda2:file:/dev/zero")
        assert code == EXIT_CODES["KeyFileRefused"] == 39, (path, err)
        assert "/dev/zero" in err and "Traceback" not in err and not out.exists(), path


# -- a LUKS guest through the chain ---------------------------------------------------------------

def run(*args: str, stdin: str | None = None, tmpdir: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    if tmpdir is not None:
        tmpdir.mkdir(exist_ok=True)
        env["TMPDIR"] = str(tmpdir)
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=ROOT, input=stdin if stdin is not None else "")


@pytest.fixture(scope="module")
def luks_redis(tmp_path_factory) -> Path:
    """Partition 2 is LUKS1 holding the root; the root runs Redis (enabled unit, its own user, a password,
    data in /var/lib/redis)."""
    work = tmp_path_factory.mktemp("luks-redis")
    tree = guest_tree(work / "root")
    (tree / "etc/fstab").write_text("/dev/mapper/cryptroot / ext4 defaults 0 1\n")
    (tree / "etc/crypttab").write_text(f"cryptroot UUID={LUKS_UUID} none luks\n")
    (tree / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                     "redis:x:101:103::/var/lib/redis:/usr/sbin/nologin\n")
    (tree / "etc/group").write_text("root:x:0:\nredis:x:103:\n")
    (tree / "etc/redis").mkdir()
    (tree / "etc/redis/redis.conf").write_text(f"port 6379\nbind 0.0.0.0\ndir /var/lib/redis\n"
                                               f"requirepass {REDIS_PASSWORD}\n")
    units = tree / "usr/lib/systemd/system"
    units.mkdir(parents=True)
    (units / "redis-server.service").write_text(
        "[Unit]\nDescription=Redis\n[Service]\nUser=redis\nExecStart=/usr/bin/redis-server /etc/redis/redis.conf\n"
        "[Install]\nWantedBy=multi-user.target\n")
    wants = tree / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    (wants / "redis-server.service").symlink_to("/usr/lib/systemd/system/redis-server.service")
    (tree / "var/lib/redis").mkdir(parents=True)
    (tree / "var/lib/redis/dump.rdb").write_bytes(b"REDIS0009" + bytes(100))
    for p in (tree / "var/lib/redis", tree / "var/lib/redis/dump.rdb"):
        os.chown(p, 101, 103)
    (tree / "var/lib/dpkg").mkdir(parents=True)
    (tree / "var/lib/dpkg/status").write_text("Package: redis-server\nStatus: install ok installed\n"
                                              "Architecture: amd64\nVersion: 5:7.0.15-1~deb12u1\n\n")
    (tree / "usr/bin/redis-server").write_bytes(b"\x7fELF not really\n")
    os.chmod(tree / "usr/bin/redis-server", 0o755)
    root = make_ext4(work / "root.img", tree, 24)
    luks = make_luks1(work / "luks.img", root, PASSPHRASE.encode(), uuid=LUKS_UUID)
    return make_disk(work / "disk.raw", 40, [(8, None, "linux"), (28, luks, "linux")])


def assert_nowhere(*places: Path | str) -> None:
    """Neither the passphrase nor the guest's Redis password in any text or file (tar members included)."""
    needles = (PASSPHRASE.encode(), REDIS_PASSWORD.encode())
    checked = 0
    for place in places:
        if isinstance(place, str):
            blobs = [(place[:60], place.encode())]
        elif place.is_dir():
            blobs = [(str(f), f.read_bytes()) for f in sorted(place.rglob("*")) if f.is_file() and not f.is_symlink()]
        else:
            blobs = [(str(place), place.read_bytes())] if place.exists() else []
        for name, data in blobs:
            checked += 1
            for needle in needles:
                assert needle not in data, f"{needle.decode()} in {name}"
            if name.endswith(".tar"):
                with tarfile.open(name) as tf:
                    for m in tf.getmembers():
                        assert PASSPHRASE not in m.name and PASSPHRASE not in m.linkname
    assert checked


@pytest.mark.image  # builds a disk image with mkfs, sfdisk and cryptsetup
def test_convert_and_data_export_with_keys_leak_nothing(luks_redis, tmp_path):
    stack, data, tmp = tmp_path / "stack", tmp_path / "data", tmp_path / "tmp"
    proc = run("convert", str(luks_redis), "-o", str(stack), "--keys-from-stdin", stdin=f"wrong\n{PASSPHRASE}\n",
               tmpdir=tmp)
    assert proc.returncode == 0, proc.stderr
    inv = json.loads((stack / "inventory.json").read_text())
    assert inv["os"]["distro"] == "debian" and any(s["name"] == "redis-server" for s in inv["services"])
    assert "redis" in (stack / "plan.yaml").read_text()
    hint = [line for line in proc.stderr.splitlines() if "migrate data export" in line]
    assert hint and "--keys-from-stdin" in hint[0], proc.stderr  # how to give the keys again, not what
    proc2 = run("--log-format", "json", "-v", "data", "export", str(luks_redis), "-o", str(data),
                "--key", f"/dev/sda2:key:{PASSPHRASE}", tmpdir=tmp)
    assert proc2.returncode == 0, proc2.stderr
    logs = [json.loads(line) for line in proc2.stderr.splitlines() if line.startswith("{")]
    assert logs and all("message" in x for x in logs)
    manifest = json.loads((data / "manifest.json").read_text())
    [vol] = manifest["volumes"]
    assert vol["guest_path"] == "/var/lib/redis" and vol["files"] == 1
    with tarfile.open(data / f"{vol['volume']}.tar") as tf:
        assert any(m.name.endswith("dump.rdb") for m in tf.getmembers())
    assert_nowhere(stack, data, tmp, proc.stdout, proc.stderr, proc2.stdout, proc2.stderr)
    assert not list(tmp.iterdir()), list(tmp.iterdir())  # nothing left behind in TMPDIR


@pytest.mark.image  # builds a disk image with mkfs, sfdisk and cryptsetup
def test_plan_graph_generate_sbom_open_the_guest_with_a_key_file(luks_redis, tmp_path):
    """The key-file form (virt-inspector's ID:file:FILENAME), by the LUKS UUID; plan -> generate --image; sbom."""
    keyfile = tmp_path / "key"
    keyfile.write_text(PASSPHRASE + "\n")
    key = f"{LUKS_UUID}:file:{keyfile}"
    plan, tmp = tmp_path / "plan.yaml", tmp_path / "tmp"
    p1 = run("plan", str(luks_redis), "-o", str(plan), "--key", key, tmpdir=tmp)
    assert p1.returncode == 0, p1.stderr
    assert "redis" in plan.read_text()
    p2 = run("graph", str(luks_redis), "--json", "--key", key, tmpdir=tmp)
    assert p2.returncode == 0, p2.stderr
    assert any(n["id"] == "service:redis-server" for n in json.loads(p2.stdout)["nodes"])
    stack = tmp_path / "stack"
    p3 = run("generate", str(plan), "--image", str(luks_redis), "-o", str(stack), "--keys-from-stdin",
             stdin=PASSPHRASE + "\n", tmpdir=tmp)
    assert p3.returncode == 0, p3.stderr
    assert (stack / "compose.yaml").is_file()
    bom = tmp_path / "vm.cdx.json"
    p4 = run("sbom", str(luks_redis), "-o", str(bom), "--key", key, tmpdir=tmp)
    assert p4.returncode == 0, p4.stderr
    assert any(c["name"] == "redis-server" for c in json.loads(bom.read_text())["components"])
    assert_nowhere(plan, stack, bom, tmp, *(x for p in (p1, p2, p3, p4) for x in (p.stdout, p.stderr)))


@pytest.mark.image  # builds a disk image with mkfs, sfdisk and cryptsetup
def test_missing_or_wrong_key_is_its_exit_code_and_writes_nothing(luks_redis, tmp_path):
    for args, code in ((("convert",), 15), (("convert", "--key", "/dev/sda2:key:Not-It-123"), 38),
                       (("data", "export", "--keys-from-stdin"), 38)):
        out = tmp_path / f"out{code}-{args[0]}"
        proc = run(*args, str(luks_redis), "-o", str(out), stdin="Also-Not-It-456\n")
        assert proc.returncode == code, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and "/dev/sda2" in proc.stderr
        assert "Not-It" not in proc.stderr + proc.stdout
        assert not out.exists()


@pytest.mark.image  # builds a disk image, starts the libguestfs appliance (~60 s under TCG)
def test_guestfs_convert_gives_the_key_to_no_child_argv_or_environment(luks_redis, tmp_path):
    """Under libguestfs there are children (qemu, the appliance's helpers): the key goes over the
    library's socket, never into a child's argv or environment; nothing is left in TMPDIR."""
    stack, tmp = tmp_path / "stack", tmp_path / "tmp"
    os.environ.setdefault("LIBGUESTFS_CACHEDIR", "/var/tmp")  # the appliance cache, not the fresh TMPDIR
    with Watch(PASSPHRASE.encode()) as watch:
        proc = run("convert", str(luks_redis), "--backend", "guestfs", "-o", str(stack), "--keys-from-stdin",
                   stdin=PASSPHRASE + "\n", tmpdir=tmp)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((stack / "inventory.json").read_text())["backend"] == "guestfs"
    assert not watch.seen, watch.seen
    assert_nowhere(stack, tmp, proc.stdout, proc.stderr)
    assert not list(tmp.iterdir()), list(tmp.iterdir())
