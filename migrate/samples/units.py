"""The units sample: every way a Debian guest starts work, on a whole-disk ext4 in a qcow2 backing chain.

systemd units in all their states (enabled, disabled, masked, socket-activated, template instance,
timer), a SysV init script with rc links, rc.local and cron in all its places. The root filesystem
has no partition table. ``base.qcow2`` holds the first build; ``overlay.qcow2`` (backing file
``base.qcow2``) holds a later change, made from the modified disk so
the overlay contains exactly the clusters that differ (``qemu-img rebase`` does the diff).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from migrate.samples import debootstrap
from migrate.samples._common import Progress, Recipe, _noop, dir_used_bytes, run
from migrate.samples.flagship import _enable, _write

PACKAGES = ["systemd", "systemd-sysv", "cron", "uuid-runtime", "procps"]
HOSTNAME = "units-vm01"
DISK_BYTES = 1024 * 1024**2
ROOT_UUID = "5e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a05"

SYSTEM = "/etc/systemd/system"

UNITS: dict[str, str] = {
    "foo.socket": "[Unit]\nDescription=foo listener\n\n[Socket]\nListenStream=127.0.0.1:7777\nAccept=no\n\n"
    "[Install]\nWantedBy=sockets.target\n",
    "foo.service": "[Unit]\nDescription=foo daemon (socket activated)\nRequires=foo.socket\n\n[Service]\n"
    "ExecStart=/usr/local/bin/foo-daemon\nUser=nobody\nStandardInput=socket\n",
    "worker@.service": "[Unit]\nDescription=queue worker %i\nAfter=network.target\n\n[Service]\n"
    "ExecStart=/usr/local/bin/worker --queue %i\nUser=worker\nRestart=always\n\n"
    "[Install]\nWantedBy=multi-user.target\n",
    "report.timer": "[Unit]\nDescription=hourly report\n\n[Timer]\nOnCalendar=hourly\nPersistent=true\n\n"
    "[Install]\nWantedBy=timers.target\n",
    "report.service": "[Unit]\nDescription=hourly report job\n\n[Service]\nType=oneshot\n"
    "ExecStart=/usr/local/bin/report --out /var/lib/report\nUser=worker\n",
    "legacy-sync.service": "[Unit]\nDescription=old sync job (disabled)\n\n[Service]\n"
    "ExecStart=/usr/local/bin/legacy-sync\n\n[Install]\nWantedBy=multi-user.target\n",
    "api.service": "[Unit]\nDescription=api server\nAfter=network-online.target\nWants=network-online.target\n\n"
    "[Service]\nExecStart=/usr/local/bin/api --port 9090\nEnvironment=API_MODE=prod\nUser=worker\n\n"
    "[Install]\nWantedBy=multi-user.target\n",
}

INIT_SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          legacyd
# Required-Start:    $remote_fs $syslog
# Required-Stop:     $remote_fs $syslog
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: legacy daemon started by SysV init
### END INIT INFO
DAEMON=/usr/local/bin/legacyd
case "$1" in
  start) start-stop-daemon --start --background --exec $DAEMON -- --port 5555 ;;
  stop)  start-stop-daemon --stop --exec $DAEMON ;;
  *) echo "Usage: $0 {start|stop}"; exit 1 ;;
esac
exit 0
"""

OVERLAY_UNIT = "[Unit]\nDescription=added after the base image (lives in the overlay)\n\n[Service]\n" \
    "ExecStart=/usr/local/bin/late-addition\n\n[Install]\nWantedBy=multi-user.target\n"  # fmt: skip

SCRIPT = "#!/bin/sh\n# placeholder program of the units sample\nexec sleep infinity\n"


