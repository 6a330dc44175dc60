"""One account's story, newest first: health moves, alerts, tasks, interactions, QBRs, opportunities,
CRM conflicts and the changes the CRM made, renewal outcomes and survey answers, merged from one
bounded query per kind.

A page is read with a cursor: each item has a position (when, kind, id), a page is the items
before the cursor, and the next page starts at the last item's position. So a page costs the same
queries whatever the account's history (one per kind, each reading at most a page of rows through
the account's index), and inserts while someone reads never repeat or skip an item.

Days ("health moved", "interaction on") sit at the start of their day in TIME_ZONE.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import F, Q, Window
from django.db.models.functions import Abs, Lag, RowNumber
from django.utils import timezone

from csm.crm.models import CrmChange, CrmSystem
from csm.models import QBR, ChurnAlert, CrmConflict, ExpansionOpportunity, HealthScore, RenewalOutcome, Task
from csm.surveys.models import SurveyResponse
from csm.surveys.rules import category
from csm.timeline.models import Interaction

PAGE = 30
SHARP_MOVE = 10.0  # points in a day that count as a move worth telling, besides a change of band
# New kinds go at the end: a cursor names its kind's rank.
KINDS = ("health", "alert", "task", "interaction", "qbr", "opportunity", "crm", "outcome", "survey",
         "crm_change")  # fmt: skip
RANK = {kind: n for n, kind in enumerate(KINDS)}


class BadCursor(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Position:
    at: datetime
    rank: int
    id: int

    def token(self) -> str:
        return f"{self.at.isoformat()}|{KINDS[self.rank]}|{self.id}"

    @classmethod
    def parse(cls, token: str) -> Position:
        try:
            when, kind, pk = token.split("|")
            at = datetime.fromisoformat(when)
            if at.tzinfo is None or kind not in RANK or not pk.isdigit():
                raise ValueError
            return cls(at, RANK[kind], int(pk))
        except ValueError:
            raise BadCursor("before: not a cursor this timeline gave (use the `next` of a page)") from None


@dataclass
class Item:
    position: Position
    kind: str
    title: str
    detail: str = ""
    object_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    account_id: int | None = None  # whose story it is (for many accounts read at once)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": self.position.at.isoformat(), "title": self.title,
                "detail": self.detail, "id": self.object_id, **self.extra}  # fmt: skip


@dataclass
class Page:
    items: list[Item]
    next: str | None


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _before_datetime(name: str, rank: int, cursor: Position | None) -> Q:
    """Rows of this kind placed before the cursor, for a datetime column."""
    if cursor is None:
        return Q()
    if rank < cursor.rank:
        return Q(**{f"{name}__lte": cursor.at})
    if rank > cursor.rank:
        return Q(**{f"{name}__lt": cursor.at})
    return Q(**{f"{name}__lt": cursor.at}) | Q(**{name: cursor.at, "pk__lt": cursor.id})


def _before_date(name: str, rank: int, cursor: Position | None) -> Q:
    """The same for a date column, each day at its start."""
    if cursor is None:
        return Q()
    day = timezone.localdate(cursor.at)
    at_start = _start_of(day) == cursor.at
    if not at_start:
        return Q(**{f"{name}__lte": day})
    if rank < cursor.rank:
        return Q(**{f"{name}__lte": day})
    if rank > cursor.rank:
        return Q(**{f"{name}__lt": day})
    return Q(**{f"{name}__lt": day}) | Q(**{name: day, "pk__lt": cursor.id})


@dataclass(frozen=True)
class Scope:
    """Whose items a reader reads: one account (a page of its timeline), or many at once (the QBRs'
    briefs), then only those from `since` on and at most `n` an account."""

    account_ids: tuple[int, ...]
    since: date | None = None

    @property
    def many(self) -> bool:
        return len(self.account_ids) > 1

    def rows(self, model, column: str, *, is_date: bool):
        accounts = Q(account_id__in=self.account_ids) if self.many else Q(account_id=self.account_ids[0])
        rows = model.objects.filter(accounts)
        if self.since is not None:
            rows = rows.filter(**{f"{column}__gte": self.since if is_date else _start_of(self.since)})
        return rows

    def limit(self, rows, column: str, n: int):
        """The newest `n` rows (of each account, when there are many)."""
        if not self.many:
            return rows.order_by(f"-{column}", "-pk")[:n]
        newest = Window(
            RowNumber(), partition_by=[F("account_id")], order_by=[F(column).desc(), F("pk").desc()]
        )
        return rows.annotate(newest=newest).filter(newest__lte=n).order_by("account_id", f"-{column}", "-pk")


def _health(scope: Scope, cursor: Position | None, n: int) -> list[Item]:
    """The days the health changed band or moved sharply, with that day's explanation."""
    rank = RANK["health"]
    # From the day before `since`: its first day's move is told against the day before it.
    wider = Scope(scope.account_ids, scope.since - timedelta(days=1)) if scope.since else scope
    by_account = {"partition_by": [F("account_id")]} if scope.many else {}
    scores = (
        wider.rows(HealthScore, "scored_on", is_date=True)
        .filter(_before_date("scored_on", rank, cursor))
        .annotate(
            before_rag=Window(Lag("rag"), order_by=F("scored_on").asc(), **by_account),
            before_score=Window(Lag("score"), order_by=F("scored_on").asc(), **by_account),
        )
        .annotate(moved=Abs(F("score") - F("before_score")))
        .filter(before_rag__isnull=False)
        .filter(~Q(rag=F("before_rag")) | Q(moved__gte=SHARP_MOVE))
    )
    fields = ("pk", "account_id", "scored_on", "score", "rag", "before_rag", "before_score", "explanation")
    if scope.many:  # at most a day each since the day before `since`: bounded already
        rows = scores.order_by("account_id", "-scored_on").values(*fields)
    else:
        rows = scores.order_by("-scored_on", "-pk").values(*fields)[: n + 1]
    items = []
    for r in rows:
        if scope.since and r["scored_on"] < scope.since:
            continue  # read only as the day before the first one
        if len(items) == n and not scope.many:
            break
        if r["rag"] != r["before_rag"]:
            title = f"Health {r['before_rag']} → {r['rag']}"
        else:
            way = "fell" if r["score"] < r["before_score"] else "rose"
            title = f"Health {way} {abs(r['score'] - r['before_score']):.0f} points"
        items.append(
            Item(
                Position(_start_of(r["scored_on"]), rank, r["pk"]),
                "health",
                title,
                r["explanation"] or "",
                r["pk"],
                {"score": round(r["score"], 1), "rag": r["rag"]},
                r["account_id"],
            )
        )
    return items


