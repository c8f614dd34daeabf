"""A three-disk guest whose root is an md RAID5 (mdadm's default left-symmetric layout, 64 KiB chunks),
built in libguestfs's appliance (this kernel has no md). Cached under
``~/.cache/migrate/k2-raid5/<hash of this file>`` with a file lock; about a minute to build cold."""

from __future__ import annotations

import hashlib
from pathlib import Path

from migrate.samples._common import cached_entry

NAMES = ("r5a.img", "r5b.img", "r5c.img")
PAYLOAD = bytes(range(256)) * 4096 + b"end of the striped file\n"  # 1 MiB: 16 chunks over 3 members


def _build(out: Path) -> None:
    import guestfs

    from migrate.image.guestfs_backend import guestfs_environment

    guestfs_environment()
    g = guestfs.GuestFS(python_return_dict=True)
    for name in NAMES:
        with open(out / name, "wb") as fh:
            fh.truncate(48 << 20)
        g.add_drive_opts(str(out / name), format="raw")
    g.launch()
    for dev in ("/dev/sda", "/dev/sdb", "/dev/sdc"):
        g.part_disk(dev, "gpt")
    g.md_create("r5root", ["/dev/sda1", "/dev/sdb1", "/dev/sdc1"], level="raid5", chunk=65536)
    g.mkfs("ext4", "/dev/md/r5root", label="R5ROOT")
    g.mount("/dev/md/r5root", "/")
    for d in ("/etc", "/usr/bin", "/usr/lib", "/srv"):
        g.mkdir_p(d)
    g.ln_s("usr/bin", "/bin")
    g.write("/usr/lib/os-release", 'ID=debian\nVERSION_ID="12"\n')
    g.ln_s("../usr/lib/os-release", "/etc/os-release")
    g.write("/etc/fstab", "LABEL=R5ROOT / ext4 defaults 0 1\n")
    g.write("/srv/striped.bin", PAYLOAD)
    g.umount_all()
    g.md_stop("/dev/md/r5root")
    g.shutdown()
    g.close()


def raid5_images() -> list[Path]:
    key = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    final, _built = cached_entry(Path.home() / ".cache" / "migrate" / "k2-raid5", key, _build)
    return [final / n for n in NAMES]


if __name__ == "__main__":
    print(raid5_images())