def customise(tree: Path) -> dict[str, Any]:
    _write(tree, "/etc/hostname", f"{HOSTNAME}\n")
    _write(tree, "/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n")
    _write(tree, "/etc/fstab", f"UUID={ROOT_UUID} / ext4 defaults 0 1\n")
    _write(tree, "/etc/machine-id", "0a175000a175000a175000a175000a17\n", 0o444)
    for prog in ("foo-daemon", "worker", "report", "legacy-sync", "api", "legacyd", "late-addition"):
        _write(tree, f"/usr/local/bin/{prog}", SCRIPT, 0o755)
    with open(tree / "etc/passwd", "a") as fh:
        fh.write("worker:x:1500:1500:queue worker:/var/lib/worker:/usr/sbin/nologin\n")
    with open(tree / "etc/group", "a") as fh:
        fh.write("worker:x:1500:\n")
    with open(tree / "etc/shadow", "a") as fh:
        fh.write("worker:!:19700:0:99999:7:::\n")
    (tree / "var/lib/worker").mkdir(parents=True, exist_ok=True)
    os.chown(tree / "var/lib/worker", 1500, 1500)

    for name, text in UNITS.items():
        _write(tree, f"{SYSTEM}/{name}", text)
    _enable(tree, "foo.socket", "sockets.target")
    _enable(tree, "worker@alpha.service", src=f"{SYSTEM}/worker@.service")
    _enable(tree, "worker@beta.service", src=f"{SYSTEM}/worker@.service")
    _enable(tree, "report.timer", "timers.target")
    _enable(tree, "api.service")
    # masked: a vendor unit replaced by /dev/null
    masked = tree / SYSTEM.lstrip("/") / "apt-daily.service"
    masked.symlink_to("/dev/null")
    # an override drop-in for a vendor unit
    _write(tree, f"{SYSTEM}/cron.service.d/override.conf", "[Service]\nNice=5\n")

    _write(tree, "/etc/init.d/legacyd", INIT_SCRIPT, 0o755)
    for level, prefix in (("2", "S01"), ("3", "S01"), ("4", "S01"), ("5", "S01"), ("0", "K01"),
                          ("1", "K01"), ("6", "K01")):  # fmt: skip
        d = tree / f"etc/rc{level}.d"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{prefix}legacyd").symlink_to("../init.d/legacyd")
    _write(tree, "/etc/rc.local", "#!/bin/sh -e\n/usr/local/bin/legacy-sync --once &\nexit 0\n", 0o755)

    crontab = (tree / "etc/crontab").read_text() + "*/5 * * * * root /usr/local/bin/report --quick\n"
    _write(tree, "/etc/crontab", crontab)
    _write(tree, "/etc/cron.d/worker", "0 * * * * worker /usr/local/bin/worker --drain\n")
    _write(tree, "/etc/cron.daily/units-cleanup", "#!/bin/sh\nfind /var/lib/worker -mtime +30 -delete\n", 0o755)
    crontab_gid = int(next(ln.split(":")[2] for ln in (tree / "etc/group").read_text().splitlines()
                           if ln.startswith("crontab:")))  # fmt: skip
    spool = tree / "var/spool/cron/crontabs"
    spool.mkdir(parents=True, exist_ok=True)
    os.chown(spool, 0, crontab_gid)
    os.chmod(spool, 0o1730)
    _write(tree, "/var/spool/cron/crontabs/worker", "30 1 * * * /usr/local/bin/worker --compact\n", 0o600,
           1500, crontab_gid)  # fmt: skip
    (tree / "usr/sbin/policy-rc.d").unlink(missing_ok=True)
    return {
        "enabled": ["foo.socket", "worker@alpha.service", "worker@beta.service", "report.timer", "api.service",
                    "cron.service"],
        "disabled": ["legacy-sync.service"],
        "masked": ["apt-daily.service"],
        "socket_activated": {"foo.socket": "foo.service"},
        "templates": {"worker@.service": ["alpha", "beta"]},
        "timers": {"report.timer": "report.service"},
        "sysv": {"legacyd": {"start": ["2", "3", "4", "5"], "stop": ["0", "1", "6"]}},
        "rc_local": ["/usr/local/bin/legacy-sync --once &"],
        "cron": {
            "/etc/crontab": "*/5 * * * * root /usr/local/bin/report --quick",
            "/etc/cron.d/worker": "0 * * * * worker /usr/local/bin/worker --drain",
            "/etc/cron.daily/units-cleanup": "daily",
            "/var/spool/cron/crontabs/worker": "30 1 * * * /usr/local/bin/worker --compact",
        },
        "overlay_only": ["/etc/systemd/system/late.service",
                         "/etc/systemd/system/multi-user.target.wants/late.service"],
    }  # fmt: skip


