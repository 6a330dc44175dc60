"""The book in figures: what the index ("My book today") counts and sums, per owner.

Counted live for a book of ordinary size. On a very long book (the planner expects at least
TEND_ESTIMATED_COUNT_FROM accounts, the threshold past which lists are not counted either),
counting it on every view of the index would cost more than a second, while its figures change
only when accounts do, mostly in the daily scan. So every whole-book scan ends by taking them
(`keep`), and such a book's index shows those (`kept_for`), said to be as of when they were taken.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber, TruncMonth
from django.utils import timezone

from agents_core.pagination import planner_rows
from csm.accounts.models import BookFigures
from csm.accounts.selectors import AT_RISK, in_book, not_scored_q, overdue_renewal_q, weak_renewal_q
from csm.models import RAG, Account, ChurnRisk

MONEY = ("total_arr", "arr_at_risk")
# How many accounts the index lists per reason (config.book_today).
ATTENTION_LIMIT = 25
FIGURE_NAMES = (
    "accounts", *MONEY, "green", "amber", "red", "unscored", *(level.value for level in ChurnRisk),
    "not_scored", "renewals", "overdue_renewals",
)  # fmt: skip
ZERO = {name: Decimal("0") if name in MONEY else 0 for name in FIGURE_NAMES}


def _aggregates(*, today: date, now: datetime, last_scan: datetime | None) -> dict:
    return {
        "accounts": Count("id"),
        "total_arr": Sum("arr", default=Decimal("0")),
        "arr_at_risk": Sum("arr", filter=AT_RISK, default=Decimal("0")),
        "green": Count("id", filter=Q(rag=RAG.GREEN)),
        "amber": Count("id", filter=Q(rag=RAG.AMBER)),
        "red": Count("id", filter=Q(rag=RAG.RED)),
        "unscored": Count("id", filter=Q(rag="")),
        **{level.value: Count("id", filter=Q(churn_risk=level.value)) for level in ChurnRisk},
        # The same filters as the lists the index's tiles open (csm.accounts.selectors).
        "not_scored": Count("id", filter=not_scored_q(now=now, last_scan=last_scan)),
        "renewals": Count("id", filter=weak_renewal_q(today)),
        "overdue_renewals": Count("id", filter=overdue_renewal_q(today)),
    }


def at_risk_horizon(today: date) -> date:
    """The first day past the twelve renewal months the index charts (this one and eleven more)."""
    return (today.replace(day=1) + timedelta(days=366)).replace(day=1)


def count_by_owner(
    accounts: QuerySet, *, today: date, now: datetime, last_scan: datetime | None
) -> list[dict]:
    """One row per owner of the accounts (owner_id None for the unowned): FIGURE_NAMES, and
    `at_risk_by_month` ({first of month: ARR at risk renewing in it}). Two queries."""
    rows = {
        row["owner_id"]: {**row, "at_risk_by_month": {}}
        for row in accounts.values("owner_id")
        .annotate(**_aggregates(today=today, now=now, last_scan=last_scan))
        .order_by()
    }
    by_month = (
        accounts.filter(AT_RISK, renewal_date__gte=today, renewal_date__lt=at_risk_horizon(today))
        .annotate(month=TruncMonth("renewal_date"))
        .values("owner_id", "month")
        .annotate(at_risk=Sum("arr"))
        .order_by()
    )
    for row in by_month:
        month = row["month"].date() if isinstance(row["month"], datetime) else row["month"]
        rows[row["owner_id"]]["at_risk_by_month"][month] = row["at_risk"]
    return list(rows.values())


def keep(*, today: date | None = None, last_scan: datetime | None = None) -> BookFigures:
    """Take the whole book's figures, per owner, and keep them in place of the ones before.

    `last_scan` is when the scan that has just scored the book started: what was not scored
    since is counted as not scored. With them, per owner, the ATTENTION_LIMIT largest accounts
    not scored: an account is not scored because a scan skipped it (and this is taken after
    each) or because it is new (above `last_account_id`), so the index can find them again
    without reading the book (`not_scored_now`)."""
    today = today or timezone.localdate()
    taken_at = timezone.now()
    book = in_book(Account.objects.all())
    last_account_id = Account.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    owners = count_by_owner(book, today=today, now=taken_at, last_scan=last_scan)
    largest = (
        book.filter(not_scored_q(now=taken_at, last_scan=last_scan))
        .annotate(rank=Window(RowNumber(), partition_by=[F("owner_id")], order_by=[F("arr").desc(), F("pk")]))
        .filter(rank__lte=ATTENTION_LIMIT)
        .values_list("owner_id", "pk")
    )
    not_scored_ids: dict[int | None, list[int]] = {}
    for owner_id, pk in largest:
        not_scored_ids.setdefault(owner_id, []).append(pk)
    for row in owners:
        row["at_risk_by_month"] = sorted(
            [month.isoformat(), arr] for month, arr in row["at_risk_by_month"].items()
        )
        row["not_scored_ids"] = not_scored_ids.get(row["owner_id"], [])
    with transaction.atomic():  # the new figures in place of the old, or neither
        figures = BookFigures.objects.create(
            taken_at=taken_at, day=today, owners=owners, last_account_id=last_account_id
        )
        BookFigures.objects.exclude(pk=figures.pk).filter(taken_at__lte=taken_at).delete()
    return figures


def kept_for(accounts: QuerySet, user, *, whole_team: bool) -> tuple[BookFigures, list[dict]] | None:
    """The kept figures of `user`'s book (every owner's if `whole_team`), when the book is too
    long to count on each view and figures have been kept; None otherwise (count it)."""
    threshold = settings.TEND_ESTIMATED_COUNT_FROM
    if not threshold or accounts.query.is_empty():
        return None
    guess = planner_rows(accounts.only("pk"))
    if guess is None or guess < threshold:
        return None
    figures = BookFigures.objects.order_by("-taken_at", "-pk").first()
    if figures is None:
        return None
    return figures, list(_read(figures.owners, None if whole_team else user.pk))


def not_scored_now(unscored: QuerySet, figures: BookFigures, rows: list[dict]) -> QuerySet:
    """Of `unscored` (csm.accounts.selectors.not_scored), the ones the kept figures listed
    (`rows`, read by `kept_for`) and the accounts added since: all there can be, read by id."""
    listed = [pk for row in rows for pk in row["not_scored_ids"]]
    return unscored.filter(Q(pk__in=listed) | Q(pk__gt=figures.last_account_id))


def _read(owners: Iterable[dict], owner_id: int | None) -> Iterable[dict]:
    for stored in owners:
        if owner_id is not None and stored["owner_id"] != owner_id:
            continue
        row = {name: stored.get(name, ZERO[name]) for name in FIGURE_NAMES}
        row.update({name: Decimal(str(row[name])) for name in MONEY})
        row["owner_id"] = stored["owner_id"]
        row["not_scored_ids"] = stored.get("not_scored_ids", [])
        row["at_risk_by_month"] = {
            date.fromisoformat(month): Decimal(str(arr)) for month, arr in stored.get("at_risk_by_month", [])
        }
        yield row
