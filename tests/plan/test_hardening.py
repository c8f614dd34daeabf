"""The hardening step decides from evidence in the guest, the same way for every service: setuid bits of
what the service runs, how it starts (root or not), the ports it binds, the unit's capability and
ProtectSystem settings, the symbols its executable imports. Each case below plants that evidence in a
guest tree matching the flagship inventory (tests/generate/guest.py) and checks the decision and its
reason; the corpus stack tests (tests/corpus, tests/e2e) prove the defaults on real guests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from migrate.model.inventory import ExecCommand
from migrate.model.plan import Plan
from migrate.plan import make_plan
from migrate.render import compose_document
from migrate.rootfs import RootFS
from tests.generate.guest import make_guest
from tests.graph.conftest import load_fixture

ELF = b"\x7fELF\x02\x01\x01" + bytes(9)


def plan_with(tmp_path: Path, files: dict[str, tuple[bytes, int]], edit=None) -> Plan:
    guest = make_guest(tmp_path / "guest")
    for path, (data, mode) in files.items():
        p = guest / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.chmod(p, mode)
    inv = load_fixture("flagship-debian12")
    if edit:
        edit(inv)
    with RootFS.from_directory(guest) as fs:
        return make_plan(inv, reader=fs)


def caps(plan: Plan, name: str) -> list[str]:
    return [c.name for c in plan.container(name).hardening.cap_add]


def test_root_server_keeps_only_what_it_uses(tmp_path: Path) -> None:
    plan = plan_with(tmp_path, {"/usr/sbin/nginx": (ELF + b"\0setgid\0chown\0", 0o755)})
    h = plan.container("nginx").hardening
    assert h.no_new_privileges.enabled and h.cap_drop_all.enabled
    assert caps(plan, "nginx") == ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "NET_BIND_SERVICE", "SETGID",
                                   "SETUID"]
    bind = next(c for c in h.cap_add if c.name == "NET_BIND_SERVICE")
    assert "port 80" in bind.reason
    assert "starts as root" in next(c for c in h.cap_add if c.name == "SETUID").reason


def test_chroot_import_adds_sys_chroot(tmp_path: Path) -> None:
    plan = plan_with(tmp_path, {"/usr/sbin/nginx": (ELF + b"\0chroot\0setuid\0", 0o755)})
    assert "SYS_CHROOT" in caps(plan, "nginx")
    assert "/usr/sbin/nginx imports chroot()" in next(
        c.reason for c in plan.container("nginx").hardening.cap_add if c.name == "SYS_CHROOT")


def test_libcap_user_keeps_dockers_default_set(tmp_path: Path) -> None:
    plan = plan_with(tmp_path, {"/usr/sbin/nginx": (ELF + b"\0libcap.so.2\0cap_set_proc\0", 0o755)})
    h = plan.container("nginx").hardening
    assert not h.cap_drop_all.enabled and not h.cap_add and "libcap" in h.cap_drop_all.reason
    assert "cap_drop" not in compose_document(plan)["services"]["nginx"]


def test_setuid_executable_turns_no_new_privileges_off(tmp_path: Path) -> None:
    def sudo_start(inv):
        shop = next(s for s in inv.services if s.name == "shop")
        shop.exec_start_pre = [ExecCommand(argv=["/usr/bin/sudo", "-u", "shop", "/opt/shop/migrate-db"],
                                           raw="/usr/bin/sudo -u shop /opt/shop/migrate-db")]

    plan = plan_with(tmp_path, {"/usr/bin/sudo": (ELF, 0o4755)}, sudo_start)
    h = plan.container("shop").hardening
    assert not h.no_new_privileges.enabled and "/usr/bin/sudo" in h.no_new_privileges.reason
    assert "4755" in h.no_new_privileges.reason
    assert "security_opt" not in compose_document(plan)["services"]["shop"]
    assert plan.container("redis").hardening.no_new_privileges.enabled, "the other services are unaffected"


def test_unit_capability_settings_are_direct_evidence(tmp_path: Path) -> None:
    unit = (b"[Unit]\nDescription=Advanced key-value store\n[Service]\nType=notify\nUser=redis\n"
            b"ExecStart=/usr/bin/redis-server /etc/redis/redis.conf\n"
            b"CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SYS_RESOURCE\nAmbientCapabilities=CAP_IPC_LOCK\n")
    plan = plan_with(tmp_path, {"/lib/systemd/system/redis-server.service": (unit, 0o644)})
    h = plan.container("redis").hardening
    assert h.cap_drop_all.enabled and "CapabilityBoundingSet=" in h.cap_drop_all.reason
    assert caps(plan, "redis") == ["IPC_LOCK", "NET_BIND_SERVICE", "SYS_RESOURCE"]
    assert "AmbientCapabilities=" in next(c.reason for c in h.cap_add if c.name == "IPC_LOCK")
    svc = compose_document(plan)["services"]["redis"]
    assert svc["cap_drop"] == ["ALL"] and svc["cap_add"] == ["IPC_LOCK", "NET_BIND_SERVICE", "SYS_RESOURCE"]


def test_empty_bounding_set_means_no_capability(tmp_path: Path) -> None:
    unit = (b"[Service]\nExecStart=/usr/sbin/nginx -g 'daemon off;'\nCapabilityBoundingSet=CAP_SETUID\n"
            b"CapabilityBoundingSet=\n")
    plan = plan_with(tmp_path, {"/usr/sbin/nginx": (ELF, 0o755), "/lib/systemd/system/nginx.service": (unit, 0o644)})
    h = plan.container("nginx").hardening
    assert h.cap_drop_all.enabled and "allowed (none)" in h.cap_drop_all.reason
    assert caps(plan, "nginx") == ["NET_BIND_SERVICE"], "only what its port needs, nothing of a root server's set"


def test_read_only_root_only_where_the_vm_ran_it_read_only(tmp_path: Path) -> None:
    unit = (b"[Unit]\nDescription=PostgreSQL\n[Service]\nType=oneshot\nExecStart=/bin/true\n"
            b"ProtectSystem=strict\nReadWritePaths=/var/lib/postgresql/15/main -/var/log/postgresql\n")
    plan = plan_with(tmp_path, {"/lib/systemd/system/postgresql.service": (unit, 0o644)})
    h = plan.container("postgres").hardening
    assert h.read_only.enabled and "ProtectSystem=strict" in h.read_only.reason
    assert [t.path for t in h.tmpfs] == ["/tmp", "/var/log/postgresql", "/var/run/postgresql", "/var/tmp"]
    svc = compose_document(plan)["services"]["postgres"]
    assert svc["read_only"] is True
    assert svc["tmpfs"] == ["/tmp:mode=1777", "/var/log/postgresql:mode=1777", "/var/run/postgresql:mode=1777",
                            "/var/tmp:mode=1777"]
    # a writable directory above the volume: a tmpfs there would hide the image's files, so no read-only root
    plan = plan_with(tmp_path / "1", {"/lib/systemd/system/postgresql.service": (
        unit.replace(b"/var/lib/postgresql/15/main", b"/var/lib/postgresql"), 0o644)})
    h = plan.container("postgres").hardening
    assert not h.read_only.enabled and "holds the volume /var/lib/postgresql/15/main" in h.read_only.reason
    # a writable directory with files in it (Debian's redis unit lets redis rewrite /etc/redis): a tmpfs there
    # would hide its configuration
    plan = plan_with(tmp_path / "3", {"/lib/systemd/system/postgresql.service": (
        unit + b"ReadWriteDirectories=-/etc/postgresql\n", 0o644)})
    h = plan.container("postgres").hardening
    assert not h.read_only.enabled and "/etc/postgresql" in h.read_only.reason and "has files" in h.read_only.reason
    # the same unit setting on a service whose entrypoint writes secrets into files: stays writable
    unit = unit.replace(b"PostgreSQL", b"redis").replace(b"/bin/true", b"/usr/bin/redis-server")
    plan = plan_with(tmp_path / "2", {"/lib/systemd/system/redis-server.service": (unit, 0o644)})
    h = plan.container("redis").hardening
    assert not h.read_only.enabled and "secret" in h.read_only.reason


def test_without_the_guest_root_services_keep_the_defaults() -> None:
    plan = make_plan(load_fixture("flagship-debian12"))
    nginx, shop = plan.container("nginx").hardening, plan.container("shop").hardening
    assert not nginx.cap_drop_all.enabled and "planned without the guest" in nginx.cap_drop_all.reason
    assert not nginx.no_new_privileges.enabled
    assert shop.cap_drop_all.enabled and not shop.cap_add, "a non-root process has no capabilities to lose"


def test_an_edited_plan_is_rendered_as_written(tmp_path: Path) -> None:
    plan = plan_with(tmp_path, {"/usr/sbin/nginx": (ELF, 0o755)})
    data = yaml.safe_load(plan.to_yaml())
    nginx = next(c for c in data["containers"] if c["name"] == "nginx")
    nginx["hardening"]["cap_add"].append({"name": "NET_RAW", "reason": "the health probe pings"})
    nginx["hardening"]["no_new_privileges"]["enabled"] = False
    edited = Plan.from_yaml(yaml.safe_dump(data))
    svc = compose_document(edited)["services"]["nginx"]
    assert "NET_RAW" in svc["cap_add"] and "security_opt" not in svc
    data["containers"][0]["hardening"]["cap_add"].append({"name": "net_raw", "reason": "x"})
    with pytest.raises(Exception, match="cap_add"):
        Plan.from_yaml(yaml.safe_dump(data))