def build(out: Path, cache_dir: Path, progress: Progress = _noop) -> dict[str, Any]:
    t0 = time.monotonic()
    tarball = debootstrap.rootfs_tarball(PACKAGES, cache_dir, progress=progress)
    t_boot = time.monotonic() - t0
    tree = out / "work" / "tree"
    debootstrap.extract(tarball, tree)
    raw = out / "work" / "disk.raw"
    try:
        units = customise(tree)
        tree_bytes = dir_used_bytes(tree)
        with open(raw, "wb") as fh:
            fh.truncate(DISK_BYTES)
        progress("mkfs.ext4 -d (whole disk, no partition table)")
        run(["mkfs.ext4", "-q", "-F", "-L", "units-root", "-U", ROOT_UUID, "-E", "root_owner=0:0",
             "-d", tree, raw], env={"E2FSPROGS_FAKE_TIME": "1700000000"})  # fmt: skip
        run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, out / "base.qcow2"])
        # the later change: a unit file and its enablement, written with debugfs into the raw disk
        unit_src = out / "work" / "late.service"
        unit_src.write_text(OVERLAY_UNIT)
        cmds = (
            f"cd {SYSTEM}\nwrite {unit_src} late.service\nsif late.service mode 0100644\n"
            "cd multi-user.target.wants\n"
            f"symlink late.service {SYSTEM}/late.service\n"
        )
        run(["debugfs", "-w", "-f", "-", raw], input=cmds.encode())
        check = run(["debugfs", "-R", f"stat {SYSTEM}/multi-user.target.wants/late.service", raw]).stdout
        if b"symlink" not in check.lower() and b"Type: symlink" not in check:
            raise RuntimeError(f"overlay change not written: {check[:300]!r}")
        # an overlay over the modified disk, rebased onto base.qcow2: rebase writes exactly the
        # clusters in which the two differ, as a real "snapshot after a change" would hold
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", raw, "-F", "raw", out / "overlay.qcow2"])
        run(["qemu-img", "rebase", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "overlay.qcow2"], cwd=out)
    finally:
        debootstrap.unmount_all(tree)
        shutil.rmtree(out / "work", ignore_errors=True)
    facts: dict[str, Any] = {
        "hostname": HOSTNAME,
        "os": {"id": "debian", "version_id": "12", "codename": "bookworm"},
        "packages": sorted(PACKAGES),
        "partition_table": None,
        "filesystems": {"/": "ext4"},
        "fstab": {"/": f"UUID={ROOT_UUID}"},
        "backing_chain": ["overlay.qcow2", "base.qcow2"],
        "users": {"worker": {"uid": 1500, "gid": 1500}},
        "units": units,
        "sizes": {"virtual_bytes": DISK_BYTES, "tree_bytes": tree_bytes},
        "build_seconds": {"debootstrap_or_cache": round(t_boot, 1), "total": round(time.monotonic() - t0, 1)},
    }
    (out / "facts.json").write_text(json.dumps(facts, indent=2, sort_keys=True))
    return {"qcow2": "overlay.qcow2", "overlay": "overlay.qcow2", "base": "base.qcow2"}


RECIPE = Recipe(
    name="units",
    description="Debian 12 minimal guest with every kind of unit/job; whole-disk ext4 in a qcow2 backing chain",
    build=build,
    params={"packages": sorted(PACKAGES), "disk": DISK_BYTES},
)
