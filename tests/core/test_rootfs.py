"""RootFS resolves every path inside the guest: hostile symlinks never reach the host."""

import os

import pytest

from migrate.errors import GuestFileTooLarge, GuestPathError
from migrate.rootfs import FileStat, Filesystem, RootFS


@pytest.fixture
def guest(tmp_path):
    root = tmp_path / "guest"
    (root / "etc").mkdir(parents=True)
    (root / "var/lib/app").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:guest root:/root:/bin/sh\n")
    (root / "etc/hostname").write_text("guest-host\n")
    (root / "var/lib/app/data.txt").write_text("payload")
    # absolute link: means the guest's /etc/passwd, never the host's
    os.symlink("/etc/passwd", root / "etc/abs-link")
    # climbing link: ../ beyond / stays at the guest root
    os.symlink("../../../../../../../../etc/passwd", root / "var/lib/app/climb")
    # a directory link
    os.symlink("/var/lib/app", root / "srv")
    # a loop
    os.symlink("loop-b", root / "etc/loop-a")
    os.symlink("loop-a", root / "etc/loop-b")
    # a link to a host-only path
    os.symlink("/proc/self/environ", root / "etc/environ-link")
    os.symlink("/root/.ssh/id_rsa", root / "etc/key-link")
    with open(root / "var/lib/app/big.bin", "wb") as fh:
        fh.truncate(64 * 1024 * 1024)
    return RootFS.from_directory(root)


def test_absolute_symlink_means_guest_file(guest):
    assert guest.read_text("/etc/abs-link").startswith("root:x:0:0:guest root")
    assert guest.resolve("/etc/abs-link") == "/etc/passwd"


def test_climbing_symlink_stops_at_guest_root(guest):
    assert guest.resolve("/var/lib/app/climb") == "/etc/passwd"
    assert "guest root" in guest.read_text("/var/lib/app/climb")


def test_dotdot_in_path_stays_inside(guest):
    assert guest.read_text("/../../../etc/hostname") == "guest-host\n"
    # `..` after a directory link is physical, as in the kernel: /srv -> /var/lib/app, so /srv/.. is /var/lib
    with pytest.raises(GuestPathError):
        guest.resolve("/srv/../etc/passwd")
    assert guest.resolve("/srv/../app/data.txt") == "/var/lib/app/data.txt"


def test_directory_symlink(guest):
    assert guest.read_text("/srv/data.txt") == "payload"
    assert guest.iterdir("/srv") == ["/srv/big.bin", "/srv/climb", "/srv/data.txt"]


def test_loop_is_an_error_not_a_hang(guest):
    with pytest.raises(GuestPathError, match="too many levels"):
        guest.read_text("/etc/loop-a")
    assert not guest.exists("/etc/loop-a")
    assert guest.is_symlink("/etc/loop-a")


def test_links_to_host_paths_do_not_exist_in_guest(guest):
    for link in ("/etc/environ-link", "/etc/key-link"):
        assert not guest.exists(link)
        with pytest.raises(GuestPathError):
            guest.read_bytes(link)


def test_reads_are_capped(guest):
    with pytest.raises(GuestFileTooLarge, match="read limit"):
        guest.read_bytes("/var/lib/app/big.bin")
    assert guest.read_bytes("/var/lib/app/big.bin", max_bytes=128 * 1024 * 1024)[:4] == b"\0\0\0\0"


def test_glob_and_walk(guest):
    assert guest.glob("/etc/*name") == ["/etc/hostname"]
    paths = {p for p, _ in guest.walk("/var")}
    assert "/var/lib/app/data.txt" in paths
    assert all(not p.startswith("/etc") for p in paths)


class RecordingFS(Filesystem):
    """A fake filesystem that records every path the resolver asks for."""

    def __init__(self, entries):
        self.entries = entries
        self.asked = []

    def lstat(self, path):
        self.asked.append(path)
        e = "dir" if path == "/" else self.entries.get(path)
        if e is None:
            return None
        kind = "symlink" if e.startswith("->") else ("dir" if e == "dir" else "file")
        return FileStat(kind, 0o755, 0, 0, len(e))

    def readlink(self, path):
        return self.entries[path][2:]

    def listdir(self, path):
        prefix = path.rstrip("/") + "/"
        return sorted({p[len(prefix):].split("/")[0] for p in self.entries if p.startswith(prefix)})

    def read(self, path, offset, size):
        return self.entries[path].encode()[offset:offset + size]


def test_mounts_and_cross_mount_links():
    root = RecordingFS({"/etc": "dir", "/var": "dir", "/etc/app.conf": "->/var/app/conf", "/etc/x": "root-x"})
    var = RecordingFS({"/app": "dir", "/app/conf": "on-var", "/app/up": "->../../../../etc/x"})
    fs = RootFS({"/": root, "/var": var})
    assert fs.read_text("/etc/app.conf") == "on-var"
    assert fs.read_text("/var/app/up") == "root-x"
    assert all(".." not in p for p in root.asked + var.asked)
    assert fs.iterdir("/var/app") == ["/var/app/conf", "/var/app/up"]
