"""The daily contract check (08:00): renewals near with weak health, and QBRs coming due.

* An account whose renewal falls inside its profile's churn window while its
  health is AMBER or RED gets a churn alert, through the same path as the
  scan's (cooldown, one per day, the cap, every channel) - once per renewal
  cycle: an account already alerted for this renewal is not alerted again.
* An account whose contract ends within 90 days gets a QBR due, once per
  contract end, for the QBR to be written.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from csm.alerts import rules as alert_rules
from csm.alerts.delivery import dispatch_alerts
from csm.models import Account, ChurnAlert, HealthScore, QBRDue
from csm.scoring.profiles import load_active_profiles

QBR_LEAD_DAYS = 90


def contract_check(
    *, today: date | None = None, account_ids: list[int] | None = None, run=None
) -> dict[str, Any]:
    today = today or timezone.localdate()
    now = timezone.now()
    profiles = load_active_profiles()
    longest = max(p.churn_window_days for _pk, p in profiles.by_segment.values())
    accounts = Account.objects.scannable()
    if account_ids is not None:
        accounts = accounts.filter(pk__in=account_ids)

    weak = accounts.filter(
        renewal_date__gte=today, renewal_date__lte=today + timedelta(days=longest), rag__in=["AMBER", "RED"]
    ).values_list(
        "pk", "segment", "renewal_date", "rag", "health_score", "churn_risk", "churn_trigger", "arr"
    )
    in_window = [
        row for row in weak if (row[2] - today).days <= profiles.for_segment(row[1])[1].churn_window_days
    ]
    ids = [row[0] for row in in_window]
    since = today - timedelta(days=settings.TEND_ALERT_COOLDOWN_DAYS)
    recent = set(
        ChurnAlert.objects.filter(account_id__in=ids, raised_on__gt=since).values_list(
            "account_id", flat=True
        )
    )
    # Already told about this renewal: an alert raised since the account entered its window.
    told = {
        account_id
        for account_id, raised_on, renewal in ChurnAlert.objects.filter(
            account_id__in=ids, reason=ChurnAlert.Reason.RENEWAL_NEAR
        ).values_list("account_id", "raised_on", "renewal_date")
        if renewal is not None and raised_on >= renewal - timedelta(days=longest)
    }
    fresh = [row[0] for row in in_window if row[0] not in recent and row[0] not in told]
    # The latest score's one-line reason, for each account about to be alerted (one query).
    why = dict(  # in date order, so the latest of the week wins
        HealthScore.objects.filter(
            account_id__in=fresh, scored_on__lte=today, scored_on__gt=today - timedelta(days=7)
        )
        .order_by("account_id", "scored_on")
        .values_list("account_id", "explanation")
    )
    new_alerts = [
        ChurnAlert(
            account_id=pk,
            raised_on=today,
            raised_at=now,
            reason=ChurnAlert.Reason.RENEWAL_NEAR,
            reasons=[ChurnAlert.Reason.RENEWAL_NEAR],
            explanation=" ".join(
                filter(
                    None,
                    [
                        alert_rules.explain_renewal(
                            rag=rag,
                            score=score,
                            churn_risk=churn,
                            renewal_date=renewal,
                            today=today,
                            arr=arr,
                            currency=settings.TEND_CURRENCY,
                        ),
                        why.get(pk, ""),
                    ],
                )
            ),
            score=score,
            rag=rag,
            churn_risk=churn,
            churn_trigger=trigger,
            arr=arr,
            renewal_date=renewal,
        )
        for pk, _segment, renewal, rag, score, churn, trigger, arr in in_window
        if pk not in recent and pk not in told and score is not None
    ]
    with transaction.atomic():
        ChurnAlert.objects.bulk_create(new_alerts, ignore_conflicts=True)
        due = [
            QBRDue(account_id=pk, contract_end=end, due_on=max(today, end - timedelta(days=QBR_LEAD_DAYS)))
            for pk, end in accounts.filter(
                renewal_date__gte=today, renewal_date__lte=today + timedelta(days=QBR_LEAD_DAYS)
            ).values_list("pk", "renewal_date")
        ]
        before = QBRDue.objects.count()
        QBRDue.objects.bulk_create(due, ignore_conflicts=True)
        qbrs_recorded = QBRDue.objects.count() - before
    dispatched = dispatch_alerts(today, cap=settings.TEND_ALERT_CAP_PER_RUN, run=run) if new_alerts else {}
    owed = list(
        QBRDue.objects.filter(fulfilled_at__isnull=True, due_on__lte=today, account__in=accounts).values_list(
            "account_id", flat=True
        )
    )
    qbr_run = None
    if owed:
        from agents_core.dispatch import follow_up

        qbr_run = follow_up(
            run, "csm", "generate_qbr", {"account_ids": sorted(owed), "trigger": "contract"}
        ).pk
    return {
        "qbrs_queued": len(owed),
        "qbr_run": qbr_run,
        "renewals_in_window_with_weak_health": len(in_window),
        "alerts": {"raised": len(new_alerts), **dispatched},
        "qbrs_due_recorded": qbrs_recorded,
    }
