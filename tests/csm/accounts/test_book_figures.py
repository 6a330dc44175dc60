"""The book's figures kept by the whole-book scan, and read by the index of a very long book."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agents_core.dispatch import enqueue
from agents_core.models import AgentRun
from config.book_today import book_today
from csm.accounts import figures
from csm.accounts.selectors import in_book
from csm.models import Account, BookFigures
from tests.book import add_accounts

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(make_user):
    maya, tom = make_user("maya"), make_user("tom")
    accounts = add_accounts(maya, 4, prefix="Maya") + add_accounts(tom, 3, prefix="Tom")
    # Some variety: a GREEN one, an unowned AMBER one renewing in a month, one overdue.
    Account.objects.filter(pk=accounts[0].pk).update(rag="GREEN", churn_risk="low")
    Account.objects.filter(pk=accounts[5].pk).update(
        owner=None, rag="AMBER", churn_risk="medium", renewal_date=timezone.localdate() + timedelta(days=30)
    )
    Account.objects.filter(pk=accounts[6].pk).update(renewal_date=timezone.localdate() - timedelta(days=3))
    return {"maya": maya, "tom": tom, "manager": make_user("morgan", view_all=True)}


@pytest.fixture
def long_book(monkeypatch):
    """Make every book look long to the planner (SQLite has no estimate at all)."""
    monkeypatch.setattr(figures, "planner_rows", lambda queryset: 10_000_000)


def figures_of(book) -> tuple:
    return (
        book.totals,
        book.counts,
        book.arr_at_risk_by_month,
        [
            {k: v for k, v in row.items() if k not in ("at_risk_by_month", "not_scored_ids")}
            for row in book.team
        ],
    )


def test_kept_figures_are_the_ones_counted_for_every_user(team, long_book):
    counted = {who: figures_of(book_today(team[who])) for who in ("maya", "tom", "manager")}
    figures.keep()
    for who in ("maya", "tom", "manager"):
        book = book_today(team[who])
        assert book.as_of is not None
        assert figures_of(book) == counted[who], who
    manager = counted["manager"][0]
    assert manager["accounts"] == 7 and manager["green"] == 1 and manager["amber"] == 1
    assert counted["manager"][1]["overdue_renewals"] == 1
    # The unowned account is in the team's figures, on its own line.
    assert {row["name"] for row in counted["manager"][3]} == {"maya", "tom", "Unassigned"}


def test_a_long_book_shows_the_kept_figures_and_the_lists_as_they_are(team, long_book):
    figures.keep()
    maya_accounts = in_book(Account.objects.filter(owner=team["maya"]))
    gone = maya_accounts.filter(rag="RED").first()
    Account.objects.filter(pk=gone.pk).update(status=Account.Status.CHURNED)

    book = book_today(team["maya"])
    assert book.totals["accounts"] == 4 and book.totals["red"] == 3  # as the scan left them
    assert gone.pk not in {entry.account.pk for entry in book.attention}  # the list is live

    figures.keep()
    assert book_today(team["maya"]).totals["accounts"] == 3


def test_a_book_of_ordinary_size_is_counted_on_every_view(team):
    figures.keep()
    Account.objects.filter(owner=team["maya"]).update(status=Account.Status.CHURNED)
    book = book_today(team["maya"])
    assert book.as_of is None and book.totals["accounts"] == 0


def test_nothing_kept_yet_means_counted(team, long_book):
    book = book_today(team["manager"])
    assert book.as_of is None and book.totals["accounts"] == 7


def test_reading_the_kept_figures_does_not_aggregate_the_book(team, long_book):
    figures.keep()
    with CaptureQueriesContext(connection) as queries:
        book_today(team["manager"])
    grouped = [q["sql"] for q in queries if "GROUP BY" in q["sql"] and 'FROM "csm_account"' in q["sql"]]
    assert grouped == []
    assert BookFigures.objects.count() == 1


def test_each_take_replaces_the_last(team):
    first = figures.keep()
    second = figures.keep()
    assert list(BookFigures.objects.values_list("pk", flat=True)) == [second.pk]
    assert second.taken_at >= first.taken_at


def test_money_survives_its_stay_as_text(team, long_book):
    Account.objects.filter(owner=team["tom"]).update(arr=Decimal("1234567.89"))
    figures.keep()
    book = book_today(team["tom"])
    assert book.totals["total_arr"] == Decimal("1234567.89") * 2  # one of Tom's three is unowned
    assert isinstance(book.totals["arr_at_risk"], Decimal)
    assert all(isinstance(arr, Decimal) for _, arr in book.arr_at_risk_by_month)


def test_the_whole_book_scan_keeps_the_figures_and_a_partial_one_does_not(team):
    one = Account.objects.first()
    enqueue("csm", "health_scan", {"account_ids": [one.pk]}, trigger=AgentRun.Trigger.ADMIN, sync=True)
    assert not BookFigures.objects.exists()

    scan = enqueue("csm", "health_scan", {}, trigger=AgentRun.Trigger.SCHEDULE, sync=True)
    scan.refresh_from_db()
    kept = BookFigures.objects.get()
    assert scan.result["book_figures_taken_at"] == kept.taken_at.isoformat()
    assert kept.day.isoformat() == scan.result["scored_on"]
    assert sum(row["accounts"] for row in kept.owners) == 7
    # Scored just now by this scan: nothing counts as not scored.
    assert sum(row["not_scored"] for row in kept.owners) == 0


def test_the_index_says_its_figures_are_as_of_the_scan(client, team, long_book):
    figures.keep()
    client.force_login(team["maya"])
    page = client.get(reverse("admin:index")).content.decode()
    assert "as the daily scan left them at" in page and "data-as-of=" in page


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's estimate is PostgreSQL's")
def test_on_postgresql_the_planners_estimate_decides(team, settings):
    figures.keep()
    settings.TEND_ESTIMATED_COUNT_FROM = 1_000
    with connection.cursor() as cursor:  # statistics of this book, not of an earlier test's
        cursor.execute("ANALYZE csm_account")
    assert book_today(team["manager"]).as_of is None  # 7 accounts are counted

    Account.objects.bulk_create(Account(name=f"Big {i}", external_id=f"big-{i}") for i in range(1_500))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE csm_account")
    assert book_today(team["manager"]).as_of is not None  # the planner expects about 1,507
    assert book_today(team["maya"]).as_of is None  # hers is still 4
    settings.TEND_ESTIMATED_COUNT_FROM = 0
    assert book_today(team["manager"]).as_of is None  # 0: always count


def test_a_long_books_not_scored_are_found_again_by_id(team, long_book, make_account):
    skipped = Account.objects.filter(owner=team["maya"]).order_by("pk")[1]
    long_ago = timezone.now() - timedelta(hours=1)
    Account.objects.filter(pk=skipped.pk).update(scored_at=None, created_at=long_ago)
    scored_since = Account.objects.filter(owner=team["maya"]).order_by("pk")[2]
    Account.objects.filter(pk=scored_since.pk).update(scored_at=None, created_at=long_ago)
    figures.keep()
    Account.objects.filter(pk=scored_since.pk).update(scored_at=timezone.now())
    added = make_account(owner=team["maya"])  # after the keep, and it could not be scored
    Account.objects.filter(pk=added.pk).update(scored_at=None, created_at=long_ago)

    with CaptureQueriesContext(connection) as queries:
        book = book_today(team["maya"])
    unscored = {entry.account.pk for entry in book.attention if "unscored" in entry.kinds}
    assert unscored == {skipped.pk, added.pk}
    assert book.totals["not_scored"] == 2  # as the keep counted them
    listed = next(q["sql"] for q in queries if '"scored_at" IS NULL' in q["sql"] and "LIMIT" in q["sql"])
    assert '"csm_account"."id" IN' in listed and '"csm_account"."id" >' in listed


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's query plans")
def test_the_overdue_renewals_are_read_largest_first_off_an_index(team):
    from csm.accounts.selectors import overdue_renewals

    listed = overdue_renewals(in_book(Account.objects.all()), timezone.localdate()).order_by(
        "-arr", "renewal_date"
    )
    sql, params = listed[:25].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "csm_account_active_arr" in plan, plan


def test_an_inactive_users_book_is_empty_not_an_error(team, long_book):
    figures.keep()
    team["maya"].is_active = False
    team["maya"].save()
    book = book_today(team["maya"])
    assert book.as_of is None and book.totals["accounts"] == 0


def test_figures_that_cannot_be_kept_do_not_fail_the_scan_or_its_follow_ups(team, monkeypatch):
    from django.db import DatabaseError

    def broken(**kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(figures, "keep", broken)
    scan = enqueue("csm", "health_scan", {}, trigger=AgentRun.Trigger.SCHEDULE, sync=True)
    scan.refresh_from_db()
    assert scan.status == AgentRun.Status.SUCCEEDED
    assert scan.result["book_figures_error"] == "disk full"
    assert "check_expansion" in scan.result["followed_by"]
    assert not BookFigures.objects.exists()
