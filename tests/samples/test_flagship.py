"""The flagship sample is what it claims: formats checked by qemu-img, contents by libguestfs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile

import pytest

pytestmark = pytest.mark.image


def qemu_info(path) -> dict:
    return json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(path)], check=True,
                                     capture_output=True, text=True).stdout)  # fmt: skip


def test_formats(flagship_images):
    files = flagship_images.files
    assert {"qcow2", "vmdk-stream", "ova", "raw"} <= set(files)
    q = qemu_info(files["qcow2"])
    assert q["format"] == "qcow2" and q["virtual-size"] == flagship_images.facts["sizes"]["virtual_bytes"]
    v = qemu_info(files["vmdk-stream"])
    assert v["format"] == "vmdk"
    assert v["format-specific"]["data"]["create-type"] == "streamOptimized"
    assert v["virtual-size"] == q["virtual-size"]
    # compressed and sparse: far below the virtual size
    assert files["qcow2"].stat().st_size < q["virtual-size"] // 2
    assert files["raw"].stat().st_blocks * 512 < q["virtual-size"]


@pytest.mark.parametrize("kind,fmt", [("qcow2", "qcow2"), ("vmdk-stream", "vmdk")])
def test_exports_equal_raw(flagship_images, kind, fmt):
    proc = subprocess.run(["qemu-img", "compare", "-f", fmt, "-F", "raw", str(flagship_images.files[kind]),
                           str(flagship_images.files["raw"])], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ova_layout_and_manifest(flagship_images):
    ova = flagship_images.files["ova"]
    with tarfile.open(ova) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names[0].endswith(".ovf") and names[1].endswith(".mf")
        assert names[2] == flagship_images.files["vmdk-stream"].name
        ovf = tar.extractfile(members[0]).read()
        manifest = tar.extractfile(members[1]).read().decode()
        digests = {}
        for m in members:
            if m.name.endswith(".mf"):
                continue
            h = hashlib.sha256()
            fh = tar.extractfile(m)
            while chunk := fh.read(1 << 20):
                h.update(chunk)
            digests[m.name] = h.hexdigest()
    lines = dict(line.split("= ") for line in manifest.strip().splitlines())
    assert lines == {f"SHA256({n})": d for n, d in digests.items()}
    text = ovf.decode()
    assert '<VirtualSystem ovf:id="shop-vm01">' in text
    assert "<rasd:VirtualQuantity>2</rasd:VirtualQuantity>" in text
    assert "<rasd:VirtualQuantity>2048</rasd:VirtualQuantity>" in text
    assert f'ovf:capacity="{flagship_images.facts["sizes"]["virtual_bytes"]}"' in text
    assert "streamOptimized" in text
    import xml.etree.ElementTree as ET

    ET.fromstring(ovf)  # well-formed


def test_guest_contents_via_guestfs(flagship_images):
    guestfs = pytest.importorskip("guestfs")
    facts = flagship_images.facts
    g = guestfs.GuestFS(python_return_dict=True)
    g.add_drive_opts(str(flagship_images.files["qcow2"]), format="qcow2", readonly=True)
    g.launch()
    try:
        assert set(g.lvs()) == {"/dev/vg0/root", "/dev/vg0/var", "/dev/vg0/srv"}
        assert g.vfs_type("/dev/vg0/var") == "xfs"
        assert g.vfs_label("/dev/vg0/srv") == "srvdata"
        g.mount_ro("/dev/mapper/vg0-root", "/")
        fstab = {}
        for line in g.cat("/etc/fstab").splitlines():
            f = line.split()
            if f and not f[0].startswith("#"):
                fstab[f[1]] = f[0]
        assert {mp: fstab[mp] for mp in facts["fstab"]} == facts["fstab"]
        by_spec = {"/dev/vg0/var": "/dev/vg0/var", "LABEL=srvdata": "/dev/vg0/srv"}
        for mp in ("/boot", "/var", "/srv"):
            spec = fstab[mp]
            dev = g.findfs_uuid(spec[5:]) if spec.startswith("UUID=") else by_spec[spec]
            g.mount_ro(dev, mp)
        env = g.statns("/etc/shop/shop.env")
        assert (env["st_uid"], env["st_gid"], env["st_mode"] & 0o7777) == (0, 990, 0o640)
        assert facts["passwords"]["postgresql"] in g.cat("/etc/shop/shop.env")
        pg = g.statns("/var/lib/postgresql/15/main")
        owner = [ln for ln in g.cat("/etc/passwd").splitlines() if ln.startswith("postgres:")][0].split(":")
        assert (pg["st_uid"], pg["st_gid"], pg["st_mode"] & 0o7777) == (int(owner[2]), int(owner[3]), 0o700)
        assert g.is_file("/var/lib/postgresql/15/main/PG_VERSION")
        for path, digest in facts["data_files"].items():
            assert hashlib.sha256(g.read_file(path)).hexdigest() == digest
            assert g.statns(path)["st_uid"] == 990
        assert g.is_file("/srv/exports/items.csv")
        assert (
            g.readlink("/etc/systemd/system/multi-user.target.wants/shop.service") == "/etc/systemd/system/shop.service"
        )
        assert "requirepass " + facts["passwords"]["redis"] in g.cat("/etc/redis/redis.conf")
    finally:
        g.close()


def test_facts_shape(flagship_images):
    facts = flagship_images.facts
    assert facts["database"]["rows"] == 25
    assert facts["ports"] == {"nginx": 80, "shop": 8080, "postgresql": 5432, "redis": 6379, "ssh": 22}
    assert set(facts["secrets"]) == set(facts["passwords"].values())
    assert facts["users"]["shop"] == {"uid": 990, "gid": 990}
