"""cron jobs: /etc/crontab, /etc/cron.d, per-user crontabs, the run-parts directories and anacrontab.
Commands are kept with secrets (``-pSECRET``, ``--password=``, URL passwords) redacted."""

from __future__ import annotations

import posixpath
import re

from migrate.analyzers._support import SecretSink, read_text
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, ScheduledJob

SPECIALS = {"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
ENV_LINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")


def parse_crontab(text: str, *, system: bool) -> list[tuple[str, str | None, str, int]]:
    """(schedule, user, command, line) for each job line of a crontab."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#") or ENV_LINE.match(s):
            continue
        parts = s.split()
        if parts[0] in SPECIALS:
            n = 1
        elif len(parts) >= 5:
            n = 5
        else:
            continue
        user = None
        if system:
            if len(parts) <= n + 1:
                continue
            user = parts[n]
            n += 1
        if len(parts) <= n:
            continue
        schedule = " ".join(parts[: n - 1 if system else n])
        command = s.split(None, n)[n] if len(s.split(None, n)) > n else ""
        out.append((schedule, user, command, lineno))
    return out


class CronAnalyzer(Analyzer):
    name = "cron"

    def run(self, ctx: Context) -> Findings:
        fs = ctx.rootfs
        f = Findings()
        found = False

        def add(source: str, path: str, schedule: str, command: str, user: str | None, detail: str) -> None:
            # a job's connections belong to no service (the cron daemon is not the client)
            sink = SecretSink(ctx, self, f, None, id_prefix=f"cron-{posixpath.basename(path)}")
            f.jobs.append(ScheduledJob(source=source, schedule=schedule,  # type: ignore[arg-type]
                                       command=sink.command(command, path=path), user=user,
                                       evidence=self.evidence(path, detail)))

        system_tabs = ["/etc/crontab"] + [p for p in fs.glob("/etc/cron.d/*")
                                           if re.match(r"^[A-Za-z0-9_-]+$", posixpath.basename(p))]
        for path in system_tabs:
            text = read_text(ctx, self, path, f)
            if text is None:
                continue
            found = True
            source = "crontab" if path == "/etc/crontab" else "cron.d"
            for schedule, user, command, lineno in parse_crontab(text, system=True):
                if "run-parts" in command and re.search(r"/etc/cron\.(hourly|daily|weekly|monthly)", command):
                    continue  # the periodic directories are listed below, script by script
                add(source, path, schedule, command, user, f"line {lineno}")
        for spool in ("/var/spool/cron/crontabs", "/var/spool/cron", "/etc/crontabs"):
            for path in fs.iterdir(spool):
                if not fs.is_file(path):
                    continue
                text = read_text(ctx, self, path, f)
                if text is None:
                    continue
                found = True
                user = posixpath.basename(path)
                for schedule, _, command, lineno in parse_crontab(text, system=False):
                    add("user-crontab", path, schedule, command, user, f"line {lineno}")
        for period in ("hourly", "daily", "weekly", "monthly"):
            for path in fs.iterdir(f"/etc/cron.{period}"):
                name = posixpath.basename(path)
                if name.startswith(".") or not re.match(r"^[A-Za-z0-9_-]+$", name) or not fs.is_file(path):
                    continue
                found = True
                st = fs.stat(path)
                f.jobs.append(ScheduledJob(source="cron-periodic", schedule=f"@{period}", command=path, user="root",
                                           enabled=bool(st and st.mode & 0o111),
                                           evidence=self.evidence(path, f"run-parts /etc/cron.{period}")))
        text = read_text(ctx, self, "/etc/anacrontab", f)
        if text is not None:
            found = True
            for lineno, line in enumerate(text.splitlines(), 1):
                s = line.strip()
                if not s or s.startswith("#") or ENV_LINE.match(s):
                    continue
                parts = s.split(None, 3)
                if len(parts) < 4 or "run-parts" in parts[3] and re.search(r"/etc/cron\.(daily|weekly|monthly)",
                                                                            parts[3]):
                    continue
                add("anacron", "/etc/anacrontab", f"period {parts[0]} delay {parts[1]}", parts[3], "root",
                    f"line {lineno}, job {parts[2]}")
        if not found:
            raise NotApplicable("no crontabs")
        return f
