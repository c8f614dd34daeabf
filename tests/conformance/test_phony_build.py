"""The phony-guest builder: cached images that are real disks, and expected XML parsed as upstream wrote it."""

from __future__ import annotations

import pytest

from tests.conformance.phony import INSPECTOR, RECIPES, PhonyUnavailable, expected, parse_expected, require_shared


def _shared() -> None:
    try:
        require_shared()
    except PhonyUnavailable as exc:
        pytest.skip(str(exc))


def test_expected_xml_parses_every_field_the_comparison_uses():
    _shared()
    deb = parse_expected((INSPECTOR / "expected-debian.img.xml").read_bytes(), "debian")
    assert (deb.os_type, deb.distro, deb.major_version, deb.minor_version, deb.product_name) == (
        "linux", "debian", 5, 0, "5.0.1")
    assert deb.mountpoints["/boot"] == "/dev/sda1"
    assert deb.filesystems["/dev/sda1"].label == "BOOT"
    assert [a.name for a in deb.applications] == ["test1", "test2", "test3"]
    arch = parse_expected((INSPECTOR / "expected-archlinux.img.xml").read_bytes(), "archlinux")
    assert (arch.applications[0].epoch, arch.applications[0].version, arch.applications[0].release) == (1, "0.1", "1")


def test_expected_xml_is_parsed_without_entity_expansion():
    """The XML is external input: defusedxml refuses entity tricks instead of expanding them."""
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><operatingsystems/>'
    with pytest.raises(Exception, match="(?i)entit"):
        parse_expected(bomb, "bomb")


def test_debian_image_is_built_and_cached(phony_debian):
    (disk,) = phony_debian
    assert disk.stat().st_size == 512 * 2**20
    assert disk.parent.name.startswith("debian-")
    with open(disk, "rb") as fh:
        fh.seek(510)
        assert fh.read(2) == b"\x55\xaa"  # the MBR the script wrote
    assert expected("debian").hostname == "debian.invalid"
    assert set(RECIPES) >= {"debian", "ubuntu", "archlinux", "coreos", "fedora", "fedora-btrfs", "fedora-md",
                            "fedora-lvm-on-luks", "fedora-luks-on-lvm", "windows"}
