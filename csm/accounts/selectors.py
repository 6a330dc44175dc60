"""Reads about accounts that the admin, the API and the index share.

Who may see which account is `Account.objects.visible_to(user)` (and
`visible_to` on every model hanging off an account): the one rule, in
agents_core.visibility.
"""

from __future__ import annotations

from datetime import date

from django.db.models import Q, QuerySet

from csm.models import RAG, ChurnRisk

# Health a CSM must act on: RED, or a high/critical churn risk.
AT_RISK = Q(rag=RAG.RED) | Q(churn_risk__in=[ChurnRisk.HIGH, ChurnRisk.CRITICAL])
# Health worth a look: AMBER or RED, or a high/critical churn risk.
WEAK = Q(rag__in=[RAG.AMBER, RAG.RED]) | Q(churn_risk__in=[ChurnRisk.HIGH, ChurnRisk.CRITICAL])


def open_alerts(alerts: QuerySet, today: date) -> QuerySet:
    """Alerts nobody has acknowledged and that are not snoozed past `today`."""
    awake = Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=today)
    return alerts.filter(awake, acknowledged_at__isnull=True)
