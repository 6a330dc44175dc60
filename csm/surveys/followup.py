"""What a detractor's answer sets off (the `survey_followup` task, queued when one comes in).

For each detractor answer of the last week not yet followed up, on an account that is a customer:

* a churn alert with reason `detractor` (TEND_DETRACTOR_ALERTS, on by default), through the same
  path as the scan's: one per account per day, the run's cap by ARR, every channel. An account
  already alerted today keeps that alert; the answer is on its timeline either way;
* the playbooks whose trigger is "a detractor answers a survey" start, once per answer.

The answer is marked followed up in the transaction that records its alert, so a retry or a
second worker raises nothing twice; the playbook runs are unique per answer.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from csm.alerts.delivery import dispatch_alerts
from csm.models import Account, ChurnAlert
from csm.playbooks.models import Playbook
from csm.playbooks.runner import run_playbooks
from csm.surveys.models import SurveyResponse
from csm.surveys.responses import DETRACTORS, FOLLOW_UP_DAYS

BATCH = 500


def explain(response: SurveyResponse) -> str:
    who = response.name or response.email or "Someone"
    if response.name and response.email:
        who = f"{response.name} ({response.email})"
    scale = "10" if response.kind == SurveyResponse.Kind.NPS else "5"
    said = f' and wrote: "{response.comment[:300]}"' if response.comment else ""
    survey = f" on {response.survey}" if response.survey else ""
    return f"Detractor: {who} answered {response.score}/{scale}{survey}{said}."


def follow_up_detractors(*, run=None) -> dict[str, Any]:
    now = timezone.now()
    today = timezone.localdate(now)
    waiting = SurveyResponse.objects.filter(
        DETRACTORS,
        followed_up_at__isnull=True,
        responded_at__gte=now - timedelta(days=FOLLOW_UP_DAYS),
        account__status=Account.Status.ACTIVE,
    ).select_related("account")
    raised = answers = 0
    while True:
        with transaction.atomic():
            batch = list(waiting.select_for_update(of=("self",), skip_locked=True).order_by("pk")[:BATCH])
            if not batch:
                break
            answers += len(batch)
            if settings.TEND_DETRACTOR_ALERTS:
                alerts = {}
                for r in batch:  # the first answer of the day speaks for the account's alert
                    a = r.account
                    if a.health_score is None or a.pk in alerts:
                        continue  # never scored: no health to put on an alert (the playbooks still start)
                    alerts[a.pk] = ChurnAlert(
                        account=a, raised_on=today, raised_at=now, reason=ChurnAlert.Reason.DETRACTOR,
                        reasons=[ChurnAlert.Reason.DETRACTOR], explanation=explain(r), score=a.health_score,
                        rag=a.rag or "RED", churn_risk=a.churn_risk or "low", churn_trigger=a.churn_trigger,
                        arr=a.arr, renewal_date=a.renewal_date,
                    )  # fmt: skip
                before = ChurnAlert.objects.filter(raised_on=today, account_id__in=list(alerts)).count()
                ChurnAlert.objects.bulk_create(list(alerts.values()), ignore_conflicts=True)
                raised += (
                    ChurnAlert.objects.filter(raised_on=today, account_id__in=list(alerts)).count() - before
                )
            SurveyResponse.objects.filter(pk__in=[r.pk for r in batch]).update(followed_up_at=now)
    sent = dispatch_alerts(today, cap=settings.TEND_ALERT_CAP_PER_RUN, run=run) if raised else {}
    playbooks = run_playbooks(triggers=[Playbook.Trigger.DETRACTOR])
    return {"answers": answers, "alerts": {"raised": raised, **sent}, "playbooks": playbooks}
