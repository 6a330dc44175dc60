"""A whole working book in bulk: accounts with everything a CSM reviews.

Used where a test needs many accounts with their scores, alerts, deliveries,
opportunities, drafts, QBRs and runs, fast (bulk inserts, no signals).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from agents_core.models import AgentRun
from csm.models import (
    QBR,
    Account,
    AccountSignals,
    AlertDelivery,
    ChurnAlert,
    ExpansionOpportunity,
    Feature,
    FeatureUsage,
    HealthScore,
    OutcomeGoal,
    QBRDue,
    RenewalOutcome,
    ScoringProfile,
)
from sales.models import OutreachDraft

HISTORY_DAYS = 3


def add_accounts(owner, count: int, *, prefix: str, today: date | None = None) -> list[Account]:
    """`count` accounts for `owner`, each with history and one of everything to review."""
    today = today or timezone.localdate()
    now = timezone.now()
    profile = ScoringProfile.objects.active().first()
    feature = Feature.objects.first() or Feature.objects.create(key="reports", name="Reports")
    accounts = Account.objects.bulk_create(
        [
            Account(
                name=f"{prefix} {i:05d}",
                external_id=f"{prefix}-{i:05d}",
                owner=owner,
                arr=Decimal(10_000 + i),
                seats_purchased=10,
                seats_used=8,
                renewal_date=today + timedelta(days=20 + i % 300),
                health_score=35.0,
                rag="RED",
                churn_risk="high",
                scored_at=now,
                primary_contact_email=f"contact{i}@example.com",
            )
            for i in range(count)
        ]
    )
    AccountSignals.objects.bulk_create(
        [AccountSignals(account=a, feature_adoption_rate=0.3, nps_score=4) for a in accounts]
    )
    HealthScore.objects.bulk_create(
        [
            HealthScore(
                account=a,
                scored_on=today - timedelta(days=d),
                score=35.0 + d,
                rag="RED",
                churn_risk="high",
                breakdown={"engagement": 5.0},
                inputs={},
                profile=profile,
                profile_version=profile.version,
                computed_at=now,
            )
            for a in accounts
            for d in range(HISTORY_DAYS)
        ]
    )
    alerts = ChurnAlert.objects.bulk_create(
        [
            ChurnAlert(
                account=a,
                raised_on=today,
                raised_at=now,
                reason=ChurnAlert.Reason.ENTERED_RED,
                reasons=["entered_red"],
                explanation="Entered RED: engagement fell.",
                score=35.0,
                previous_score=45.0,
                rag="RED",
                churn_risk="high",
                arr=a.arr,
                renewal_date=a.renewal_date,
            )
            for a in accounts
        ]
    )
    AlertDelivery.objects.bulk_create(
        [
            AlertDelivery(alert=alert, channel=channel, status=status, error=error)
            for alert in alerts
            for channel, status, error in (("admin", "sent", ""), ("chat", "failed", "HTTP 500 from Chat"))
        ]
    )
    opportunities = ExpansionOpportunity.objects.bulk_create(
        [
            ExpansionOpportunity(
                account=a,
                kind="seats",
                summary="Uses more seats than bought.",
                estimated_arr_impact=Decimal("1200"),
                status="drafted",
                created_by="csm agent",
            )
            for a in accounts
        ]
    )
    OutreachDraft.objects.bulk_create(
        [
            OutreachDraft(
                opportunity=o,
                to=f"contact{i}@example.com",
                sender=owner.email or "owner@example.com",
                subject=f"More seats for {o.account.name}",
                body="Hello,\n\nA few more seats?\n",
                message_id=f"<{prefix}-{i}@tend.test>",
                status=OutreachDraft.Status.CREATED,
                gmail_draft_id=f"r{i}",
                gmail_message_id=f"m{i}",
            )
            for i, o in enumerate(opportunities)
        ]
    )
    QBR.objects.bulk_create(
        [
            QBR(account=a, quarter="Q3 2026", sections={}, generated_at=now, trigger=QBR.Trigger.QUARTERLY)
            for a in accounts
        ]
    )
    QBRDue.objects.bulk_create(
        [QBRDue(account=a, contract_end=a.renewal_date, due_on=today - timedelta(days=1)) for a in accounts]
    )
    OutcomeGoal.objects.bulk_create(
        [OutcomeGoal(account=a, name="Hours saved", baseline=1, target=10, current=5) for a in accounts]
    )
    FeatureUsage.objects.bulk_create(
        [FeatureUsage(account=a, feature=feature, active_users=3, events_30d=40) for a in accounts]
    )
    RenewalOutcome.objects.bulk_create(
        [
            RenewalOutcome(
                account=a,
                renewal_date=a.renewal_date - timedelta(days=365),
                outcome=RenewalOutcome.Outcome.RENEWED,
                arr_before=a.arr,
                arr_after=a.arr,
            )
            for a in accounts
        ]
    )
    AgentRun.objects.bulk_create(
        [
            AgentRun(
                agent="csm",
                task_type="health_scan",
                payload={"account_ids": [a.pk]},
                trigger=AgentRun.Trigger.ADMIN,
                status=AgentRun.Status.SUCCEEDED,
                requested_by=owner,
                result={"scored": 1},
            )
            for a in accounts
        ]
    )
    return accounts
