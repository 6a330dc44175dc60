"""Every list endpoint answers in the same number of queries for 10 and for 1,000 objects."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from agents_core.models import AgentRun
from csm.models import (
    QBR,
    Account,
    AlertDelivery,
    ChurnAlert,
    ExpansionOpportunity,
    HealthScore,
    ScoringProfile,
)
from sales.models import OutreachDraft

pytestmark = pytest.mark.django_db


def grow_accounts(owner, n):
    have = Account.objects.count()
    return Account.objects.bulk_create(
        Account(name=f"A{i}", external_id=f"LQ-{i}", owner=owner) for i in range(have, n)
    )


def grow_alerts(owner, n):
    accounts = grow_accounts(owner, Account.objects.count() + n - ChurnAlert.objects.count())
    alerts = ChurnAlert.objects.bulk_create(
        ChurnAlert(account=a, raised_on=date(2026, 1, 1), raised_at=timezone.now(), reason="sharp_drop",
                   explanation="x", score=50, rag="AMBER", churn_risk="medium")
        for a in accounts
    )  # fmt: skip
    AlertDelivery.objects.bulk_create(AlertDelivery(alert=a, channel="admin", status="sent") for a in alerts)


def grow_qbrs(owner, n):
    accounts = grow_accounts(owner, Account.objects.count() + n - QBR.objects.count())
    QBR.objects.bulk_create(
        QBR(account=a, quarter="Q1 2026", sections={"health_summary": {}}, generated_at=timezone.now())
        for a in accounts
    )


def grow_health(owner, n):
    account = Account.objects.get_or_create(external_id="HIST", defaults={"name": "History", "owner": owner})[
        0
    ]
    profile = ScoringProfile.objects.get(segment="", is_active=True)
    have = HealthScore.objects.filter(account=account).count()
    HealthScore.objects.bulk_create(
        HealthScore(account=account, scored_on=date(2020, 1, 1) + timedelta(days=i), score=70, rag="GREEN",
                    churn_risk="low", breakdown={}, inputs={}, profile=profile, profile_version=1,
                    computed_at=timezone.now())
        for i in range(have, n)
    )  # fmt: skip
    return f"/api/v1/accounts/{account.pk}/health/"


def grow_opportunities(owner, n):
    accounts = grow_accounts(owner, Account.objects.count() + n - ExpansionOpportunity.objects.count())
    opportunities = ExpansionOpportunity.objects.bulk_create(
        ExpansionOpportunity(account=a, kind="seats", created_by="t") for a in accounts
    )
    OutreachDraft.objects.bulk_create(
        OutreachDraft(opportunity=o, subject="s", body="b", message_id=f"<{o.pk}@t>") for o in opportunities
    )


def grow_runs(owner, n):
    AgentRun.objects.bulk_create(
        AgentRun(agent="csm", task_type="health_scan", trigger="api", requested_by=owner)
        for _ in range(n - AgentRun.objects.count())
    )


ENDPOINTS = {
    "/api/v1/accounts/": grow_accounts,
    "/api/v1/alerts/": grow_alerts,
    "/api/v1/qbrs/": grow_qbrs,
    "/api/v1/opportunities/": grow_opportunities,
    "/api/v1/drafts/": grow_opportunities,
    "/api/v1/agents/csm/runs/": grow_runs,
    "health": grow_health,
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_list_query_count_is_flat_from_10_to_1000(api, api_book, endpoint, django_assert_max_num_queries):
    client = api(api_book["manager"])
    grow = ENDPOINTS[endpoint]

    def count(n):
        path = (
            grow(api_book["tom"], n)
            if endpoint == "health"
            else (grow(api_book["tom"], n) and None) or endpoint
        )
        client.get(path)  # warm the user's permission cache
        with django_assert_max_num_queries(12) as ctx:
            response = client.get(path)
        assert response.status_code == 200 and response.json()["count"] >= n
        return len(ctx.captured_queries)

    assert count(10) == count(1000)
