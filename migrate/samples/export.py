"""Exports of a raw disk into the formats VMs are really shipped in: qemu-img conversions and OVA.

Every export is made from the same raw disk, so ``qemu-img compare`` against it is the ground truth
for any reader that claims to understand the format.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from migrate.samples._common import SampleBuildError, sha256_file


def convert_many(src: Path, targets: dict[str, tuple[Path, Sequence[str]]], *, src_format: str = "raw",
                 parallel: int = 2) -> dict[str, Path]:  # fmt: skip
    """Run ``qemu-img convert -f src_format [args] src dst`` for each target, ``parallel`` at a time."""
    pending = list(targets.items())
    running: list[tuple[str, Path, subprocess.Popen[bytes], list[str]]] = []
    done: dict[str, Path] = {}
    while pending or running:
        while pending and len(running) < parallel:
            kind, (dst, args) = pending.pop(0)
            argv = ["qemu-img", "convert", "-f", src_format, *args, os.fspath(src), os.fspath(dst)]
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            running.append((kind, dst, proc, argv))
        kind, dst, proc, argv = running.pop(0)
        _, err = proc.communicate()
        if proc.returncode != 0:
            for *_, p, _a in running:
                p.kill()
            raise SampleBuildError(f"{' '.join(argv)} failed: {err.decode(errors='replace')[-2000:]}")
        done[kind] = dst
    return done


OVF_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<Envelope vmw:buildId="build-0" xmlns="http://schemas.dmtf.org/ovf/envelope/1" \
xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" \
xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" \
xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" \
xmlns:vmw="http://www.vmware.com/schema/ovf" \
xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="{vmdk_name}" ovf:id="file1" ovf:size="{vmdk_size}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="{capacity}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" \
ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The VM Network network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{name}">
    <Info>A virtual machine</Info>
    <Name>{name}</Name>
    <OperatingSystemSection ovf:id="96" vmw:osType="debian12_64Guest">
      <Info>The kind of installed guest operating system</Info>
      <Description>{os_description}</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>{cpus} virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>{cpus}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>{memory_mb}MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>{memory_mb}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:Description>VmxNet3 ethernet adapter on "VM Network"</rasd:Description>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""


def make_ova(path: Path, *, vm_name: str, vmdk: Path, capacity: int, cpus: int, memory_mb: int,
             os_description: str) -> Path:  # fmt: skip
    """An OVA as VMware writes it: ustar with the OVF descriptor first, then the manifest, then the disk."""
    stem = path.stem
    ovf_name, mf_name = f"{stem}.ovf", f"{stem}.mf"
    ovf = OVF_TEMPLATE.format(
        vmdk_name=escape(vmdk.name),
        vmdk_size=vmdk.stat().st_size,
        capacity=capacity,
        name=escape(vm_name),
        os_description=escape(os_description),
        cpus=cpus,
        memory_mb=memory_mb,
    ).encode()
    ovf_path = path.parent / ovf_name
    ovf_path.write_bytes(ovf)
    mf = (f"SHA256({ovf_name})= {sha256_file(ovf_path)}\nSHA256({vmdk.name})= {sha256_file(vmdk)}\n").encode()
    mf_path = path.parent / mf_name
    mf_path.write_bytes(mf)
    tmp = path.with_suffix(".ova.part")
    with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for member in (ovf_path, mf_path, vmdk):
            info = tar.gettarinfo(str(member), arcname=member.name)
            info.uid = info.gid = 64
            info.uname = info.gname = "someone"
            info.mtime = 1700000000
            info.mode = 0o644
            with open(member, "rb") as fh:
                tar.addfile(info, fh)
    os.rename(tmp, path)
    ovf_path.unlink()
    mf_path.unlink()
    return path
