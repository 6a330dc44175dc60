"""Follow-through, for managers: does the work that findings make get done, and does it help?

Per CSM: how long alerts wait for a first action (acknowledged, or a task on the account closed
after the alert was raised), how many tasks closed as done were done on time, how many are
overdue now. Per playbook: runs started, done, closed because the cause went away, in progress,
and tasks done on time. And the outcome that matters: among accounts that raised an alert and
then renewed or not (the backtest's outcomes), the share kept by those that went through the
churn-save playbook against those that did not.

Aggregates in the database over a window (WINDOW_DAYS), a fixed number of queries whatever the
size of the book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import median

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from csm.models import ChurnAlert, RenewalOutcome
from csm.playbooks.models import Playbook, PlaybookRun, Task

WINDOW_DAYS = 90
CHURN_SAVE = "Churn save"


@dataclass
class FollowThrough:
    since: date
    people: list[dict] = field(default_factory=list)
    playbooks: list[dict] = field(default_factory=list)
    # {"with": (kept, of), "without": (kept, of)}: renewal outcomes after an alert.
    save_outcomes: dict[str, tuple[int, int]] = field(default_factory=dict)


def follow_through(*, today: date | None = None) -> FollowThrough:
    today = today or timezone.localdate()
    since = today - timedelta(days=WINDOW_DAYS)
    report = FollowThrough(since=since)

    # Alerts: the first action is the acknowledgement or the first task closed on the account since.
    first_close = (
        Task.objects.filter(account=OuterRef("account"), closed_at__gte=OuterRef("raised_at"))
        .order_by("closed_at")
        .values("closed_at")[:1]
    )
    waits: dict[int, list[float]] = {}
    for owner, raised, acknowledged, closed in (
        ChurnAlert.objects.filter(raised_on__gte=since, account__owner__isnull=False)
        .annotate(first_close=first_close)
        .values_list("account__owner", "raised_at", "acknowledged_at", "first_close")
    ):
        acted = min(filter(None, [acknowledged, closed]), default=None)
        if acted is not None:
            waits.setdefault(owner, []).append((acted - raised).total_seconds() / 3600)

    closed_done = Q(status=Task.Status.DONE, closed_at__date__gte=since)
    per_owner = {
        row["owner"]: row
        for row in Task.objects.values("owner")
        .annotate(
            done=Count("id", filter=closed_done),
            on_time=Count("id", filter=closed_done & Q(closed_at__date__lte=F("due_on"))),
            overdue=Count("id", filter=Q(status=Task.Status.OPEN, due_on__lt=today)),
            open=Count("id", filter=Q(status=Task.Status.OPEN)),
        )
        .order_by()
    }
    names = {
        u.pk: u.get_full_name() or u.get_username()
        for u in get_user_model().objects.filter(pk__in=set(per_owner) | set(waits))
    }
    for pk in sorted(names, key=lambda pk: names[pk].lower()):
        row = per_owner.get(pk, {"done": 0, "on_time": 0, "overdue": 0, "open": 0})
        hours = waits.get(pk, [])
        report.people.append({
            "user_id": pk, "name": names[pk], "alerts_acted_on": len(hours),
            "median_hours_to_act": round(median(hours), 1) if hours else None,
            "done": row["done"], "on_time": row["on_time"], "overdue": row["overdue"], "open": row["open"],
        })  # fmt: skip

    runs = {
        row["playbook"]: row
        for row in PlaybookRun.objects.filter(started_on__gte=since)
        .values("playbook")
        .annotate(
            started=Count("id"),
            done=Count("id", filter=Q(status=PlaybookRun.Status.DONE)),
            closed=Count("id", filter=Q(status=PlaybookRun.Status.CLOSED)),
            open=Count("id", filter=Q(status=PlaybookRun.Status.OPEN)),
        )
        .order_by()
    }
    steps = {
        row["playbook_run__playbook"]: row
        for row in Task.objects.filter(playbook_run__started_on__gte=since)
        .values("playbook_run__playbook")
        .annotate(
            done=Count("id", filter=Q(status=Task.Status.DONE)),
            on_time=Count("id", filter=Q(status=Task.Status.DONE, closed_at__date__lte=F("due_on"))),
        )
        .order_by()
    }
    for playbook in Playbook.objects.order_by("name"):
        row = runs.get(playbook.pk, {"started": 0, "done": 0, "closed": 0, "open": 0})
        tasks = steps.get(playbook.pk, {"done": 0, "on_time": 0})
        report.playbooks.append({**row, "playbook": playbook, "tasks_done": tasks["done"],
                                 "tasks_on_time": tasks["on_time"]})  # fmt: skip

    # Renewals after an alert: kept (renewed or downgraded) with the churn-save run before, or not.
    saved = PlaybookRun.objects.filter(
        account=OuterRef("account"), playbook__name=CHURN_SAVE, started_on__lte=OuterRef("renewal_date")
    )
    alerted = ChurnAlert.objects.filter(account=OuterRef("account"), raised_on__lte=OuterRef("renewal_date"))
    outcomes = (
        RenewalOutcome.objects.filter(renewal_date__gte=today - timedelta(days=365), synthetic=False)
        .filter(Exists(alerted))
        .annotate(saved=Exists(saved))
        .values("saved")
        .annotate(n=Count("id"), kept=Count("id", filter=~Q(outcome=RenewalOutcome.Outcome.CHURNED)))
        .order_by()
    )
    counts = {row["saved"]: (row["kept"], row["n"]) for row in outcomes}
    report.save_outcomes = {"with": counts.get(True, (0, 0)), "without": counts.get(False, (0, 0))}
    return report
