"""OVA: OVF sizing, disk order, manifest digests."""

import hashlib
import io
import tarfile

import pytest

from migrate.errors import CorruptImage, ManifestMismatch, MissingExtent
from migrate.image.ova import is_ova, open_ova, parse_ovf

OVF = b"""<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References>
    <File ovf:id="file1" ovf:href="disk-a.vmdk"/>
    <File ovf:id="file2" ovf:href="disk-b.vmdk"/>
  </References>
  <DiskSection>
    <Disk ovf:diskId="vmdisk2" ovf:fileRef="file2" ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^30"/>
    <Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="3221225472"/>
  </DiskSection>
  <VirtualSystem ovf:id="vm">
    <Name>shop-vm01</Name>
    <VirtualHardwareSection>
      <Item><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>2048</rasd:VirtualQuantity></Item>
      <Item><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:HostResource>ovf:/disk/vmdisk2</rasd:HostResource><rasd:ResourceType>17</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""


def make_ova(path, members, manifest=True, tamper=None):
    with tarfile.open(path, "w") as tar:
        entries = list(members.items())
        if manifest:
            lines = "".join(f"SHA256({n})= {hashlib.sha256(d).hexdigest()}\n" for n, d in entries)
            entries.append(("vm.mf", lines.encode()))
        for name, data in entries:
            if tamper and name == tamper:
                data = data + b"x"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_parse_ovf_sizing_and_disk_order():
    sizing, disks = parse_ovf(OVF, source="vm.ovf")
    assert (sizing.name, sizing.vcpus, sizing.memory_mib) == ("shop-vm01", 2, 2048)
    assert disks == ["disk-a.vmdk", "disk-b.vmdk"]  # hardware order, not DiskSection order
    assert [d.capacity_bytes for d in sizing.disks] == [3 * 2**30, 2**30]


def test_open_ova_verifies_and_unpacks(tmp_path):
    ova = tmp_path / "vm.ova"
    make_ova(ova, {"vm.ovf": OVF, "disk-a.vmdk": b"A" * 5000, "disk-b.vmdk": b"B" * 70})
    assert is_ova(ova)
    out = tmp_path / "out"
    out.mkdir()
    contents = open_ova(ova, out)
    assert [p.name for p in contents.disks] == ["disk-a.vmdk", "disk-b.vmdk"]
    assert contents.disks[0].read_bytes() == b"A" * 5000
    assert set(contents.verified) == {"vm.ovf", "disk-a.vmdk", "disk-b.vmdk"}


def test_manifest_mismatch_is_refused(tmp_path):
    ova = tmp_path / "vm.ova"
    make_ova(ova, {"vm.ovf": OVF, "disk-a.vmdk": b"A" * 10, "disk-b.vmdk": b"B"}, tamper="disk-b.vmdk")
    with pytest.raises(ManifestMismatch, match="disk-b.vmdk"):
        open_ova(ova, tmp_path)


def test_missing_disk_member(tmp_path):
    ova = tmp_path / "vm.ova"
    make_ova(ova, {"vm.ovf": OVF, "disk-a.vmdk": b"A"})
    with pytest.raises(MissingExtent, match="disk-b.vmdk"):
        open_ova(ova, tmp_path)


def test_hostile_xml_is_refused(tmp_path):
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>'
    with pytest.raises(CorruptImage, match="not valid XML"):
        parse_ovf(bomb, source="evil.ovf")
