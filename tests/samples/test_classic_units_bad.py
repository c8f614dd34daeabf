"""classic (every disk format), units (qcow2 backing chain, whole-disk ext4) and the bad inputs."""

from __future__ import annotations

import json
import subprocess

import pytest

FORMATS = {
    "vmdk": ("vmdk", "monolithicSparse"),
    "vmdk-2gb": ("vmdk", "twoGbMaxExtentSparse"),
    "vmdk-flat": ("vmdk", "monolithicFlat"),
    "vhd": ("vpc", None),
    "vhdx": ("vhdx", None),
    "vdi": ("vdi", None),
    "qcow2": ("qcow2", None),
    "raw": ("raw", None),
}


def qemu_info(path, *extra) -> dict:
    return json.loads(subprocess.run(["qemu-img", "info", "--output=json", *extra, str(path)], check=True,
                                     capture_output=True, text=True).stdout)  # fmt: skip


def debugfs(image, request: str, offset: int = 0) -> str:
    spec = f"{image}" if not offset else f"{image}?offset={offset}"
    return subprocess.run(["debugfs", "-R", request, spec], capture_output=True, text=True).stdout


@pytest.mark.image
@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_classic_formats_equal_raw(classic_images, kind):
    fmt, sub = FORMATS[kind]
    path = classic_images.files[kind]
    info = qemu_info(path)
    assert info["format"] == fmt
    assert info["virtual-size"] == classic_images.facts["sizes"]["virtual_bytes"]
    if sub:
        assert info["format-specific"]["data"]["create-type"] == sub
    if kind == "vmdk-2gb":
        assert len(info["format-specific"]["data"]["extents"]) == 2
    if kind == "vmdk-flat":
        assert path.read_bytes()[:21] == b"# Disk DescriptorFile"
    proc = subprocess.run(["qemu-img", "compare", "-f", fmt, "-F", "raw", str(path),
                           str(classic_images.files["raw"])], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.image
def test_classic_partition_and_contents(classic_images):
    raw = classic_images.files["raw"]
    table = json.loads(subprocess.run(["sfdisk", "--json", str(raw)], check=True, capture_output=True,
                                      text=True).stdout)["partitiontable"]  # fmt: skip
    assert table["label"] == "dos" and len(table["partitions"]) == 1
    offset = table["partitions"][0]["start"] * 512
    assert "DocumentRoot /var/www/classic" in debugfs(raw, "cat /etc/apache2/sites-available/classic.conf", offset)
    assert "bind-address = 127.0.0.1" in debugfs(raw, "cat /etc/mysql/mariadb.conf.d/60-classic.cnf", offset)
    assert "guestbook.frm" in debugfs(raw, "ls /var/lib/mysql/classic", offset)
    assert classic_images.facts["passwords"]["mariadb"] in debugfs(raw, "cat /var/www/classic/config.php", offset)


@pytest.mark.image
def test_units_backing_chain(units_images):
    overlay, base = units_images.files["overlay"], units_images.files["base"]
    info = qemu_info(overlay, "--backing-chain")
    assert [i["format"] for i in info] == ["qcow2", "qcow2"] if isinstance(info, list) else False
    top = qemu_info(overlay)
    assert top["backing-filename"] == "base.qcow2"
    assert overlay.stat().st_size < base.stat().st_size // 4  # only the changed clusters
    # whole-disk ext4 without a partition table; the late unit exists only through the overlay
    flat = units_images.dir / "check.raw"
    try:
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(overlay), str(flat)], check=True)
        assert "units-root" in subprocess.run(["blkid", "-o", "value", "-s", "LABEL", str(flat)],
                                              capture_output=True, text=True).stdout  # fmt: skip
        assert "late-addition" in debugfs(flat, "cat /etc/systemd/system/late.service")
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(base), str(flat)], check=True)
        assert "late-addition" not in debugfs(flat, "cat /etc/systemd/system/late.service")
        units = units_images.facts["units"]
        assert "/dev/null" in debugfs(flat, "stat /etc/systemd/system/apt-daily.service")
        wants = "/etc/systemd/system/multi-user.target.wants"
        assert "worker@.service" in debugfs(flat, f"stat {wants}/worker@alpha.service")
        assert "S01legacyd" in debugfs(flat, "ls /etc/rc2.d")
        assert units["socket_activated"] == {"foo.socket": "foo.service"}
    finally:
        flat.unlink(missing_ok=True)


def test_bad_images(bad_images):
    assert subprocess.run(["qemu-img", "check", str(bad_images["truncated-qcow2"])],
                          capture_output=True).returncode != 0  # fmt: skip
    assert subprocess.run(["qemu-img", "info", str(bad_images["vmdk-missing-extent"])],
                          capture_output=True).returncode != 0  # fmt: skip
    assert qemu_info(bad_images["random-bytes"])["format"] == "raw"
    table = json.loads(subprocess.run(["sfdisk", "--json", str(bad_images["luks"])], check=True,
                                      capture_output=True, text=True).stdout)["partitiontable"]  # fmt: skip
    assert table["label"] == "gpt"
    start = table["partitions"][0]["start"] * 512
    with open(bad_images["luks"], "rb") as fh:
        fh.seek(start)
        assert fh.read(6) == b"LUKS\xba\xbe"
    assert (
        "empty"
        in subprocess.run(
            ["blkid", "-p", "-O", str(2048 * 512), "-o", "value", "-s", "LABEL", str(bad_images["no-os"])],
            capture_output=True,
            text=True,
        ).stdout
    )
    tree = bad_images["hostile-tree"]
    assert (tree / "etc/os-release").readlink().as_posix() == "/etc/shadow"
    assert (tree / "etc/climb").readlink().as_posix().startswith("../../../../../../")
    huge = tree / "var/log/huge.log"
    assert huge.stat().st_size == 100 * 1024 * 1024 and huge.stat().st_blocks * 512 < 1024 * 1024
    assert "loop-a" in debugfs(bad_images["hostile"], "stat /etc/loop-b")
    assert "huge.log" in debugfs(bad_images["hostile"], "ls -l /var/log")
    conf = (bad_images["broken-nginx-tree"] / "etc/nginx/nginx.conf").read_text()
    assert conf.count("{") > conf.count("}")
