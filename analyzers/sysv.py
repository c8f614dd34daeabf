"""SysV init scripts in /etc/init.d and their rc?.d start/kill links. Scripts that have a systemd
unit of the same name (or an alias) are left to the systemd analyzer."""

from __future__ import annotations

import posixpath
import re

from migrate.analyzers._support import SecretSink, cache, read_text
from migrate.analyzers._vmonly import vm_only_reason
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, Service

INIT_DIRS = ("/etc/init.d", "/etc/rc.d/init.d")
SKIP = {"README", "skeleton", "rc", "rcS", "rc.local", "functions", "halt", "killall", "single", "reboot",
        "sendsigs", "umountfs", "umountroot", "umountnfs.sh", "hwclock.sh", "bootlogs", "netconsole"}


class SysVAnalyzer(Analyzer):
    name = "sysv"
    requires = ("systemd",)

    def run(self, ctx: Context) -> Findings:
        fs = ctx.rootfs
        init_dir = next((d for d in INIT_DIRS if fs.is_dir(d)), None)
        if init_dir is None:
            raise NotApplicable("no /etc/init.d")
        f = Findings()
        # units masked by their vendor (/lib/.../foo.service -> /dev/null) exist to hide foo's init script
        systemd_names: set[str] = {n.removesuffix(".service") for n in cache(ctx).get("systemd_vendor_masked", ())}
        for svc in ctx.findings("systemd").services:
            systemd_names.add(svc.name)
            for ev in svc.evidence:
                if ev.detail and "alias " in ev.detail:
                    aliases = ev.detail.split("alias ", 1)[1].split(", ")
                    systemd_names.update(a.removesuffix(".service") for a in aliases)
        links: dict[str, dict[str, list[str]]] = {}
        rc_base = "/etc/rc.d" if fs.is_dir("/etc/rc.d/rc3.d") else "/etc"
        for rc in fs.glob(f"{rc_base}/rc[0-6S].d"):
            level = posixpath.basename(rc)[2]
            for link in fs.iterdir(rc):
                m = re.match(r"^([SK])(\d\d)?(.+)$", posixpath.basename(link))
                if not m:
                    continue
                script = posixpath.basename(fs.readlink(link)) if fs.is_symlink(link) else m.group(3)
                links.setdefault(script, {"S": [], "K": []})[m.group(1)].append(level)
        for path in fs.iterdir(init_dir):
            name = posixpath.basename(path)
            if name in SKIP or name.startswith(".") or name.endswith((".dpkg-old", ".dpkg-dist", ".sh")):
                continue
            if name in systemd_names or not fs.is_file(path):
                continue
            text = read_text(ctx, self, path, f) or ""
            header = dict(re.findall(r"^#\s*(Short-Description|Description|Required-Start|Default-Start):\s*(.*)$",
                                     text, re.M))
            starts = links.get(name, {}).get("S", [])
            if any(level in "2345" for level in starts):
                state = "enabled"
            elif links.get(name, {}).get("K") or header.get("Default-Start"):
                state = "disabled"
            else:
                state = "unknown"
            exec_start: list[str] = []
            m = re.search(r"^\s*DAEMON=[\"']?([^\"'\s]+)", text, re.M)
            if m:
                exec_start = [m.group(1)]
                args = re.search(r"^\s*DAEMON_ARGS=[\"']([^\"']*)", text, re.M)
                if args:
                    exec_start += args.group(1).split()
                exec_start = SecretSink(ctx, self, f, name).argv(exec_start, path=path)
            reason = vm_only_reason(name)
            detail = f"state {state}; start links in rc{''.join(sorted(starts))}.d" if starts else f"state {state}"
            f.services.append(Service(
                name=name, manager="sysv", unit_path=path, state=state,  # type: ignore[arg-type]
                description=header.get("Short-Description") or header.get("Description"), exec_start=exec_start,
                after=header.get("Required-Start", "").replace("$", "").split(), vm_only=reason is not None,
                vm_only_reason=reason, evidence=[self.evidence(path, detail)]))
        return f
