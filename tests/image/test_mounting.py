"""The backend-neutral mounting rules on synthetic volumes: fstab parsing, source resolution,
root choice, mount planning."""

from __future__ import annotations

from migrate.image.mounting import (
    FstabEntry,
    Volume,
    find_root,
    parse_fstab,
    plan_mounts,
    positional_names,
    resolve_spec,
)

FSTAB = r"""
# /etc/fstab: static file system information.
UUID=0a1b2c3d-0000-4000-8000-000000000001 /               ext4    errors=remount-ro 0       1
LABEL=data\040disk  /srv/data   xfs defaults 0 2
PARTUUID=ABCDEF01-02  /boot ext2 defaults
/dev/mapper/vg--sys-var /var xfs defaults 0 2
/dev/vg-sys/home /home ext4 defaults,nodev 0 2
/dev/sdb1 /opt ext4 defaults 0 0
/dev/disk/by-label/lab\x2fel /mnt/x ext4 defaults 0 0
UUID=ffffffff-0000-0000-0000-000000000000 /missing ext4 defaults 0 0
/swapfile none swap sw 0 0
tmpfs /tmp tmpfs defaults 0 0
proc /proc proc defaults 0 0
server:/export /nfs nfs defaults 0 0
/srv/data /export none bind 0 0
UUID=0a1b2c3d-0000-4000-8000-00000000000e /boot/efi vfat umask=0077 0 1
"""


def volumes() -> list[Volume]:
    return [
        Volume("/dev/sda1", "ext2", partuuid="abcdef01-02", disk_index=0, part_index=1),
        Volume("/dev/sda2", "ext4", uuid="0a1b2c3d-0000-4000-8000-000000000001", disk_index=0, part_index=2),
        Volume("/dev/sda3", "vfat", uuid="0a1b2c3d-0000-4000-8000-00000000000E", disk_index=0, part_index=3),
        Volume("/dev/vg-sys/var", "xfs", aliases=["/dev/mapper/vg--sys-var"]),
        Volume("/dev/vg-sys/home", "ext4", aliases=["/dev/mapper/vg--sys-home"]),
        Volume("/dev/sdb1", "xfs", label="data disk", disk_index=1, part_index=1),
        Volume("/dev/sdb2", "ext4", label="lab/el", disk_index=1, part_index=2),
    ]


def test_parse_fstab_fields_and_escapes():
    entries = parse_fstab(FSTAB)
    assert entries[0] == FstabEntry("UUID=0a1b2c3d-0000-4000-8000-000000000001", "/", "ext4",
                                    ["errors=remount-ro"], 0, 1, 3)
    assert entries[1].spec == "LABEL=data disk"
    assert entries[2].options == ["defaults"] and entries[2].passno == 0
    assert len(entries) == 14


def test_resolve_every_spelling():
    vols = volumes()
    by = {v.device: v for v in vols}
    assert resolve_spec("UUID=0A1B2C3D-0000-4000-8000-000000000001", vols) is by["/dev/sda2"]
    assert resolve_spec("LABEL=data disk", vols) is by["/dev/sdb1"]
    assert resolve_spec("PARTUUID=ABCDEF01-02", vols) is by["/dev/sda1"]
    assert resolve_spec("/dev/mapper/vg--sys-var", vols) is by["/dev/vg-sys/var"]
    assert resolve_spec("/dev/vg-sys/home", vols) is by["/dev/vg-sys/home"]
    assert resolve_spec("/dev/vdb2", vols) is by["/dev/sdb2"]  # by position, last resort
    assert resolve_spec("/dev/xvda1", vols) is by["/dev/sda1"]
    assert resolve_spec("/dev/nvme1n1p1", vols) is by["/dev/sdb1"]
    assert resolve_spec("/dev/disk/by-label/lab\\x2fel", vols) is by["/dev/sdb2"]
    assert resolve_spec("/dev/disk/by-uuid/0a1b2c3d-0000-4000-8000-000000000001", vols) is by["/dev/sda2"]
    assert resolve_spec("UUID=nope", vols) is None
    assert resolve_spec("/dev/sdc1", vols) is None


def test_positional_names():
    assert positional_names(0, 2)[:2] == ["/dev/sda2", "/dev/vda2"]
    assert positional_names(1, None)[0] == "/dev/sdb"
    assert positional_names(0, 1)[-1] == "/dev/nvme0n1p1"


def test_find_root_prefers_the_most_complete_candidate():
    a, b, c = Volume("/dev/sda1"), Volume("/dev/sda2"), Volume("/dev/sda3")
    contents = {
        "/dev/sda1": {"/etc/fstab"},  # /etc but no /usr or /bin: not a root
        "/dev/sda2": {"/etc/os-release", "/bin"},
        "/dev/sda3": {"/etc/os-release", "/etc/fstab", "/usr", "/bin"},
    }

    def has(vol, path):
        return path in contents[vol.device]
    assert find_root([a, b, c], has) is c
    assert find_root([a, b], has) is b
    assert find_root([a], has) is None


def test_plan_mounts():
    vols = volumes()
    root = vols[1]
    plan = plan_mounts(root, parse_fstab(FSTAB), vols, lambda v: v.fstype in ("ext2", "ext4", "xfs"))
    where = {m.mountpoint: m.volume.device for m in plan.mounts}
    assert where == {"/": "/dev/sda2", "/srv/data": "/dev/sdb1", "/boot": "/dev/sda1", "/var": "/dev/vg-sys/var",
                     "/home": "/dev/vg-sys/home", "/opt": "/dev/sdb1", "/mnt/x": "/dev/sdb2"}
    assert plan.mounts[0].mountpoint == "/" and plan.mounts[0].entry is not None
    assert [m.mountpoint for m in plan.unreadable] == ["/boot/efi"]
    joined = "\n".join(plan.notes)
    assert "/missing" in joined and "no such volume" in joined
    assert "bind mount" in joined
    assert "/tmp" not in joined and "nfs" not in joined and "swap" not in joined


def test_plan_notes_root_disagreement_and_duplicates():
    vols = volumes()
    fstab = parse_fstab("/dev/sdb2 / ext4 defaults 0 1\n/dev/sda1 /boot ext2 defaults\n/dev/sdb2 /boot ext4 d\n")
    plan = plan_mounts(vols[1], fstab, vols, lambda v: True)
    assert [m.mountpoint for m in plan.mounts] == ["/", "/boot"]
    assert plan.mounts[0].volume is vols[1]
    assert any("OS root was found on /dev/sda2" in n for n in plan.notes)
    assert any("mounted twice" in n for n in plan.notes)


def test_empty_fstab():
    vols = volumes()
    plan = plan_mounts(vols[1], parse_fstab(""), vols, lambda v: True)
    assert [m.mountpoint for m in plan.mounts] == ["/"] and not plan.notes
