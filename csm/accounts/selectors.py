"""Reads about accounts that the admin, the API and the index share.

Who may see which account is `Account.objects.visible_to(user)` (and
`visible_to` on every model hanging off an account): the one rule, in
agents_core.visibility.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db.models import Q, QuerySet

from csm.models import RAG, Account, ChurnRisk

# Health a CSM must act on: RED, or a high/critical churn risk.
AT_RISK = Q(rag=RAG.RED) | Q(churn_risk__in=[ChurnRisk.HIGH, ChurnRisk.CRITICAL])
# Health worth a look: AMBER or RED, or a high/critical churn risk.
WEAK = Q(rag__in=[RAG.AMBER, RAG.RED]) | Q(churn_risk__in=[ChurnRisk.HIGH, ChurnRisk.CRITICAL])


def open_alerts(alerts: QuerySet, today: date) -> QuerySet:
    """Alerts nobody has acknowledged and that are not snoozed past `today`."""
    awake = Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=today)
    return alerts.filter(awake, acknowledged_at__isnull=True)


# The index's windows, shared with the lists its tiles open (csm.admin filters).
RENEWAL_WINDOW_DAYS = 60
QBR_DUE_AHEAD_DAYS = 14
# A new account is scored within seconds (csm.scoring.on_change); one still
# unscored after this long could not be.
SCORING_GRACE = timedelta(minutes=10)


def not_scored_q(*, now: datetime, last_scan: datetime | None) -> Q:
    """Accounts that should have a current score and have none: never scored though added
    more than SCORING_GRACE ago, or skipped by the last daily scan (started at `last_scan`)."""
    missing = Q(scored_at__isnull=True, created_at__lt=now - SCORING_GRACE)
    if last_scan is not None:
        missing |= Q(scored_at__lt=last_scan, created_at__lt=last_scan)
    return missing


def not_scored(accounts: QuerySet, *, now: datetime, last_scan: datetime | None) -> QuerySet:
    """The accounts of the book with no current score (`not_scored_q`)."""
    return in_book(accounts).filter(not_scored_q(now=now, last_scan=last_scan))


def in_book(queryset: QuerySet, path: str = "") -> QuerySet:
    """Rows of current customers: an account lost (churned) or gone from the CRM (archived) is
    history, not book."""

    return queryset.exclude(**{f"{path}status__in": [Account.Status.CHURNED, Account.Status.ARCHIVED]})


def weak_renewal_q(today: date) -> Q:
    """Active accounts renewing within RENEWAL_WINDOW_DAYS with weak health."""
    return WEAK & Q(
        status=Account.Status.ACTIVE,
        renewal_date__gte=today,
        renewal_date__lte=today + timedelta(days=RENEWAL_WINDOW_DAYS),
    )


def weak_renewals(accounts: QuerySet, today: date) -> QuerySet:
    return accounts.filter(weak_renewal_q(today))


def overdue_renewal_q(today: date) -> Q:
    """Active accounts whose renewal date has passed: renewed or lost, nobody has said which."""
    return Q(status=Account.Status.ACTIVE, renewal_date__lt=today)


def overdue_renewals(accounts: QuerySet, today: date) -> QuerySet:
    return accounts.filter(overdue_renewal_q(today))


def qbrs_due_soon(qbrs_due: QuerySet, today: date) -> QuerySet:
    """QBRs owed and not written, due within QBR_DUE_AHEAD_DAYS (or already late)."""
    return qbrs_due.filter(fulfilled_at__isnull=True, due_on__lte=today + timedelta(days=QBR_DUE_AHEAD_DAYS))