def _alerts(scope, cursor, n):
    """Each alert with what was done about it: acknowledged (by whom, when), or escalated."""
    rank = RANK["alert"]
    rows = scope.rows(ChurnAlert, "raised_at", is_date=False).filter(
        _before_datetime("raised_at", rank, cursor)
    )
    rows = scope.limit(rows, "raised_at", n).values(
        "account_id", "pk", "raised_at", "reason", "explanation", "acknowledged_at",
        "acknowledged_by__username", "escalated_at", "escalated_to__username", "held_back",
    )  # fmt: skip
    reasons = dict(ChurnAlert.Reason.choices)
    items = []
    for r in rows:
        if r["acknowledged_at"]:
            who = r["acknowledged_by__username"] or "someone"
            done = f"Acknowledged by {who} on {timezone.localtime(r['acknowledged_at']):%d %b %Y}."
        else:
            done = "Not acknowledged yet."
        if r["escalated_at"]:
            to = r["escalated_to__username"] or "a manager"
            done += f" Escalated to {to} on {timezone.localtime(r['escalated_at']):%d %b %Y}."
        if r["held_back"]:
            done += " Held back (over the run's cap): in the admin only."
        items.append(
            Item(
                Position(r["raised_at"], rank, r["pk"]),
                "alert",
                f"Churn alert: {reasons.get(r['reason'], r['reason'])}",
                f"{done} {r['explanation']}",
                r["pk"],
                {"acknowledged": r["acknowledged_at"] is not None},
                account_id=r["account_id"],
            )
        )
    return items


