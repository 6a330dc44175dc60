"""Counting a list without counting it when it is very long: the API's pages and the admin's lists.

A `COUNT(*)` reads every row of the list on every page; on a book of a million accounts that is
most of a page's time. PostgreSQL's planner already has an estimate from its statistics: a list it
expects to hold at least TEND_ESTIMATED_COUNT_FROM rows shows that estimate instead, labelled as
one, and its pages are read as far as there are rows, whatever the estimate said. A list it
expects to hold fewer, but at least TIMED_COUNT_FROM, is counted within TEND_COUNT_BUDGET_MS: a
count that takes longer is stopped, and the estimate shown, labelled the same way.
"""

from __future__ import annotations

import json
from functools import cached_property

from django.conf import settings
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import OperationalError, connections, transaction
from django.db.models import QuerySet

# Under this many rows (the planner's guess) a list is always counted: a count that short is cheap.
TIMED_COUNT_FROM = 10_000
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement stopped by statement_timeout


def planner_rows(queryset) -> int | None:
    """PostgreSQL's estimate of the rows a queryset returns (EXPLAIN, no rows read); None elsewhere."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str | bytes):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def count_within(queryset, milliseconds: int) -> int | None:
    """The queryset's exact count if PostgreSQL finds it within `milliseconds`; None if it was
    stopped then. The time limit is this statement's alone: it is set back as it was after."""
    connection = connections[queryset.db]
    with transaction.atomic(using=queryset.db):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            before = cursor.fetchone()[0]
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{milliseconds}ms"])
        try:
            with transaction.atomic(using=queryset.db):
                return queryset.count()
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != QUERY_CANCELED:
                raise
            return None
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [before])


class _EstimatedPage(Page):
    def __init__(self, object_list, number, paginator, more: bool):
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more


class CountingPaginator(Paginator):
    """Django's paginator, except that a list the planner expects to be long (at least
    TEND_ESTIMATED_COUNT_FROM rows, PostgreSQL only) is not counted: its count is the planner's
    estimate, said so (`estimated`), and its pages are read as far as there are rows (one row more
    than a page tells whether there is a next), whatever the estimate says. So is a shorter one
    that cannot be counted within TEND_COUNT_BUDGET_MS."""

    estimated = False

    @cached_property
    def count(self) -> int:
        threshold = settings.TEND_ESTIMATED_COUNT_FROM
        if threshold and isinstance(self.object_list, QuerySet):
            guess = planner_rows(self.object_list)
            if guess is not None and guess >= threshold:
                self.estimated = True
                return guess
            budget = settings.TEND_COUNT_BUDGET_MS
            if guess is not None and guess >= TIMED_COUNT_FROM and budget:
                exact = count_within(self.object_list, budget)
                if exact is None:
                    self.estimated = True
                    return guess
                return exact
        return super().count

    def validate_number(self, number):
        if self.count and self.estimated:
            try:
                number = int(number)
            except (TypeError, ValueError):
                raise PageNotAnInteger("That page number is not an integer") from None
            if number < 1:
                raise EmptyPage("That page number is less than 1")
            return number
        return super().validate_number(number)

    def page(self, number):
        number = self.validate_number(number)
        if not self.estimated:
            return super().page(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage("That page contains no results")
        return _EstimatedPage(rows[: self.per_page], number, self, more=len(rows) > self.per_page)
