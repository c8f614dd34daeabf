"""The base image and package manager, from the VM's os-release."""

from __future__ import annotations

from migrate.errors import InvalidDocument
from migrate.model.inventory import Inventory
from migrate.model.plan import BaseImage

DEBIAN_CODENAMES = {"10": "buster", "11": "bullseye", "12": "bookworm", "13": "trixie"}


def family_manager(family: str) -> str:
    return {"debian": "apt", "rhel": "dnf", "suse": "zypper", "alpine": "apk"}.get(family, "")


def choose_base_image(inv: Inventory) -> BaseImage:
    os_ = inv.os
    version = os_.version or ""
    major = version.split(".")[0]
    distro = os_.distro.lower()
    if os_.family == "debian" and distro == "ubuntu":
        image = f"ubuntu:{version}" if version else "ubuntu:latest"
        why = f"Ubuntu {version} in the VM (os-release) -> the matching official ubuntu image"
    elif os_.family == "debian":
        codename = os_.codename or DEBIAN_CODENAMES.get(major)
        if not codename:
            raise InvalidDocument(f"os.version: cannot map Debian {version!r} to a release", path="inventory")
        image = f"debian:{codename}-slim"
        why = f"Debian {version or codename} ({codename}) in the VM -> debian:{codename}-slim, the same release"
    elif os_.family == "rhel":
        images = {"rocky": f"rockylinux:{major}", "almalinux": f"almalinux:{major}",
                  "rhel": f"registry.access.redhat.com/ubi{major}/ubi",
                  "centos": f"quay.io/centos/centos:stream{major}",
                  "ol": f"oraclelinux:{major}", "fedora": f"fedora:{major}"}
        image = images.get(distro, f"almalinux:{major}")
        why = (f"{os_.pretty_name or distro} in the VM -> {image}, same major release and dnf"
               + ("" if distro in images else f" (no image for {distro!r}: AlmaLinux is binary compatible)"))
    elif os_.family == "suse":
        minor = version or "15"
        image = f"registry.suse.com/bci/bci-base:{minor}" if distro.startswith("sle") else f"opensuse/leap:{minor}"
        why = f"{os_.pretty_name or distro} in the VM -> {image}, same service pack and zypper"
    elif os_.family == "alpine":
        branch = ".".join(version.split(".")[:2]) or "latest"
        image = f"alpine:{branch}"
        why = f"Alpine {version} in the VM -> alpine:{branch}, the same branch (apk pins need it)"
    else:
        raise InvalidDocument(f"os.family {os_.family!r} ({os_.distro}): no base image and package manager known; "
                              "supported: debian/ubuntu, rhel family, suse, alpine", path="inventory")
    return BaseImage(image=image, family=os_.family, package_manager=family_manager(os_.family),  # type: ignore
                     reason=why + "; override with --build-arg BASE_IMAGE=... or here")


def pin(manager: str, name: str, version: str) -> str:
    # dnf takes name-[epoch:]version-release; apt, zypper and apk take name=version
    return f"{name}-{version}" if manager == "dnf" else f"{name}={version}"
