"""Guests whose volumes are stacked (md RAID, LUKS2 + LVM), built inside libguestfs's appliance
because this kernel has neither md nor device-mapper. One build (~1-2 min under TCG) is cached under
``~/.cache/migrate/k2-stacked/<hash of this file>`` with a file lock, like the samples."""

from __future__ import annotations

import hashlib
from pathlib import Path

from migrate.samples._common import cached_entry

LUKS_PASSPHRASE = "stacked-test-passphrase"  # test data: the phony guests' keys are public the same way
MiB = 1 << 20
FSTAB_MD = """LABEL=MDROOT / ext4 defaults 0 1
/dev/md0 /srv ext4 defaults 0 2
"""
MDADM_CONF = "ARRAY /dev/md0 UUID={uuid}\n"
FSTAB_LUKS = """/dev/mapper/vgcrypt-root / ext4 defaults 0 1
UUID={boot_uuid} /boot ext4 defaults 0 2
"""
CRYPTTAB = "cryptpv UUID={luks_uuid} none luks\n"
OS_RELEASE = 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (stacked test)"\n'


def _root_tree(g: object, fstab: str, extra: dict[str, str]) -> None:
    for d in ("/etc", "/usr/bin", "/usr/lib", "/srv", "/boot", "/var", "/home"):
        g.mkdir_p(d)  # type: ignore[attr-defined]
    g.ln_s("usr/bin", "/bin")  # type: ignore[attr-defined]
    g.write("/usr/lib/os-release", OS_RELEASE)  # type: ignore[attr-defined]
    g.ln_s("../usr/lib/os-release", "/etc/os-release")  # type: ignore[attr-defined]
    g.write("/etc/fstab", fstab)  # type: ignore[attr-defined]
    g.write("/etc/hostname", "stacked\n")  # type: ignore[attr-defined]
    g.write("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")  # type: ignore[attr-defined]
    for path, text in extra.items():
        g.write(path, text)  # type: ignore[attr-defined]


def _build(out: Path) -> None:
    import guestfs

    from migrate.image.guestfs_backend import guestfs_environment

    guestfs_environment()
    g = guestfs.GuestFS(python_return_dict=True)
    disks = {name: out / name for name in ("md1.img", "md2.img", "luks.img")}
    for p in disks.values():
        with open(p, "wb") as fh:
            fh.truncate(96 * MiB)
        g.add_drive_opts(str(p), format="raw")
    g.launch()
    # md: two disks, partition 1 of each a RAID1 (the root), partition 2 of each a RAID0 (/srv)
    for dev in ("/dev/sda", "/dev/sdb"):
        g.part_init(dev, "mbr")
        g.part_add(dev, "p", 2048, 110591)
        g.part_add(dev, "p", 110592, -2048)
    g.md_create("mdroot", ["/dev/sda1", "/dev/sdb1"], level="raid1")
    g.md_create("mdsrv", ["/dev/sda2", "/dev/sdb2"], level="raid0", chunk=65536)
    g.mkfs("ext4", "/dev/md/mdroot", label="MDROOT")
    g.mkfs("ext4", "/dev/md/mdsrv", label="MDSRV")
    srv_uuid = g.md_detail("/dev/md/mdsrv")["uuid"]
    g.mount("/dev/md/mdroot", "/")
    _root_tree(g, FSTAB_MD, {"/etc/mdadm.conf": MDADM_CONF.format(uuid=srv_uuid)})
    g.mkdir_p("/srv")
    g.mount("/dev/md/mdsrv", "/srv")
    g.write("/srv/on-raid0.txt", "striped\n" * 20000)
    g.umount_all()
    # LUKS2 holding an LVM volume group holding the root; /boot in the clear
    g.part_init("/dev/sdc", "mbr")
    g.part_add("/dev/sdc", "p", 2048, 34815)
    g.part_add("/dev/sdc", "p", 34816, -2048)
    g.mkfs("ext4", "/dev/sdc1", label="BOOT")
    g.luks_format("/dev/sdc2", LUKS_PASSPHRASE, 0)
    luks_uuid = g.luks_uuid("/dev/sdc2")
    g.cryptsetup_open("/dev/sdc2", LUKS_PASSPHRASE, "cryptpv")
    g.pvcreate("/dev/mapper/cryptpv")
    g.vgcreate("vgcrypt", ["/dev/mapper/cryptpv"])
    g.lvcreate("root", "vgcrypt", 48)
    g.mkfs("ext4", "/dev/vgcrypt/root", label="CRYPTROOT")
    g.mount("/dev/vgcrypt/root", "/")
    _root_tree(g, FSTAB_LUKS.format(boot_uuid=g.vfs_uuid("/dev/sdc1")),
               {"/etc/crypttab": CRYPTTAB.format(luks_uuid=luks_uuid)})
    g.umount_all()
    g.vg_activate_all(False)
    g.cryptsetup_close("/dev/mapper/cryptpv")
    g.shutdown()
    g.close()


def stacked_images() -> dict[str, Path]:
    """{"md1.img", "md2.img", "luks.img"} -> path, built once per machine."""
    key = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    final, _built = cached_entry(Path.home() / ".cache" / "migrate" / "k2-stacked", key, _build)
    return {n: final / n for n in ("md1.img", "md2.img", "luks.img")}


if __name__ == "__main__":
    print(stacked_images())