def _tasks(scope, cursor, n):
    rank = RANK["task"]
    rows = scope.rows(Task, "created_at", is_date=False).filter(_before_datetime("created_at", rank, cursor))
    rows = scope.limit(rows, "created_at", n).values(
        "account_id", "pk", "created_at", "title", "status", "due_on", "owner__username"
    )
    return [
        Item(
            Position(r["created_at"], rank, r["pk"]),
            "task",
            f"Task: {r['title']}",
            f"{r['status']}, due {r['due_on']:%d %b %Y}, {r['owner__username']}",
            r["pk"],
            {"status": r["status"]},
            account_id=r["account_id"],
        )
        for r in rows
    ]


def _interactions(scope, cursor, n):
    rank = RANK["interaction"]
    rows = scope.rows(Interaction, "occurred_on", is_date=True).filter(
        _before_date("occurred_on", rank, cursor)
    )
    rows = scope.limit(rows, "occurred_on", n).values(
        "account_id", "pk", "occurred_on", "kind", "title", "sentiment", "body"
    )
    kinds = dict(Interaction.Kind.choices)
    return [
        Item(
            Position(_start_of(r["occurred_on"]), rank, r["pk"]),
            "interaction",
            f"{kinds.get(r['kind'], r['kind'])}: {r['title']}",
            r["body"][:280],
            r["pk"],
            {"sentiment": r["sentiment"]},
            account_id=r["account_id"],
        )
        for r in rows
    ]


def _qbrs(scope, cursor, n):
    rank = RANK["qbr"]
    rows = scope.rows(QBR, "generated_at", is_date=False).filter(
        _before_datetime("generated_at", rank, cursor)
    )
    rows = scope.limit(rows, "generated_at", n).values(
        "account_id", "pk", "generated_at", "quarter", "status"
    )
    return [
        Item(
            Position(r["generated_at"], rank, r["pk"]),
            "qbr",
            f"QBR {r['quarter']}",
            r["status"],
            r["pk"],
            account_id=r["account_id"],
        )
        for r in rows
    ]


def _opportunities(scope, cursor, n):
    rank = RANK["opportunity"]
    rows = scope.rows(ExpansionOpportunity, "created_at", is_date=False).filter(
        _before_datetime("created_at", rank, cursor)
    )
    rows = scope.limit(rows, "created_at", n).values(
        "account_id", "pk", "created_at", "kind", "summary", "status", "estimated_arr_impact"
    )
    return [
        Item(
            Position(r["created_at"], rank, r["pk"]),
            "opportunity",
            f"Expansion: {r['kind']} ({r['status']})",
            r["summary"],
            r["pk"],
            {"estimated_arr_impact": str(r["estimated_arr_impact"])},
            account_id=r["account_id"],
        )
        for r in rows
    ]


def _crm(scope, cursor, n):
    rank = RANK["crm"]
    rows = scope.rows(CrmConflict, "detected_at", is_date=False).filter(
        _before_datetime("detected_at", rank, cursor)
    )
    rows = scope.limit(rows, "detected_at", n).values(
        "account_id", "pk", "detected_at", "tend_field", "crm_value", "tend_value", "status"
    )
    return [
        Item(
            Position(r["detected_at"], rank, r["pk"]),
            "crm",
            f"CRM and Tend disagree on {r['tend_field']}",
            f"CRM: {r['crm_value']}; Tend: {r['tend_value']} ({r['status']})",
            r["pk"],
            account_id=r["account_id"],
        )
        for r in rows
    ]


