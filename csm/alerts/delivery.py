"""Churn alerts from the scan: record them, pick which go out, deliver them per channel.

* The scan hands over the accounts whose change deserves an alert
  (csm.alerts.triggers). Accounts alerted within the cooldown are left out;
  the others get a ChurnAlert, explained from the two breakdowns, in the same
  transaction as their score. One alert per account per day at most (a
  database constraint), so a re-run of the day adds nothing.
* After the scan, at most the cap go out, highest ARR first; the rest stay
  recorded, marked held back, in the admin.
* Each alert that goes out gets one delivery per channel. Each channel
  fails on its own and is retried with backoff; one that is not configured
  is skipped and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from csm.alerts import rules as alert_rules
from csm.alerts.channels import CHANNELS, ChannelSkipped
from csm.models import AlertDelivery, ChurnAlert, HealthScore
from csm.scoring import engine

CLAIM_TIMEOUT = timedelta(minutes=10)
MAX_AUTO_ATTEMPTS = 6


@dataclass(frozen=True)
class AlertCandidate:
    account_id: int
    reasons: list[str]
    result: engine.ScoreResult
    previous_score: float
    arr: Decimal
    renewal_date: date | None
    score_explanation: str = ""


def build_alerts(candidates: list[AlertCandidate], *, today: date, now: datetime) -> list[ChurnAlert]:
    """Alerts for the candidates outside their cooldown (two queries, whatever the count)."""
    ids = [c.account_id for c in candidates]
    since = today - timedelta(days=settings.TEND_ALERT_COOLDOWN_DAYS)
    cooling = set(
        ChurnAlert.objects.filter(account_id__in=ids, raised_on__gt=since).values_list(
            "account_id", flat=True
        )
    )
    fresh = [c for c in candidates if c.account_id not in cooling]
    if not fresh:
        return []
    latest_before = HealthScore.objects.filter(account=OuterRef("account"), scored_on__lt=today).order_by(
        "-scored_on"
    )
    previous = dict(
        HealthScore.objects.filter(
            account_id__in=[c.account_id for c in fresh],
            scored_on=Subquery(latest_before.values("scored_on")[:1]),
        ).values_list("account_id", "breakdown")
    )
    made = []
    for c in fresh:
        moved = engine.movement(previous.get(c.account_id, {}), c.result.breakdown)[:3]
        made.append(
            ChurnAlert(
                account_id=c.account_id,
                raised_on=today,
                raised_at=now,
                reason=c.reasons[0],
                reasons=c.reasons,
                explanation=alert_rules.explain(
                    reasons=c.reasons,
                    score=c.result.score,
                    previous_score=c.previous_score,
                    churn_risk=c.result.churn_risk,
                    churn_trigger=c.result.churn_trigger or "",
                    moved=moved if c.account_id in previous else [],
                    renewal_date=c.renewal_date,
                    today=today,
                    arr=c.arr,
                    currency=settings.TEND_CURRENCY,
                )
                + (f" {c.score_explanation}" if c.score_explanation else ""),
                score=c.result.score,
                previous_score=c.previous_score,
                rag=c.result.rag,
                churn_risk=c.result.churn_risk,
                churn_trigger=c.result.churn_trigger or "",
                moved=[list(m) for m in moved],
                arr=c.arr,
                renewal_date=c.renewal_date,
            )
        )
    return made


def dispatch_alerts(today: date, *, cap: int, run=None) -> dict[str, Any]:
    """Send the day's new alerts, at most `cap` of them by ARR; hold the rest back.

    The deliveries run as a follow-up of `run` (the scan or check that raised them).
    """
    from agents_core.dispatch import follow_up

    with transaction.atomic():
        alerts = ChurnAlert.objects.all()
        if run is not None and run.requested_by_id is not None:
            # A person's run sends only the alerts they may see (its trail is theirs to read).
            alerts = alerts.visible_to(run.requested_by)
        waiting = list(
            alerts.select_for_update()
            .filter(raised_on=today, dispatched=False, held_back=False)
            .order_by("-arr", "pk")
            .values_list("pk", flat=True)
        )
        going, held = waiting[:cap], waiting[cap:]
        ChurnAlert.objects.filter(pk__in=held).update(held_back=True)
        ChurnAlert.objects.filter(pk__in=going).update(dispatched=True)
        now = timezone.now()
        AlertDelivery.objects.bulk_create(
            [
                AlertDelivery(
                    alert_id=pk,
                    channel=channel,
                    # The admin is a channel too, delivered by the alert existing.
                    status=AlertDelivery.Status.SENT if channel == AlertDelivery.Channel.ADMIN else "pending",
                    delivered_at=now if channel == AlertDelivery.Channel.ADMIN else None,
                )
                for pk in going
                for channel in [AlertDelivery.Channel.ADMIN, *CHANNELS]
            ],
            ignore_conflicts=True,
        )
    delivery_run = follow_up(run, "csm", "deliver_alerts", {"alert_ids": going}) if going else None
    return {
        "sent": len(going),
        "held_back": len(held),
        "delivery_run": delivery_run.pk if delivery_run else None,
    }


def _claim(delivery: AlertDelivery) -> bool:
    now = timezone.now()
    fresh = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT)
    return bool(
        AlertDelivery.objects.filter(
            fresh, pk=delivery.pk, status__in=[AlertDelivery.Status.PENDING, AlertDelivery.Status.FAILED]
        ).update(claimed_at=now, attempts=F("attempts") + 1)
    )


def deliver(delivery: AlertDelivery) -> str:
    """One channel's attempt; returns the resulting status. Never raises for a channel's failure."""
    if not _claim(delivery):
        return "skipped: done already, or another worker has it"
    delivery.refresh_from_db()
    alert = ChurnAlert.objects.select_related("account__owner").get(pk=delivery.alert_id)
    now = timezone.now()
    done = {"claimed_at": None, "next_retry_at": None, "error": ""}
    try:
        external_id = CHANNELS[delivery.channel](alert, delivery)
    except ChannelSkipped as exc:
        done.update(status=AlertDelivery.Status.SKIPPED, error=str(exc))
    except Exception as exc:
        retry_at = now + timedelta(minutes=min(2**delivery.attempts, 360))
        done.update(
            status=AlertDelivery.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            next_retry_at=retry_at if delivery.attempts < MAX_AUTO_ATTEMPTS else None,
        )
    else:
        done.update(status=AlertDelivery.Status.SENT, external_id=external_id or "", delivered_at=now)
    AlertDelivery.objects.filter(pk=delivery.pk).update(**done)
    return done["status"]


def deliveries_due(alert_ids: list[int] | None = None, limit: int = 500) -> list[AlertDelivery]:
    now = timezone.now()
    due = AlertDelivery.objects.filter(
        Q(status=AlertDelivery.Status.PENDING, claimed_at__isnull=True)
        | Q(status=AlertDelivery.Status.FAILED, next_retry_at__lte=now)
        | Q(status__in=["pending", "failed"], claimed_at__lt=now - CLAIM_TIMEOUT)
    )
    if alert_ids is not None:
        due = due.filter(alert_id__in=alert_ids)
    return list(due.order_by("pk")[:limit])


def deliver_due(alert_ids: list[int] | None = None) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for delivery in deliveries_due(alert_ids):
        status = deliver(delivery)
        outcomes[status] = outcomes.get(status, 0) + 1
    return outcomes


def retry_now(delivery: AlertDelivery, user=None) -> str:
    """From the admin: try a failed delivery again at once, recording who asked."""
    AlertDelivery.objects.filter(pk=delivery.pk, status=AlertDelivery.Status.FAILED).update(
        next_retry_at=None, retried_at=timezone.now(), retried_by=user
    )
    return deliver(delivery)


def acknowledge(alert: ChurnAlert, user) -> ChurnAlert:
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = timezone.now(), user
        alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
    return alert


def snooze(alert: ChurnAlert, days: int) -> ChurnAlert:
    alert.snoozed_until = timezone.localdate() + timedelta(days=days)
    alert.save(update_fields=["snoozed_until"])
    return alert
