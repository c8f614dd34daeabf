"""Jobs step: the VM's scheduled jobs run next to the container that has what they use, as a companion
service for short intervals or from the host's cron for calendar schedules."""

from __future__ import annotations

import shlex

from migrate.model.plan import Container, Job, ReportItem
from migrate.numbers import small_int
from migrate.planning.context import PlanContext


def plan_jobs(ctx: PlanContext, containers: list[Container]) -> list[Job]:
    jobs = sorted(ctx.inv.jobs, key=lambda j: (j.evidence.path, j.schedule, j.command))
    runs_with: dict[str, str] = {}
    for e in ctx.graph.edges:
        if e.kind == "runs-with" and e.source.startswith("job:"):
            runs_with.setdefault(e.source, e.target.removeprefix("service:"))
    out: list[Job] = []
    for i, j in enumerate(jobs):
        svc = runs_with.get(f"job:{i + 1}")
        cname = ctx.by_service.get(svc or "")
        schedule = j.schedule
        if schedule.startswith("OnCalendar="):
            cal = schedule.removeprefix("OnCalendar=")
            schedule_cron = {"daily": "@daily", "hourly": "@hourly", "weekly": "@weekly",
                             "monthly": "@monthly"}.get(cal)
        else:
            schedule_cron = schedule
        job = Job(schedule=j.schedule, command=j.command, user=j.user, source=f"{j.source}:{j.evidence.path}",
                  run_in=cname, reason="")
        if cname:
            c = next(c for c in containers if c.name == cname)
            job.uid, job.gid = c.user.uid, c.user.gid
            user = ""
            if j.user and j.user != c.user.name:
                u = next((u for u in ctx.inv.users if u.name == j.user), None)
                if u is not None:
                    job.uid, job.gid = u.uid, u.gid
                    user = f" --user {u.uid}:{u.gid}"
            job.host_cron = (f"{schedule_cron or '<schedule>'} cd /path/to/{ctx.stack} && docker compose run --rm "
                             f"--no-deps{user} {cname} sh -c {shlex.quote(j.command)}")
            interval = cron_interval(schedule_cron or "")
            if interval:
                job.action, job.interval_seconds = "service", interval
                job.name = f"{cname}-job-{i + 1}"
                job.reason = (f"runs every {interval // 60} min: a companion service {job.name} in the {cname} "
                              "image (same volumes, secrets and environment) runs it in a loop; its output goes "
                              "to `docker logs`")
            else:
                job.reason = (f"a calendar schedule: Compose and swarm have no scheduler and cron inside a "
                              f"container hides failures: run it from the host's cron in the {cname} container, "
                              "which has its files and volumes (line below)")
        else:
            job.reason = ("uses nothing a planned container provides: keep it on a host (or rewrite it against "
                          "the stack, e.g. `docker compose exec`)")
        out.append(job)
    return out

def shared_files(containers: list[Container], jobs: list[Job]) -> list[ReportItem]:
    out = []
    for c in containers:
        for v in c.volumes:
            users = sorted({o.name for o in containers if o is not c and any(
                v.target in " ".join(o.command.argv + [e.value for e in o.environment]) for _ in [0])})
            users += sorted({f"job `{j.command}`" for j in jobs if v.target in j.command})
            if users:
                out.append(ReportItem(subject=f"{v.volume} ({v.target})",
                                      reason=f"also used by {', '.join(users)}: mount the volume there too or "
                                             "go through the service"))
    return out


def cron_interval(schedule: str) -> int | None:
    """Seconds between runs for schedules that are a plain interval below a day, else None."""
    fields = schedule.split()
    if schedule == "@hourly" or fields == ["0", "*", "*", "*", "*"]:
        return 3600
    if len(fields) != 5 or fields[2:] != ["*", "*", "*"]:
        return None
    minute, hour = fields[0], fields[1]
    if hour == "*":
        if minute == "*":
            return 60
        step = _step(minute, 60)
        return step * 60 if step and 60 % step == 0 else None
    step = _step(hour, 24)
    if step and small_int(minute, lo=0, hi=59) is not None and 24 % step == 0:
        return step * 3600
    return None


def _step(field: str, most: int) -> int | None:
    """N of a ``*/N`` cron field (guest text: ``*/0`` divided by zero, ``*/`` + 5000 digits made int() raise)."""
    return small_int(field[2:], lo=1, hi=most) if field.startswith("*/") else None
