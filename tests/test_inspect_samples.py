"""`migrate inspect` on the classic (MBR, every disk format) and units (backing chain, every kind of
unit and job) sample guests, checked against what the recipes put in them."""

from __future__ import annotations

import json

import pytest

from migrate.inspect import inspect_images

pytestmark = pytest.mark.image

CLASSIC_FORMATS = ["vmdk", "vmdk-2gb", "vmdk-flat", "vhd", "vhdx", "vdi", "qcow2", "raw"]


def without_source(inv) -> dict:
    data = json.loads(inv.to_json())
    for key in ("images", "analyzers", "sizing", "filesystems", "backend"):
        data.pop(key)
    return data


@pytest.fixture(scope="module")
def classic_inventories(classic_images):
    return {kind: inspect_images([classic_images.files[kind]], "native") for kind in CLASSIC_FORMATS}


def test_classic_every_format_reads_the_same_guest(classic_inventories):
    reference = without_source(classic_inventories["raw"])
    for kind, inv in classic_inventories.items():
        assert without_source(inv) == reference, kind


def test_classic_services_ports_and_secrets(classic_inventories, classic_images):
    inv = classic_inventories["vmdk"]
    facts = classic_images.facts
    assert inv.images[0].variant == "monolithicSparse"
    assert (inv.os.distro, inv.os.version, inv.network.hostname) == ("debian", "12", facts["hostname"])
    roles = {s.role: s for s in inv.services if s.role}
    for role, port in (("apache", 80), ("mysql", 3306), ("memcached", 11211)):
        assert role in roles, sorted(roles)
        assert port in {p.port for p in inv.ports if p.service == roles[role].name}, (role, inv.ports)
    assert roles["sshd"].vm_only
    assert "/var/lib/mysql" in {p.path for p in inv.persistent_paths}
    assert "/var/www/classic" in {p.path for p in inv.persistent_paths}
    text = inv.to_json()
    for secret in facts["secrets"]:
        assert secret not in text


def test_classic_backends_agree(classic_inventories, classic_images):
    guestfs_inv = inspect_images([classic_images.files["vmdk"]], "guestfs")
    assert without_source(guestfs_inv) == without_source(classic_inventories["vmdk"])


def test_units_guest_states_sockets_templates_timers_jobs(units_images):
    inv = inspect_images([units_images.files["overlay"]], "native")
    facts = units_images.facts["units"]
    assert [p.rsplit("/", 1)[-1] for p in inv.images[0].backing_chain] == ["base.qcow2"]
    states = {s.name: s.state for s in inv.services}
    assert states["legacy-sync"] == "disabled"
    assert states["apt-daily"] == "masked"
    assert states["api"] == "enabled"
    assert states["late"] == "enabled"  # only in the overlay: the backing chain is really followed
    foo = next(s for s in inv.services if s.name == "foo")
    assert foo.socket_units == ["foo.socket"]
    worker = next(s for s in inv.services if s.name == "worker@")
    assert sorted(worker.instances) == facts["templates"]["worker@.service"]
    assert next(s for s in inv.services if s.name == "legacyd").manager == "sysv"
    assert any(s.manager == "rc.local" for s in inv.services)
    job_sources = {j.evidence.path for j in inv.jobs}
    assert set(facts["cron"]) <= job_sources
    assert any(j.source == "systemd-timer" and j.unit == "report.timer" for j in inv.jobs)
    worker_user = next(u for u in inv.users if u.name == "worker")
    assert (worker_user.uid, worker_user.gid) == (1500, 1500)
