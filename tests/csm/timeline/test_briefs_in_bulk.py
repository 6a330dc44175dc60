"""The briefs of a QBR batch, read for many accounts at once, say exactly what each account's own
brief says, in the same queries for 2 accounts as for 12."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from csm.models import ChurnAlert, Contact, CrmChange, Interaction, SurveyResponse, Task
from csm.timeline.brief import DAYS, account_brief, account_briefs
from tests.csm.timeline.test_timeline import _scores

pytestmark = pytest.mark.django_db


def _storied(make_account, owner, n: int):
    now, today = timezone.now(), timezone.localdate()
    account = make_account(name=f"Storied {n}", owner=owner)
    _scores(account, 40 + n * 30, start_score=80.0 - n)  # moves near the end, and one at the window's edge
    Contact.objects.create(account=account, name=f"Champ {n}", email=f"c{n}@s.test", role="champion",
                           archived_at=now - timedelta(days=3))  # fmt: skip
    Contact.objects.create(account=account, name=f"User {n}", role="user", is_primary=True,
                           last_active_at=now - timedelta(days=1))  # fmt: skip
    SurveyResponse.objects.create(account=account, kind="nps", score=n % 11, email=f"c{n}@s.test",
                                  comment=f"Said {n}", responded_at=now - timedelta(days=n + 1))  # fmt: skip
    Task.objects.create(
        account=account, owner=owner, title=f"Follow up {n}", due_on=today - timedelta(days=n)
    )
    ChurnAlert.objects.create(account=account, raised_on=today, raised_at=now, reason="sharp_drop",
                              reasons=["sharp_drop"], explanation=f"Fell {n}", score=40.0, rag="AMBER",
                              churn_risk="high")  # fmt: skip
    Interaction.objects.create(
        account=account,
        kind="call",
        occurred_on=today - timedelta(days=DAYS),
        title=f"Edge call {n}",
        author=owner,
    )  # the window's first day: in
    Interaction.objects.create(
        account=account,
        kind="note",
        occurred_on=today - timedelta(days=DAYS + 1),
        title=f"Too old {n}",
        author=owner,
    )  # the day before: out
    CrmChange.objects.create(account=account, system="hubspot", tend_field="plan", old_value="A",
                             new_value="B", changed_at=now - timedelta(hours=n))  # fmt: skip
    return account


def test_many_at_once_say_what_each_says_alone(make_account, make_user):
    maya = make_user("maya")
    accounts = [_storied(make_account, maya, n) for n in range(3)]
    together = account_briefs(accounts)
    for account in accounts:
        alone = account_brief(account)
        assert together[account.pk] == alone
        assert f"Edge call {accounts.index(account)}" in alone and "Too old" not in alone
        assert "(champion) left: removed in the CRM" in alone and "HubSpot changed plan" in alone


def test_a_batch_costs_the_same_queries_for_2_accounts_as_for_12(make_account, make_user):
    maya = make_user("maya")
    accounts = [_storied(make_account, maya, n) for n in range(12)]
    counts = []
    for batch in (accounts[:2], accounts):
        with CaptureQueriesContext(connection) as queries:
            account_briefs(batch)
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 16, counts