def _crm_changes(scope, cursor, n):
    rank = RANK["crm_change"]
    rows = scope.rows(CrmChange, "changed_at", is_date=False).filter(
        _before_datetime("changed_at", rank, cursor)
    )
    rows = scope.limit(rows, "changed_at", n).values(
        "account_id", "pk", "changed_at", "system", "tend_field", "old_value", "new_value"
    )
    systems = dict(CrmSystem.choices)
    return [
        Item(
            Position(r["changed_at"], rank, r["pk"]),
            "crm_change",
            f"{systems.get(r['system'], r['system'])} changed {r['tend_field'].replace('_', ' ')}",
            f"{r['old_value'] or '(empty)'} → {r['new_value'] or '(empty)'}",
            r["pk"],
            account_id=r["account_id"],
        )
        for r in rows
    ]


def _outcomes(scope, cursor, n):
    rank = RANK["outcome"]
    rows = scope.rows(RenewalOutcome, "renewal_date", is_date=True).filter(
        _before_date("renewal_date", rank, cursor)
    )
    rows = scope.limit(rows, "renewal_date", n).values(
        "account_id", "pk", "renewal_date", "outcome", "arr_before", "arr_after"
    )
    return [
        Item(
            Position(_start_of(r["renewal_date"]), rank, r["pk"]),
            "outcome",
            f"Renewal: {r['outcome']}",
            f"ARR {r['arr_before']} → {r['arr_after']}",
            r["pk"],
            account_id=r["account_id"],
        )
        for r in rows
    ]


def _surveys(scope, cursor, n):
    rank = RANK["survey"]
    rows = scope.rows(SurveyResponse, "responded_at", is_date=False).filter(
        _before_datetime("responded_at", rank, cursor)
    )
    rows = scope.limit(rows, "responded_at", n).values(
        "account_id", "pk", "responded_at", "kind", "score", "comment", "name", "email", "survey"
    )
    return [
        Item(
            Position(r["responded_at"], rank, r["pk"]),
            "survey",
            f"{r['kind'].upper()} {r['score']} ({category(r['kind'], r['score'])}) from "
            f"{r['name'] or r['email'] or 'someone'}",
            r["comment"][:280],
            r["pk"],
            {"score": r["score"], "survey": r["survey"], "category": category(r["kind"], r["score"])},
            account_id=r["account_id"],
        )
        for r in rows
    ]


READERS = {"health": _health, "alert": _alerts, "task": _tasks, "interaction": _interactions, "qbr": _qbrs,
           "opportunity": _opportunities, "crm": _crm, "outcome": _outcomes, "survey": _surveys,
           "crm_change": _crm_changes}  # fmt: skip


def timeline(account_id: int, *, kinds=KINDS, before: str | None = None, page: int = PAGE) -> Page:
    """A page of the account's timeline, newest first. `before` is a page's `next`."""
    cursor = Position.parse(before) if before else None
    scope = Scope((account_id,))
    streams = [READERS[kind](scope, cursor, page + 1) for kind in kinds]
    merged = heapq.merge(*streams, key=lambda item: item.position, reverse=True)
    items = [item for _, item in zip(range(page + 1), merged, strict=False)]
    more = len(items) > page
    items = items[:page]
    return Page(items, items[-1].position.token() if more and items else None)


def recent(account_ids, *, since: date, most: int) -> dict[int, list[Item]]:
    """The items since `since` of many accounts at once, newest first, at most `most` each: one
    query per kind for all of them (the QBRs' briefs, a batch at a time)."""
    ids = tuple(sorted(set(account_ids)))
    if not ids:
        return {}
    scope = Scope(ids, since)
    found: dict[int, list[Item]] = {pk: [] for pk in ids}
    for kind in KINDS:
        for item in READERS[kind](scope, None, most):
            found[item.account_id].append(item)
    return {pk: sorted(items, key=lambda i: i.position, reverse=True)[:most] for pk, items in found.items()}
