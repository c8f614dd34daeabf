"""libguestfs's phony Windows 7 guest (tests/conformance builds it) read natively: every fact
virt-inspector's expected XML states that the registry and cmd.exe give, in under a second.

tests/conformance compares every backend with the expected XML's common fields; this test adds the
Windows-only ones (systemroot, control set, product variant, each application's display name,
version, publisher, URL, description and install path)."""

from __future__ import annotations

import time
from pathlib import Path

from defusedxml import ElementTree as SafeET

from migrate.inspect import inventory_of, open_vm
from tests.conformance.phony import INSPECTOR, RECIPES


def expected_windows() -> dict:
    os_el = SafeET.parse(INSPECTOR / RECIPES["windows"].expected_xml).getroot().find("operatingsystem")
    text = {child.tag: child.text for child in os_el if child.text and child.text.strip()}
    apps = {app.findtext("name"): {c.tag: c.text for c in app} for app in os_el.iterfind("applications/application")}
    return {"os": text, "apps": apps}


def test_phony_windows_native(phony_windows: list[Path]) -> None:
    t0 = time.perf_counter()
    with open_vm(phony_windows, "native") as vm:
        inv = inventory_of(vm)
    seconds = time.perf_counter() - t0
    want = expected_windows()
    os_ = want["os"]
    assert seconds < 1.0, f"native inspect took {seconds:.2f}s"
    assert not inv.unknowns, inv.unknowns
    assert (inv.os.family, inv.os.distro) == (os_["name"], os_["distro"])
    assert inv.os.pretty_name == os_["product_name"]
    assert inv.os.version == f"{os_['major_version']}.{os_['minor_version']}"
    assert (inv.os.version_major, inv.os.version_minor) == (int(os_["major_version"]), int(os_["minor_version"]))
    assert inv.os.product_name == os_["product_name"]
    assert inv.os.arch == os_["arch"]
    assert inv.network.hostname == os_["hostname"]
    assert inv.windows is not None
    assert inv.windows.systemroot == os_["windows_systemroot"]
    assert inv.windows.current_control_set == os_["windows_current_control_set"]
    assert inv.windows.installation_type == os_["product_variant"]
    (root,) = [f for f in inv.filesystems if f.mountpoint == "/"]
    assert (root.device, root.fstype) == (os_["root"], "ntfs")
    got = {p.name: {"display_name": p.display_name, "version": p.version, "publisher": p.publisher,
                    "url": p.url, "description": p.description, "install_path": p.install_location}
           for p in inv.windows_programs}
    assert set(got) == set(want["apps"])
    for name, app in want["apps"].items():
        assert {k: v for k, v in got[name].items() if v is not None} == {k: v for k, v in app.items() if k != "name"}
