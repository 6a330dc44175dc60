"""A list shorter than the estimate's threshold, but long, is counted within a time budget: a count
that takes longer is stopped and the planner's estimate shown, labelled as such (PostgreSQL)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL

from agents_core import pagination
from agents_core.pagination import CountingPaginator
from csm.models import Account

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="statement_timeout is PostgreSQL's"),
]

# A count that takes 200 ms.
SLOW = RawSQL("(SELECT true FROM pg_sleep(0.2))", [], BooleanField())


@pytest.fixture
def book(make_account, monkeypatch, settings):
    for n in range(30):
        make_account(name=f"Slow {n:02d}")
    settings.TEND_ESTIMATED_COUNT_FROM = 100_000
    monkeypatch.setattr(pagination, "planner_rows", lambda queryset: 20_000)  # long, not very long


def statement_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


def test_a_count_over_budget_is_stopped_and_the_estimate_shown(book, settings):
    settings.TEND_COUNT_BUDGET_MS = 5
    before = statement_timeout()
    paginator = CountingPaginator(Account.objects.alias(slow=SLOW).filter(slow=True).order_by("pk"), 10)
    assert (paginator.count, paginator.estimated) == (20_000, True)
    # The limit was the count's alone, and the transaction goes on.
    assert statement_timeout() == before
    assert len(paginator.page(1).object_list) == 10 and paginator.page(3).has_next() is False


def test_a_count_within_budget_is_exact(book, settings):
    settings.TEND_COUNT_BUDGET_MS = 10_000
    paginator = CountingPaginator(Account.objects.alias(slow=SLOW).filter(slow=True).order_by("pk"), 10)
    assert (paginator.count, paginator.estimated) == (30, False)


def test_no_budget_means_counted_however_long(book, settings):
    settings.TEND_COUNT_BUDGET_MS = 0
    paginator = CountingPaginator(Account.objects.alias(slow=SLOW).filter(slow=True).order_by("pk"), 10)
    assert (paginator.count, paginator.estimated) == (30, False)


def test_a_short_list_is_counted_without_a_budget(make_account, monkeypatch, settings):
    make_account()
    settings.TEND_COUNT_BUDGET_MS = 1
    monkeypatch.setattr(pagination, "planner_rows", lambda queryset: pagination.TIMED_COUNT_FROM - 1)
    monkeypatch.setattr(pagination, "count_within", lambda *a: pytest.fail("a short list was timed"))
    paginator = CountingPaginator(Account.objects.order_by("pk"), 10)
    assert (paginator.count, paginator.estimated) == (1, False)


def test_an_api_list_over_budget_says_its_count_is_an_estimate(api, api_book, monkeypatch, settings):
    settings.TEND_COUNT_BUDGET_MS = 5
    monkeypatch.setattr(pagination, "planner_rows", lambda queryset: 20_000)
    monkeypatch.setattr(pagination, "count_within", lambda queryset, ms: None)  # as if stopped
    body = api(api_book["manager"]).get("/api/v1/accounts/").json()
    assert (body["count"], body["count_is_estimate"]) == (20_000, True)
    assert len(body["results"]) == 5
