"""Escalation: work not acted on in time goes to the owner's manager, once.

An open task late by its priority's business days (TEND_ESCALATE_AFTER, e.g. an urgent one a day
after its due day), and an alert not acknowledged or snoozed within TEND_ESCALATE_ALERTS_AFTER
business days of being raised, are handed to the owner's manager (their ReportingLine): the
manager gets a task saying what was not done and by whom (due today, high priority, on the
account), and the object records when and to whom it was escalated. Each is escalated at most
once (the mark on the object, and the task's unique cause). Someone with no manager on record is
not escalated; the run's result counts them, so a manager sees who is missing one.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from csm.models import Account, ChurnAlert
from csm.playbooks import notices, rules
from csm.playbooks.models import Task
from csm.playbooks.tasks import managers_of

DEFAULT_AFTER = {"urgent": 1, "high": 2, "normal": 3, "low": 5}
BATCH = 2_000


def escalation_after() -> dict[str, int]:
    return rules.parse_after(settings.TEND_ESCALATE_AFTER, DEFAULT_AFTER)


def escalate(*, today: date | None = None, now: datetime | None = None) -> dict[str, Any]:
    today = today or timezone.localdate()
    now = now or timezone.now()
    result = {"tasks": 0, "alerts": 0, "no_manager": 0}
    after = escalation_after()
    late_tasks = (
        Task.objects.open()
        .filter(escalated_at__isnull=True, due_on__lt=today)
        .exclude(origin=Task.Origin.ESCALATION)  # an escalation is not escalated again
        .select_related("account", "owner")
        .order_by("pk")
    )
    alerts = (
        ChurnAlert.objects.filter(
            acknowledged_at__isnull=True, escalated_at__isnull=True, account__status=Account.Status.ACTIVE,
            account__owner__isnull=False,
        )
        .exclude(snoozed_until__gt=today)
        .select_related("account", "account__owner")
        .order_by("pk")
    )  # fmt: skip
    for chunk in _chunks(late_tasks):
        due = [t for t in chunk if rules.escalate_on(t.due_on, after[t.priority]) <= today]
        _hand_over(due, today=today, now=now, result=result)
    for chunk in _chunks(alerts):
        due = [
            a for a in chunk if rules.escalate_on(a.raised_on, settings.TEND_ESCALATE_ALERTS_AFTER) <= today
        ]
        _hand_over(due, today=today, now=now, result=result)
    return result


def _chunks(queryset):
    chunk = []
    for row in queryset.iterator(chunk_size=BATCH):
        chunk.append(row)
        if len(chunk) == BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _hand_over(late: list, *, today: date, now: datetime, result: dict[str, int]) -> None:
    """A task for the owner's manager per late task or alert, and the mark on each (one chunk)."""
    if not late:
        return
    owner_of = {id(x): (x.owner_id if isinstance(x, Task) else x.account.owner_id) for x in late}
    managers = managers_of(set(owner_of.values()))
    made, marked = [], {Task: [], ChurnAlert: []}
    for item in late:
        owner_id = owner_of[id(item)]
        manager = managers.get(owner_id)
        if manager is None or manager.pk == owner_id:
            result["no_manager"] += 1
            continue
        if isinstance(item, Task):
            made.append(Task(
                account=item.account, owner=manager, title=f"Escalated: {item.title}"[:200],
                notes=f"{item.owner} has not closed this {item.get_priority_display().lower()} task, "
                      f"due {item.due_on:%d %b %Y}.",
                due_on=today, priority=Task.Priority.HIGH, origin=Task.Origin.ESCALATION,
                origin_key=f"escalation:task:{item.pk}",
            ))  # fmt: skip
            result["tasks"] += 1
        else:
            made.append(Task(
                account=item.account, owner=manager, title=f"Escalated alert: {item.account.name}"[:200],
                notes=f"{item.account.owner} has not acknowledged the alert raised on "
                      f"{item.raised_on:%d %b %Y}: {item.explanation}",
                due_on=today, priority=Task.Priority.HIGH, origin=Task.Origin.ESCALATION, alert=item,
                origin_key=f"escalation:alert:{item.pk}",
            ))  # fmt: skip
            result["alerts"] += 1
        marked[type(item)].append((item.pk, manager.pk))
    with transaction.atomic():
        Task.objects.bulk_create(made, ignore_conflicts=True)
        notices.notify_tasks(list(Task.objects.filter(origin_key__in=[t.origin_key for t in made])))
        for model, rows in marked.items():
            for pk, manager_id in rows:
                model.objects.filter(pk=pk, escalated_at__isnull=True).update(
                    escalated_at=now, escalated_to_id=manager_id
                )
