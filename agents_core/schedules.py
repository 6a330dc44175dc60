"""django-q2 Schedule rows for every agent's declared schedules, made idempotently.

`Schedule.name` is not unique in django-q2, so this module is the one place
that writes agent schedules, always through `update_or_create(name=...)`.
"""

from __future__ import annotations

from django.db import transaction
from django_q.models import Schedule

from agents_core.agents import registry
from agents_core.dispatch import RECOVER_FUNC, start_scheduled

START_FUNC = f"{start_scheduled.__module__}.{start_scheduled.__name__}"
# Not agent work: the safety net that sends again runs whose worker died.
SYSTEM_SCHEDULES = [("agents_core.recover_stale_runs", RECOVER_FUNC, "*/5 * * * *")]


def ensure_schedules() -> list[tuple[Schedule, bool]]:
    """Create or update one Schedule per declared agent schedule.

    Returns (schedule, created) pairs. Re-running never duplicates a row, and
    a changed cron takes effect from its next occurrence.
    """
    results = []
    with transaction.atomic():
        for agent in registry.all():
            for declared in agent.schedules:
                agent.task(declared.task_type)  # fail loudly on a typo
                args = repr((agent.id, declared.task_type, dict(declared.payload)))
                existing = Schedule.objects.filter(name=declared.name).order_by("pk").first()
                if existing and existing.cron == declared.cron and existing.args == args:
                    results.append((existing, False))
                    continue
                probe = Schedule(schedule_type=Schedule.CRON, cron=declared.cron)
                schedule, created = Schedule.objects.update_or_create(
                    name=declared.name,
                    defaults={
                        "func": START_FUNC,
                        "args": args,
                        "kwargs": None,
                        "schedule_type": Schedule.CRON,
                        "cron": declared.cron,
                        "repeats": -1,
                        # Without it django-q2 would run the task the moment
                        # the cluster starts; wait for the first due time.
                        "next_run": probe.calculate_next_run(),
                    },
                )
                results.append((schedule, created))
        for name, func, cron in SYSTEM_SCHEDULES:
            existing = Schedule.objects.filter(name=name).order_by("pk").first()
            if existing and existing.cron == cron and existing.func == func:
                results.append((existing, False))
                continue
            schedule, created = Schedule.objects.update_or_create(
                name=name,
                defaults={
                    "func": func,
                    "args": None,
                    "kwargs": None,
                    "schedule_type": Schedule.CRON,
                    "cron": cron,
                    "repeats": -1,
                    "next_run": Schedule(schedule_type=Schedule.CRON, cron=cron).calculate_next_run(),
                },
            )
            results.append((schedule, created))
    return results
