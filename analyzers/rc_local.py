"""/etc/rc.local: commands run once at boot (systemd's rc-local.service runs it when executable)."""

from __future__ import annotations

import shlex

from migrate.analyzers._support import SecretSink, read_text
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, Service

PATHS = ("/etc/rc.local", "/etc/rc.d/rc.local")


class RcLocalAnalyzer(Analyzer):
    name = "rc_local"

    def run(self, ctx: Context) -> Findings:
        path = next((p for p in PATHS if ctx.rootfs.is_file(p)), None)
        if path is None:
            raise NotApplicable("no rc.local")
        f = Findings()
        text = read_text(ctx, self, path, f) or ""
        sink = SecretSink(ctx, self, f, "rc.local")
        commands = []
        for line in text.splitlines():
            s = line.strip()
            if not s or s.startswith("#") or s in ("exit 0", "exit"):
                continue
            commands.append(sink.command(s, path=path))
        if not commands:
            raise NotApplicable("rc.local has no commands")
        st = ctx.rootfs.stat(path)
        executable = bool(st and st.mode & 0o111)
        first: list[str] = []
        try:
            first = shlex.split(commands[0])
        except ValueError:
            first = commands[0].split()
        f.services.append(Service(
            name="rc.local", manager="rc.local", unit_path=path, state="enabled" if executable else "disabled",
            description=f"{len(commands)} boot command(s): " + "; ".join(commands)[:500],
            exec_start=first, evidence=[self.evidence(path, "executable" if executable else "not executable")]))
        return f
